"""An HA hub's keepalived and conntrackd: rendered configs vs what runs -> steps (pure)."""

from __future__ import annotations

from .observe.ha import HARunning
from .plan import Step, StepKind
from .render.ha import HAPaths


def ha_steps(keepalived: str, conntrackd: str, script: str, seen: HARunning, paths: HAPaths) -> list[Step]:
    """conntrackd first (the notify hook of a keepalived that becomes active talks to it), then
    keepalived: reloaded in place when it runs (SIGHUP keeps the VRRP state, so no failover),
    started when it does not. Outside an HA site (empty configs), running ones are stopped."""
    steps = []
    if not keepalived:
        for program, pid in (("keepalived", seen.keepalived_pid), ("conntrackd", seen.conntrackd_pid)):
            if pid is not None:
                steps.append(Step(StepKind.HA_STOP, (program,), f"- {program}: stop (not an HA site)", "site.ha"))
        return steps
    if seen.conntrackd_conf != conntrackd or seen.conntrackd_pid is None:
        how = "restart" if seen.conntrackd_pid is not None else "start"
        steps.append(Step(StepKind.HA_CONNTRACKD, (conntrackd,),
                          f"~ conntrackd: {'write ' + paths.conntrackd_conf + ', ' if seen.conntrackd_conf != conntrackd else ''}{how}",
                          "site.ha"))
    written = seen.keepalived_conf != keepalived or seen.links_script != script
    if written or seen.keepalived_pid is None:
        how = "reload (SIGHUP)" if seen.keepalived_pid is not None else "start"
        steps.append(Step(StepKind.HA_KEEPALIVED, (keepalived, script),
                          f"~ keepalived: {'write ' + paths.keepalived_conf + ', ' if written else ''}{how}",
                          "site.ha"))
    return steps
