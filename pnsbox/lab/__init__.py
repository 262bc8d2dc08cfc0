"""Network-namespace labs built from a site config (see topology.py)."""

from .topology import LabError, exec_argv, lab_down, lab_fail, lab_heal, lab_up, list_labs, netns_name

__all__ = ["LabError", "exec_argv", "lab_down", "lab_fail", "lab_heal", "lab_up", "list_labs", "netns_name"]
