"""The only code that touches the kernel: nft, sysctl and netlink (pyroute2)."""
