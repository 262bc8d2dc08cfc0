"""pnsboxd's control API as its clients see it: typed messages and the socket client."""
