"""pnsbox: a network controller appliance for regional government intranets."""

__version__ = "0.1.0"
