"""Reading state back from the kernel: counters, for `show`, metrics and drift."""
