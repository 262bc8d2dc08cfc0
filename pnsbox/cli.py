"""The `pnsbox` command."""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import time

from .errors import EXIT_CONFIG, Unreachable, as_pnsbox_error

# typing.TYPE_CHECKING without importing typing, which nothing else on an unchanged apply
# without pnsboxd imports (~2 ms); type checkers read this name alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import Config
# Everything else is imported by the command that needs it: an unchanged `pnsbox apply` of
# 1,000 OPDs answers in a few tens of milliseconds, and pydantic alone takes a hundred to import.

DEFAULT_CONFIG = os.environ.get("PNSBOX_CONFIG", "/etc/pnsbox")
DEFAULT_STATE = os.environ.get("PNSBOX_STATE_DIR", "/var/lib/pnsbox")


def _config(args) -> Config:
    from .load import load_site
    from .validate import build

    return build(load_site(args.config))


def _netns(args) -> str | None:
    if getattr(args, "lab", None):
        from .lab.topology import netns_name

        return netns_name(args.lab, getattr(args, "peer", None) or "hub")
    return args.netns


def _hubs(args, config: Config) -> list[tuple[str | None, str | None, str]]:
    """(namespace, peer, state directory) of each hub a command acts on. An HA site in a lab:
    every hub node (pnsbox-LAB-PEER), each with a state directory of its own under --state-dir,
    unless --peer names one."""
    peer = getattr(args, "peer", None)
    ha = config.site.ha
    if ha is None or not getattr(args, "lab", None):
        return [(_netns(args), peer, args.state_dir)]
    from .lab.topology import netns_name

    names = [peer] if peer else list(ha.peers)
    return [(netns_name(args.lab, name), name, os.path.join(args.state_dir, netns_name(args.lab, name)))
            for name in names]


def _one_hub(args, config: Config) -> tuple[str | None, str | None, str]:
    hubs = _hubs(args, config)
    if len(hubs) > 1:
        from .errors import PeerError

        raise PeerError(f"site {config.site.name} is an HA pair: say which hub with --peer "
                        f"({', '.join(config.site.ha.peers)})")
    return hubs[0]


def cmd_validate(args) -> int:
    config = _config(args)
    print(f"{args.config}: ok — {len(config.opds)} OPDs, {len(config.services)} services, "
          f"{len(config.policies)} policies")
    return 0


def cmd_explain(args) -> int:
    from datetime import UTC, datetime

    from .explain import explain

    print(explain(_config(args), args.source, args.target, args.port, datetime.now(UTC)).text())
    return 0


def cmd_schema(args) -> int:
    from .model import Config

    print(json.dumps(Config.model_json_schema(by_alias=True), indent=2))
    return 0


def _artifacts(args, config: Config, fallback: bool = True):
    """What apply would load into the same place (--netns/--lab, else this box): that kernel's
    facts and the recorded class slots. --facts FILE: the kernel a file describes instead.
    Where the kernel cannot be probed (not root), a stock Debian 12 kernel, with a note."""
    from datetime import UTC, datetime

    from .classifier.catalog import load_catalog
    from .facts import STOCK_KERNEL, Facts
    from .render.site import needs_catalog, site, windows_at

    now = datetime.fromisoformat(args.at) if getattr(args, "at", None) else datetime.now(UTC)
    catalog = load_catalog() if needs_catalog(config) else None
    netns, peer, state_dir = _one_hub(args, config)
    if getattr(args, "facts", None):
        import yaml

        with open(args.facts) as handle:
            facts = Facts.from_dict(yaml.safe_load(handle) or {})
        return site(config, facts, catalog, None, windows_at(config, now), peer=peer)
    from .apply.netns import KernelError
    from .apply.pipeline import render_for

    try:
        return render_for(config, netns, state_dir, now, catalog, peer)
    except KernelError as exc:
        if not fallback or netns:
            raise
        print(f"note: {exc}; rendered for a stock Debian 12 kernel (give --facts FILE)", file=sys.stderr)
        return site(config, STOCK_KERNEL, catalog, None, windows_at(config, now), peer=peer)


def cmd_render(args) -> int:
    artifacts = _artifacts(args, _config(args))
    for text in artifacts.warnings:  # stdout is the artifact, byte for byte
        print(f"warning: {text}", file=sys.stderr)
    sys.stdout.write(getattr(artifacts, args.part))
    return 0


def cmd_check(args) -> int:
    from .apply import nft

    config = _config(args)
    for netns, peer, _ in _hubs(args, config):
        args.peer = peer
        artifacts = _artifacts(args, config, fallback=False)
        nft.check(artifacts.ruleset, netns)
        for text in artifacts.warnings:
            print(f"warning: {text}")
        print("nft -c: the kernel accepts the ruleset" + (f" ({peer})" if peer else ""))
    return 0


def cmd_plan(args) -> int:
    from .apply.pipeline import plan
    from .plan import describe

    config = _config(args)
    hubs = _hubs(args, config)
    for netns, peer, state_dir in hubs:
        if len(hubs) > 1:
            print(f"# {peer} ({netns})")
        result = plan(config, netns, state_dir, peer=peer)
        sys.stdout.write(describe(result.steps, result.warnings))
    return 0


def _actor() -> tuple[str, str, str | None]:
    """Who is asking, from where (the SSH client's address when there is one), and over
    which port of the box (what the anti-lockout check must keep open)."""
    import getpass

    who = os.environ.get("SUDO_USER") or getpass.getuser()
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    if len(ssh) == 4:
        return who, f"ssh:{ssh[0]}", f"tcp/{ssh[3]}"
    return who, "local", None


def _daemon_socket(args) -> str | None:
    """The daemon's control socket when pnsboxd runs (the CLI then goes through it)."""
    return args.socket if args.socket and os.path.exists(args.socket) else None


def _client(args):
    from .control.client import ControlClient

    return ControlClient(args.socket)


def _signed(args) -> dict:
    """Who asks, for a change sent through pnsboxd."""
    who, origin, port = _actor()
    return {"author": args.author or who, "from_": origin, "port": port}


def cmd_confirm(args) -> int:
    from .control.messages import ConfirmRequest

    if not _daemon_socket(args):
        raise Unreachable(f"pnsboxd is not running (no socket {args.socket})")
    print(f"confirmed version {_client(args).confirm(ConfirmRequest(**_signed(args))).confirmed}")
    return 0


def _local_daemon(args):
    """No pnsboxd running: the CLI does the same work in process (history, anti-lockout,
    checks with rollback, audit), just without a confirm deadline."""
    from .daemon.core import Daemon, Refused
    from .daemon.statedir import StateDirBusy, StateDirMismatch

    daemon = Daemon(args.state_dir, _netns(args), peer=getattr(args, "peer", None), metrics=False)
    daemon.memos = None  # one apply per process: nothing to remember pieces for
    # Nor anything to collect: parsing 1,000 OPDs makes ~1M objects, which ~380 automatic
    # collections walked (60-80 ms of a rate change); what they freed was ~1 MB of 82 MB.
    gc.disable()
    try:
        daemon.claim(f"pnsbox {args.command}")
    except (StateDirBusy, StateDirMismatch) as exc:
        raise Refused(str(exc)) from None
    return daemon


def _request(args):
    from .daemon.core import Request

    who, origin, port = _actor()
    return Request(args.author or who, origin, port)


def _print_applied(reply) -> None:
    """An apply's or a rollback's answer (control.messages.ApplyReply)."""
    for change in reply.changes:
        print(change)
    if reply.unchanged:
        print(f"nothing to change: the box already runs version {reply.version}" if not reply.changes
              else f"version {reply.version} re-applied: {len(reply.changes)} repair(s)")
    else:
        print(f"applied as version {reply.version}" +
              (f"; run `pnsbox confirm` within {reply.pending.deadline - time.time():.0f} s "
               "or it is rolled back" if reply.pending else ""))


def _in_process(func) -> int:
    from .control.messages import applied

    _print_applied(applied(func()))
    return 0


def _confirm_needs_the_daemon():
    return Unreachable("--confirm needs pnsboxd (it keeps the deadline); it is not running")


def _already_runs(files: dict[str, str], state_dir: str, netns: str | None) -> int | None:
    """settled.already_runs, under a shared hold of the state directory's lock (no write, no
    fsync): a directory pnsboxd owns, or one an apply is changing, takes the full path, which
    refuses or waits as usual."""
    import fcntl

    from .daemon.statedir import LOCK
    from .settled import already_runs

    try:
        handle = open(os.path.join(state_dir, LOCK), "rb")  # noqa: SIM115 - the lock lives with it
    except OSError:
        return None  # no state directory yet: a first apply
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        return already_runs(files, state_dir, netns)


def _apply_hubs(args) -> int | None:
    """An HA site applied to a lab: each hub node in turn, each as its own box (its peer name,
    namespace and state directory). None when the site is not an HA pair in a lab."""
    if not args.lab:
        return None
    config = _config(args)
    hubs = _hubs(args, config)
    if config.site.ha is None:
        return None
    from .store import site_files

    files = site_files(args.config)
    for netns, peer, state_dir in hubs:
        print(f"# {peer} ({netns})")
        hub = argparse.Namespace(**{**vars(args), "peer": peer, "state_dir": state_dir, "lab": None, "netns": netns})
        _in_process(lambda hub=hub: _local_daemon(hub).apply_files(files, _request(hub), hub.message or "apply",
                                                                   force=hub.force, where=hub.config))
    return 0


def _set_aside_at_exit() -> None:
    """An apply or a rollback ends the process: at exit, what lives is set aside (gc.freeze)
    instead of walked by the interpreter's last collection, whose only use is freeing memory the
    kernel takes back anyway (~5 ms for the CLI's own modules, ~45 ms after an in-process apply
    of 1,000 OPDs). What it leaves unfinalized holds nothing still to be written: after an apply
    it is the parsed config, and the state directory's lock file (opened to hold a lock only)."""
    import atexit

    atexit.register(gc.freeze)


def cmd_apply(args) -> int:
    _set_aside_at_exit()
    if (done := _apply_hubs(args)) is not None:
        return done
    if _daemon_socket(args):
        from .control.messages import ApplyRequest
        from .sitefiles import read_site

        # The CLI reads the files (with the caller's rights) and sends their text.
        _print_applied(_client(args).apply(ApplyRequest(
            files=read_site(args.config), where=os.path.abspath(args.config), message=args.message or "apply",
            confirm=args.confirm, force=args.force, **_signed(args))))
        return 0
    if args.confirm:
        raise _confirm_needs_the_daemon()
    from .sitefiles import read_site  # as through pnsboxd (pnsbox.store, its history, imports difflib)

    files = read_site(args.config)
    running = None if args.force else _already_runs(files, args.state_dir, _netns(args))
    if running is not None:  # decided from the files' text and the kernel's table digest alone
        print(f"nothing to change: the box already runs version {running}")
        return 0
    return _in_process(lambda: _local_daemon(args).apply_files(files, _request(args), args.message or "apply",
                                                               force=args.force, where=args.config))


def cmd_rollback(args) -> int:
    _set_aside_at_exit()
    if _daemon_socket(args):
        from .control.messages import RollbackRequest

        _print_applied(_client(args).rollback(RollbackRequest(version=args.version, confirm=args.confirm,
                                                              force=args.force, **_signed(args))))
        return 0
    if args.confirm:
        raise _confirm_needs_the_daemon()
    return _in_process(lambda: _local_daemon(args).rollback(args.version, _request(args), force=args.force))


def cmd_metrics(args) -> int:
    from prometheus_client import CollectorRegistry, generate_latest

    from .observe.metrics import PnsboxCollector

    registry = CollectorRegistry()
    registry.register(PnsboxCollector(_netns(args), args.state_dir))
    sys.stdout.write(generate_latest(registry).decode())
    return 0


def cmd_history(args) -> int:
    import datetime

    from .store import History

    for version in History(args.state_dir).versions():
        when = datetime.datetime.fromtimestamp(version.time, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        print(f"{version.id:>5}  {when}  {version.author:<12} {version.message}")
    return 0


def cmd_diff(args) -> int:
    from .store import History, diff

    history = History(args.state_dir)
    print(diff(history.get(args.a), history.get(args.b)) or f"versions {args.a} and {args.b} are the same")
    return 0


def cmd_audit(args) -> int:
    from .store import AuditLog

    log = AuditLog(args.state_dir)
    if args.verify:
        problems = log.verify()
        for problem in problems:
            print(f"audit: {problem}", file=sys.stderr)
        print(f"audit trail: {len(log.entries())} entries, " + ("INTACT" if not problems else "BROKEN"))
        return 0 if not problems else EXIT_CONFIG
    for entry in log.entries():
        hub = f"  [{entry['hub']}]" if entry.get("hub") else ""  # the HA hub that wrote it
        print(f"{entry['seq']:>5}  {entry['actor']:<12} {entry['from']:<18} {entry['action']:<10} {entry['detail']}{hub}")
    return 0


def cmd_report(args) -> int:
    """A month's evaluation per OPD from the rate series pnsboxd keeps (pnsbox.series)."""
    import csv
    from datetime import UTC, datetime
    from pathlib import Path

    from .report import compute, text
    from .series import FILE, SeriesStore, month_of

    if not (Path(args.state_dir) / FILE).is_file():
        print(f"no rate series in {args.state_dir} yet: pnsboxd records them while it runs")
        return 0
    store = SeriesStore(args.state_dir, readonly=True)
    month = args.month or month_of(datetime.now(UTC).timestamp(), store.offset)
    if not _is_month(month):
        print("error: --month is YYYY-MM", file=sys.stderr)
        return EXIT_CONFIG
    report = compute.month_report(store, month)
    if args.pdf:
        from .report import pdf

        pdf.write(report, {key: compute.hourly(store, month, key) for key in [*report["opds"], "*"]},
                  args.pdf, language=args.lang)
        print(f"wrote {args.pdf}")
    elif args.json:
        print(json.dumps(report, indent=1))
    elif args.csv:
        out = csv.writer(sys.stdout)
        out.writerow(text.CSV_HEADER)
        out.writerows(text.csv_rows(report))
    elif not report["opds"]:
        print(f"no usage recorded for {month} (months recorded: {', '.join(report['months']) or 'none yet'})")
    else:
        print(text.table(report))
    return 0


def cmd_allocate(args) -> int:
    """Next month's guarantees and ceilings from a month's series, as a diff of the site's files."""
    import difflib
    from datetime import UTC, datetime
    from pathlib import Path

    from . import allocate
    from .daemon.core import config_of
    from .model import parse_percent, parse_rate
    from .series import FILE, SeriesStore, month_of
    from .store import History, site_files

    if not (Path(args.state_dir) / FILE).is_file():
        print(f"no rate series in {args.state_dir} yet: pnsboxd records them while it runs", file=sys.stderr)
        return EXIT_CONFIG
    try:
        pipe = parse_rate(args.pipe) if args.pipe else None
        floor = parse_rate(args.floor)
        headroom = parse_percent(args.headroom) / 100 if args.headroom.strip() not in ("0", "0%") else 0.0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    store = SeriesStore(args.state_dir, readonly=True)
    month = args.month or month_of(datetime.now(UTC).timestamp(), store.offset)
    if not _is_month(month):
        print("error: --month is YYYY-MM", file=sys.stderr)
        return EXIT_CONFIG
    base = None
    if args.config:
        files, where = site_files(args.config), args.config
    else:  # what the box runs
        from .state import StateFiles

        records = StateFiles(args.state_dir)
        pending = records.pending()
        running = [v for v in (pending.version if pending else None, records.confirmed()) if v is not None]
        if not running:
            print("error: nothing runs yet: give the site with -c DIR", file=sys.stderr)
            return EXIT_CONFIG
        base = running[0]
        files, where = History(args.state_dir).get(base).files, f"version {base}"
    config = config_of(files, where)
    busy, usage = allocate.month_usage(store, month)
    if not usage:
        print(f"no usage recorded for {month}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        result = allocate.allocate(config, month, busy, usage, pipe, floor, headroom)
    except allocate.AllocationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    new = allocate.edit_files(files, result)
    config_of(new, where)  # the proposal must be a valid site (a ConfigError says where it is not)
    budgets = ", ".join(f"{d} {allocate.mbit(b)} Mbit/s" for d, b in result.budget.items())
    print(f"# allocation from {month}: busy hours {allocate.hours_text(busy)} on weekdays; guarantees add up "
          f"to the pipe less {args.headroom} headroom ({budgets}); floor {args.floor}")
    for p in result.proposals:
        print(f"# {p.opd}: {p.why}")
    for key in result.missing:
        print(f"# {key}: in the month's series but not in the site (renamed or removed): left out")
    for name in sorted(new):
        sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
            files[name].splitlines(), new[name].splitlines(), f"a/{name}", f"b/{name}", lineterm=""))
    if args.draft:
        from webui.drafts import Draft, DraftStore

        notes = [f"allocation from {month}: {p.opd} {p.why}" for p in result.proposals]
        DraftStore(Path(args.web_state_dir) / "drafts").save(args.user, Draft(base=base, files=new, notes=notes))
        print(f"# saved as {args.user}'s draft in the web UI: review it under Changes, apply with a confirm")
    return 0


def _is_month(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text))


def _human_bytes(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def cmd_show(args) -> int:
    from .observe.counters import read

    counters = read(_netns(args))
    if counters is None:
        print("no pnsbox table is loaded: this box is not firewalled by pnsbox")
        return 1
    print(f"table inet pnsbox: ruleset {counters.digest or 'unknown'}, {counters.rule_count} rules")
    if counters.opds:
        print(f"\n{'OPD':<16}{'name':<40}{'upload (tx)':>24}{'download (rx)':>24}")
        for key, opd in sorted(counters.opds.items()):
            tx, rx = opd["tx"], opd["rx"]
            print(f"{key:<16}{opd['name'][:39]:<40}"
                  f"{_human_bytes(tx.bytes) + f' / {tx.packets} pkt':>24}"
                  f"{_human_bytes(rx.bytes) + f' / {rx.packets} pkt':>24}")
    print(f"\n{'rule (policy)':<48}{'packets':>12}{'bytes':>14}")
    for name, count in counters.rules.items():
        print(f"{name[:47]:<48}{count.packets:>12}{_human_bytes(count.bytes):>14}")
    if counters.categories:
        busiest = sorted(((c.bytes, name) for name, c in counters.categories.items() if c.packets), reverse=True)
        print(f"\n{'classified traffic by category':<48}{'packets':>12}{'bytes':>14}")
        for _, name in busiest[:10]:
            count = counters.categories[name]
            print(f"{name:<48}{count.packets:>12}{_human_bytes(count.bytes):>14}")
    _show_shaping(_netns(args), args.state_dir)
    from .observe import edges

    for line in edges.lines(_netns(args), args.state_dir):
        print(line)
    return 0


def _show_shaping(netns: str | None, state_dir: str) -> None:
    from .apply.owned import OwnedRecord
    from .model import format_rate
    from .observe import tc

    record = OwnedRecord(state_dir, netns).read()
    labels = record.labels
    leaf = (record.facts or {}).get("leaf_qdiscs", ["?"])
    trees, _ = tc.observe(netns)
    for device, tree in trees.items():
        if not tree.classes:
            print(f"\nshaping on {device}: none")
            continue
        kinds = sorted(set(tree.leaf_kinds.values()))
        print(f"\nshaping on {device} (leaf queues: {', '.join(kinds)}; kernel offers {', '.join(leaf)})")
        print(f"{'class':<8}{'what':<24}{'rate':>10}{'ceil':>10}{'now':>10}{'bytes':>12}{'drops':>8}{'borrowed':>10}")
        for minor in sorted(tree.classes):
            c = tree.classes[minor]
            label = labels.get(f"1:{minor:x}", "?")
            print(f"1:{minor:<6x}{label[:23]:<24}{format_rate(c.rate):>10}{format_rate(c.ceil):>10}{format_rate(c.rate_now):>10}"
                  f"{_human_bytes(c.bytes):>12}{c.drops:>8}{c.borrowed:>10}")
        if tree.leaf_stats:  # the leaf queues' own counters: what fq_codel or cake dropped, what waits
            print(f"{'leaf queue':<11}{'class':<8}{'packets':>12}{'bytes':>12}{'dropped':>9}{'backlog':>10}")
            for minor, queue in sorted(tree.leaf_stats.items()):  # not `leaf`: the next device's header uses it
                print(f"{queue.kind:<11}{f'1:{minor:x}':<8}{queue.packets:>12}{_human_bytes(queue.bytes):>12}"
                      f"{queue.drops:>9}{_human_bytes(queue.backlog):>10}")


def cmd_lab(args) -> int:
    from .lab import topology

    if args.lab_command == "up":
        config = _config(args)
        for note in topology.lab_up(config, args.name):
            print(f"note: {note}")
        print(f"lab {args.name} is up; nodes: {', '.join(topology.list_labs().get(args.name, []))}")
        hubs = topology.hub_nodes(config)
        tunnelled = any(opd.link.is_wireguard for opd in config.opds.values())
        if tunnelled and not args.no_edges and len(hubs) > 1:  # a pair: both hubs' pnsboxd, edges at the active
            from .lab.edges import bring_up_pair

            try:
                lines = bring_up_pair(config, args.config, args.name, _actor()[0])
            except BaseException:
                topology.lab_down(args.name)
                raise
            print("\n".join(lines))
            return 0
        if args.no_edges or not tunnelled or len(hubs) != 1:  # the edges enrol with one hub's pnsboxd
            if len(hubs) == 1:
                print(f"apply the config in it with: pnsbox apply -c {args.config} --netns "
                      f"{topology.netns_name(args.name, hubs[0])}")
            else:
                print(f"apply the config to both hubs ({', '.join(hubs)}) with: "
                      f"pnsbox apply -c {args.config} --lab {args.name}")
            return 0
        from .lab.edges import bring_up

        # Edges enrol only with a hub that runs the site: its pnsboxd applies it, then each edge enrols.
        try:
            lines, reply = bring_up(config, args.config, args.name, args.state_dir, args.socket, _actor()[0])
        except BaseException:
            topology.lab_down(args.name)
            raise
        _print_applied(reply)
        for line in lines:
            print(line)
    elif args.lab_command in ("fail", "heal"):
        act = topology.lab_fail if args.lab_command == "fail" else topology.lab_heal
        names = act(args.name, args.node)
        state = "down" if args.lab_command == "fail" else "up"
        print(f"{args.node}: {', '.join(names) or 'no interfaces'} {state}")
    elif args.lab_command == "edges":
        from .lab.edges import enrol_edges

        for line in enrol_edges(_config(args), args.name, args.socket, args.state_root or f"/run/pnsbox-lab/{args.name}"):
            print(line)
    elif args.lab_command == "down":
        topology.lab_down(args.name)
        print(f"lab {args.name} is down")
    elif args.lab_command == "list":
        for lab, nodes in sorted(topology.list_labs().items()):
            print(f"{lab}: {' '.join(nodes)}")
    elif args.lab_command == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            raise SystemExit("pnsbox lab exec: give a command after the node, e.g. -- ping 10.0.10.10")
        os.execvp("ip", topology.exec_argv(args.name, args.node, argv))
    return 0


def cmd_ha(args) -> int:
    if args.ha_command == "notify":
        from .apply.ha_notify import log, notify

        problems = notify(args.role, args.run_dir, args.conntrackd_conf, args.peer)
        log(args.role, problems, args.log)
        for problem in problems:
            print(f"pnsbox ha notify {args.role}: {problem}", file=sys.stderr)
        return 0  # keepalived goes on whatever conntrackd said
    from . import ha_sync_cli

    if args.ha_command != "status":
        return args.ha_sync(args)  # pair-key, resolve
    if ha_sync_cli.daemon_runs(args) and not (args.lab or args.netns):
        return ha_sync_cli.status(args)  # pnsboxd's view: the role as below, and the pair's replication
    from datetime import UTC, datetime

    from .observe.ha import hub_status, hubs_of

    hubs = hubs_of(args.lab, args.netns)
    if not hubs:
        print(f"lab {args.lab}: no HA hub runs keepalived here", file=sys.stderr)
        return 1
    for netns in hubs:
        state_dir = os.path.join(args.state_dir, netns) if args.lab else args.state_dir
        hub = hub_status(netns, state_dir)
        since = datetime.fromtimestamp(hub["since"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if hub["since"] else "-"
        held = {True: "holds the virtual addresses", False: "holds no virtual address",
                None: "virtual addresses: some or unknown"}[hub["holds_addresses"]]
        print(f"{hub['peer'] or netns or 'this box'}: {hub['role']} since {since}, {hub['transitions']} transition(s), "
              f"{held}, version {hub['version'] if hub['version'] is not None else '-'}"
              + (f" ({netns})" if netns else ""))
    return ha_sync_cli.status(args) if ha_sync_cli.daemon_runs(args) else 0


def cmd_user(args) -> int:
    """The web UI's accounts: the logic lives with the web UI."""
    from webui.user_cli import run

    return run(args)


# --- the command line ---------------------------------------------------------------
# Each subcommand's arguments are added by a function of its own, and `parser(command)` adds
# only the named command's: argparse formats every argument's help as it is added, and
# building all of them (with the imports of user, edge and ha) took ~10 ms of every command.


def _config_option(p) -> None:
    p.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"site directory or file (default {DEFAULT_CONFIG})")


def _kernel_options(p) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--netns", help="inside this network namespace (default: the box itself)")
    where.add_argument("--lab", help="the hub of this lab (same as --netns pnsbox-LAB-hub); of an HA "
                                     "site: both hubs, pnsbox-LAB-PEER, each with its own state "
                                     "directory under --state-dir")
    p.add_argument("--state-dir", default=DEFAULT_STATE, help="where pnsbox keeps its state")
    p.add_argument("--peer", default=os.environ.get("PNSBOX_HA_PEER") or None,
                   help="which hub of an HA pair this is (a name of site.ha.peers; env PNSBOX_HA_PEER)")


def _state_option(p) -> None:
    p.add_argument("--state-dir", default=DEFAULT_STATE, help="where pnsbox keeps its state")


def _socket_option(p) -> None:
    p.add_argument("--socket", default=os.environ.get("PNSBOX_SOCKET", "/run/pnsbox/control.sock"),
                   help="pnsboxd's control socket")


def _command(func, config=True, kernel=False, then=None):
    """The arguments of a plain command: -c (config), where it acts (kernel), then its own."""
    def build(p):
        if config:
            _config_option(p)
        if kernel:
            _kernel_options(p)
        if then:
            then(p)
        p.set_defaults(func=func)
    return build


def _explain_arguments(p) -> None:
    p.add_argument("source", metavar="FROM")
    p.add_argument("target", metavar="TO")
    p.add_argument("port", metavar="PORT", nargs="?", help="tcp/443, udp/53, or icmp")


def _render_arguments(p) -> None:
    p.add_argument("--part", choices=["nft", "tc", "links", "iptables", "keepalived",
                                      "keepalived_script", "conntrackd"],
                   default="nft",
                   help="nft: the ruleset; tc: the tc -batch of a fresh box; links: links, "
                        "addresses and routes; iptables: the classifier's queue chain where "
                        "nft has no queue statement; keepalived, conntrackd: an HA hub's configs "
                        "(with --peer)")
    p.add_argument("--facts", metavar="FILE",
                   help="render for the kernel this file describes (YAML: leaf_qdiscs, nft_queue, "
                        "vlan), with fresh slots, instead of this box's or --netns's")
    p.add_argument("--at", metavar="TIME", help="ISO time with zone, for time-of-day rates "
                                                "(default now)")


def _apply_arguments(p) -> None:
    p.add_argument("--force", action="store_true",
                   help="apply even if it cuts your management access; observe everything and "
                        "repair what differs, even if nothing changed")
    p.add_argument("-m", "--message", help="why: kept with the version in the history")
    p.add_argument("--author", help="who (default: the user running pnsbox)")
    p.add_argument("--confirm", type=float, metavar="SECONDS",
                   help="roll back unless `pnsbox confirm` arrives in time (through pnsboxd)")
    _socket_option(p)


def _confirm_arguments(p) -> None:
    p.add_argument("--author", help="who (default: the user running pnsbox)")
    _socket_option(p)


def _history_arguments(p) -> None:
    _state_option(p)


def _diff_arguments(p) -> None:
    p.add_argument("a", type=int)
    p.add_argument("b", type=int)
    _state_option(p)


def _rollback_arguments(p) -> None:
    p.add_argument("version", type=int)
    p.add_argument("--author", help="who (default: the user running pnsbox)")
    p.add_argument("--confirm", type=float, metavar="SECONDS",
                   help="go back again unless `pnsbox confirm` arrives in time (through pnsboxd)")
    p.add_argument("--force", action="store_true", help="even if it cuts your management access")
    _socket_option(p)


def _audit_arguments(p) -> None:
    p.add_argument("verify", nargs="?", choices=["verify"], help="check the chain")
    _state_option(p)


def _report_arguments(p) -> None:
    p.add_argument("--month", help="YYYY-MM (default: this month)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--csv", action="store_true", help="comma-separated, for a spreadsheet")
    form.add_argument("--json", action="store_true", help="every number, as JSON")
    form.add_argument("--pdf", metavar="FILE", help="the printable report with charts")
    p.add_argument("--lang", choices=["id", "en"], default="id",
                   help="the PDF's language (default id: Bahasa Indonesia)")
    _state_option(p)


def _allocate_arguments(p) -> None:
    p.add_argument("-c", "--config", help="the site's directory (default: the version the box runs)")
    p.add_argument("--month", help="YYYY-MM (default: this month)")
    p.add_argument("--pipe", help="the pipe to divide (default: the site's uplink bandwidth)")
    p.add_argument("--floor", default="5mbit", help="no OPD's guarantee is lower (default 5mbit)")
    p.add_argument("--headroom", default="20%",
                   help="kept out of the guarantees, and added to peaks for ceilings (default 20%%)")
    p.add_argument("--draft", action="store_true",
                   help="save it as a draft in the web UI, for an admin to review and apply")
    p.add_argument("--user", default="admin", help="whose draft (default admin)")
    p.add_argument("--web-state-dir", default=os.environ.get("PNSBOX_WEB_STATE_DIR", "/var/lib/pnsbox-web"))
    _state_option(p)


def _user_command(p) -> None:
    from webui.user_cli import add_arguments

    add_arguments(p).set_defaults(func=cmd_user)


def _edge_command(p) -> None:
    from .edge import cli as edge_cli

    edge_cli.add_arguments(p, DEFAULT_CONFIG, DEFAULT_STATE).set_defaults(func=edge_cli.run)


def _ha_command(ha) -> None:
    from . import ha_sync_cli

    ha_sub = ha.add_subparsers(dest="ha_command", required=True)
    status = ha_sub.add_parser("status", help="each hub's role (active, standby, fault), peer and version")
    status_where = status.add_mutually_exclusive_group()
    status_where.add_argument("--netns", help="the hub in this network namespace (default: this box)")
    status_where.add_argument("--lab", help="every hub of this lab")
    status.add_argument("--state-dir", default=DEFAULT_STATE, help="where pnsbox keeps its state (for the version)")
    ha_sync_cli.add_status_arguments(status)
    notify = ha_sub.add_parser("notify", help="keepalived's notify hook: record the role, tell conntrackd")
    notify.add_argument("role", choices=["active", "standby", "fault"])
    notify.add_argument("--run-dir", required=True, help="the hub's HA run directory (role.json)")
    notify.add_argument("--conntrackd-conf", required=True)
    notify.add_argument("--peer", help="this hub's name")
    notify.add_argument("--log", help="append what the hook did to this file (default: syslog)")
    ha_sync_cli.add_arguments(ha_sub, DEFAULT_STATE)
    ha.set_defaults(func=cmd_ha)


def _lab_command(lab) -> None:
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    for name, help_text in (("up", "build the lab"), ("down", "remove the lab"),
                            ("list", "list labs"), ("exec", "run a command in a lab node"),
                            ("fail", "cut every link of a node (a dead box): all its interfaces but lo down"),
                            ("heal", "restore every link of a node failed with `lab fail`"),
                            ("edges", "enrol the lab's edges with the hub's pnsboxd and start them")):
        p = lab_sub.add_parser(name, help=help_text)
        p.add_argument("--name", default="demo", help="lab name (default demo)")
        if name in ("up", "edges"):
            p.add_argument("-c", "--config", default=DEFAULT_CONFIG)
        if name == "up":
            p.add_argument("--state-dir", help="for a site with tunnelled OPDs: the state directory of the lab's "
                                               "pnsboxd (default /run/pnsbox-lab/NAME/state)")
            p.add_argument("--socket", help="for a site with tunnelled OPDs: the lab's pnsboxd's control socket "
                                            "(default /run/pnsbox-lab/NAME/control.sock; one answering there is used)")
            p.add_argument("--no-edges", action="store_true",
                           help="only build the lab: no pnsboxd, no apply, no edges enrolled")
        if name == "edges":
            p.add_argument("--socket", default=os.environ.get("PNSBOX_SOCKET", "/run/pnsbox/control.sock"),
                           help="the control socket of the pnsboxd managing the lab's hub")
            p.add_argument("--state-root", help="where the edges keep their state (default /run/pnsbox-lab/NAME)")
        if name in ("exec", "fail", "heal"):
            p.add_argument("node")
        if name == "exec":
            p.add_argument("argv", nargs=argparse.REMAINDER)
    lab.set_defaults(func=cmd_lab)


_STATE_ONLY = {"config": False, "kernel": False}
# (name, help, what adds its arguments), in the order `pnsbox --help` lists them
COMMANDS = (
    ("validate", "check a config; print every problem", _command(cmd_validate)),
    ("explain", "which policy decides FROM -> TO [PORT], and which class shapes it",
     _command(cmd_explain, then=_explain_arguments)),
    ("schema", "print the JSON Schema of the config", _command(cmd_schema, config=False)),
    ("render", "print what apply loads: the nftables ruleset (or --part)",
     _command(cmd_render, kernel=True, then=_render_arguments)),
    ("check", "have the kernel check the ruleset (nft -c)", _command(cmd_check, kernel=True)),
    ("plan", "show what an apply would change", _command(cmd_plan, kernel=True)),
    ("apply", "make the box run a config", _command(cmd_apply, kernel=True, then=_apply_arguments)),
    ("confirm", "keep the change applied with --confirm", _command(cmd_confirm, config=False, then=_confirm_arguments)),
    ("history", "list the applied versions", _command(cmd_history, **_STATE_ONLY, then=_history_arguments)),
    ("diff", "show what changed between two versions", _command(cmd_diff, **_STATE_ONLY, then=_diff_arguments)),
    ("rollback", "apply an earlier version again",
     _command(cmd_rollback, config=False, kernel=True, then=_rollback_arguments)),
    ("audit", "the audit trail; `audit verify` checks its hash chain",
     _command(cmd_audit, **_STATE_ONLY, then=_audit_arguments)),
    ("report", "a month's evaluation per OPD: bytes, average, p95 and peak rates, when, time near the ceiling, "
               "drops (for auditors)", _command(cmd_report, **_STATE_ONLY, then=_report_arguments)),
    ("allocate", "propose next month's guarantees and ceilings from a month's data, as a diff of the site's files",
     _command(cmd_allocate, config=False, then=_allocate_arguments)),
    ("metrics", "print the Prometheus metrics once", _command(cmd_metrics, config=False, kernel=True)),
    ("show", "show what runs, with per-OPD counters", _command(cmd_show, config=False, kernel=True)),
    ("user", "web UI accounts: add, passwd, del, list", _user_command),
    ("edge", "edge boxes: enrollment tokens, the list of edges", _edge_command),
    ("ha", "an HA pair of hubs: the role of each, keepalived's notify hook, the pair key, replication and ending "
           "a split brain", _ha_command),
    ("lab", "network-namespace lab built from a config", _lab_command),
)


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """`pnsbox`'s arguments: every command (for `pnsbox --help` and a wrong command's error), or
    with `command` only that one, which is all its parse needs. Its usage line still names every
    command, spelled as argparse spells their choices."""
    top = argparse.ArgumentParser(prog="pnsbox", description="pnsbox network controller")
    if command is None:
        sub = top.add_subparsers(dest="command", required=True)
    else:
        sub = top.add_subparsers(dest="command", required=True,
                                 metavar="{" + ",".join(name for name, _, _ in COMMANDS) + "}")
    for name, help_text, build in COMMANDS:
        if command in (None, name):
            build(sub.add_parser(name, help=help_text))
    return top


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line, parsed with the parser of the command it names (anything else, such
    as --help or a typo, with every command's)."""
    named = argv[0] if argv and any(argv[0] == name for name, _, _ in COMMANDS) else None
    return parser(named).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `pnsbox show | head` ends quietly
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001  pnsbox's own errors: their message and exit code, never a traceback
        error = as_pnsbox_error(exc)
        if error is None:
            raise
        for line in error.lines():
            print(line, file=sys.stderr)
        return error.exit_code

if __name__ == "__main__":
    sys.exit(main())
