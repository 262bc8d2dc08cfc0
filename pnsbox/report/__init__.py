"""The monthly evaluation: per OPD and direction what was used and when, from the rate series
(pnsbox.series). `compute` makes the numbers; `text`, `pdf` and the web UI show them."""
