"""pnsboxd: owns the running config; commit-confirm, drift repair, schedule switches."""
