"""Edge boxes: keys, enrollment tokens and the hub's record of enrolled edges."""
