"""Names of table objects that both the render and the kernel readers (observe) use.

A module of plain names, so that reading the kernel back (the CLI's unchanged-apply answer
among them) does not import the catalog, the model and pydantic just to know them."""

OPD_NUMBER_MAP = "opd_number"
OPD_CATEGORY_SETS = {"tx": "opd_category_tx", "rx": "opd_category_rx"}
