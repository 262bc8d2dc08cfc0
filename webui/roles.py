"""Who may see and change what. Every view and API call asks here; hidden buttons are only a courtesy.

admin    everything
operator the OPDs named in the account: their usage, their policies, their bandwidth plans
auditor  reads everything (history, audit log included), changes nothing
"""

from __future__ import annotations

from pnsbox import errors
from pnsbox.load import check_site_files
from pnsbox.model import Config, Opd, Policy

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


def visible_opds(user: User, site: Site) -> dict[str, Opd]:
    return {name: opd for name, opd in site.opds.items() if can_see_opd(user, name)}


def can_see_policy(user: User, policy: Policy) -> bool:
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
    # Two validated configs, compared item by item: what counts as a change is what the model
    # sees (`to: simpeg` and `to: [simpeg]` are the same), not how the YAML is spelled.
    old, new = parse(old_files).config, parse(new_files).config
    for key, field in Config.model_fields.items():
        if key != "opds" and getattr(old, key) != getattr(new, key):
            raise Forbidden(f"operators cannot change `{field.alias or key}`")
    if set(old.opds) != set(new.opds):
        raise Forbidden("operators cannot add or remove OPDs")
    for name, before in old.opds.items():
        after = new.opds[name]
        if before == after:
            continue
        if name not in user.opds:
            raise Forbidden(f"OPD {name} is not yours")
        for key, field in Opd.model_fields.items():
            if key != "bandwidth" and getattr(before, key) != getattr(after, key):
                raise Forbidden(f"operators change only bandwidth plans, not `opds.{name}.{field.alias or key}`")
