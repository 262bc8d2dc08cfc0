"""Who may see and change what. Every view and API call asks here; hidden buttons are only a courtesy.

admin    everything
operator the OPDs named in the account: their usage, their policies, their bandwidth plans
auditor  reads everything (history, audit log included), changes nothing
"""

from __future__ import annotations

from pnsbox import errors
from pnsbox.load import check_site_files

from .accounts import User
from .site import Site, parse, zones_of

Forbidden = errors.Forbidden  # what every refusal here raises


def can_change(user: User) -> bool:
    return user.role in ("admin", "operator")


def can_read_history(user: User) -> bool:
    """History and audit hold the whole config and every OPD: not for operators."""
    return user.role in ("admin", "auditor")


def can_see_opd(user: User, opd: str) -> bool:
    return user.role != "operator" or opd in user.opds


def visible_opds(user: User, site: Site) -> dict[str, dict]:
    return {name: opd for name, opd in site.opds.items() if can_see_opd(user, name)}


def can_see_policy(user: User, policy: dict) -> bool:
    """Operators see the policies that name one of their OPDs or every OPD (`opds`)."""
    return user.role != "operator" or bool(zones_of(policy) & ({"opds"} | set(user.opds)))


def may_explain(user: User, site: Site, source: str, target: str) -> bool:
    """Operators ask about their own OPDs' traffic: one end theirs, the other a zone they may see.
    A zone that does not exist is answered like one they may not see (no list of the province's)."""
    if user.role != "operator":
        return True
    seen = {*user.opds, *site.services, "internet", "box"}
    return source in seen and target in seen and bool({source, target} & set(user.opds))


def require(allowed: bool, why: str) -> None:
    if not allowed:
        raise Forbidden(why)


def check_change_scope(user: User, old_files: dict[str, str], new_files: dict[str, str]) -> None:
    """Operators may change only the bandwidth plans of their own OPDs; admins anything; auditors nothing."""
    require(can_change(user), "auditors cannot change the configuration")
    try:
        check_site_files(new_files)  # the names the daemon will read, and no others
    except ValueError as exc:
        raise Forbidden(str(exc)) from None
    if user.role == "admin":
        return
    old, new = parse(old_files).data, parse(new_files).data
    for section in set(old) | set(new):
        if section != "opds" and old.get(section) != new.get(section):
            raise Forbidden(f"operators cannot change `{section}`")
    old_opds, new_opds = old.get("opds", {}), new.get("opds", {})
    if set(old_opds) != set(new_opds):
        raise Forbidden("operators cannot add or remove OPDs")
    for name in old_opds:
        before, after = old_opds[name] or {}, new_opds[name] or {}
        if before == after:
            continue
        if name not in user.opds:
            raise Forbidden(f"OPD {name} is not yours")
        for key in set(before) | set(after):
            if key != "bandwidth" and before.get(key) != after.get(key):
                raise Forbidden(f"operators change only bandwidth plans, not `opds.{name}.{key}`")
