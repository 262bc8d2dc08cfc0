"""Pure render functions: model (+ facts) -> text artifacts. No I/O."""
