"""What pnsbox says, as codes and arguments worded from one catalog per language (pnsbox.wording):
every code the code base can say is in every catalog, the English of a code is byte for byte what
the CLI prints, and Indonesian readers get every problem, plan step, audit detail and explain line
in Bahasa Indonesia with names, rates, FILE:LINE and YAML paths as they were."""

from __future__ import annotations

import ast
import importlib.util
import string
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pnsbox.control import messages as m
from pnsbox.errors import ConfigError
from pnsbox.explain import explain
from pnsbox.load import load_site
from pnsbox.store import AuditLog
from pnsbox.validate import build
from pnsbox.wording import LANGUAGES, audit_said_ok, catalog, render, say, words

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
EXAMPLE = ROOT / "rules" / "examples" / "province"
MONDAY_NOON_WIB = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _module_dicts(tree: ast.Module) -> dict[str, ast.Dict]:
    return {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict) for target in node.targets if isinstance(target, ast.Name)}


def _codes_of(node, dicts: dict, where: str) -> set[str]:
    """The codes a `say(...)` first argument can be: a literal, either side of `a if c else b`, or
    a value of a module-level table of literals. Anything else cannot be enumerated: refused."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _codes_of(node.body, dicts, where) | _codes_of(node.orelse, dicts, where)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in dicts:
        return set().union(*(_codes_of(v, dicts, where) for v in dicts[node.value.id].values))
    raise AssertionError(f"{where}: say() with a code that cannot be enumerated; use a literal or a table of them")


def codes_in_code_base() -> dict[str, tuple[str, set[str]]]:
    """Every code pnsbox and the web UI can say -> (where it is said first, the arguments given)."""
    found: dict[str, tuple[str, set[str]]] = {}
    for path in sorted([*ROOT.glob("pnsbox/**/*.py"), *ROOT.glob("webui/**/*.py")]):
        if "node_modules" in path.parts or path.parent.name == "wording":
            continue
        tree = ast.parse(path.read_text())
        dicts = _module_dicts(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "say":
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                given = {k.arg for k in node.keywords}
                for code in _codes_of(node.args[0], dicts, where):
                    found.setdefault(code, (where, set()))[1].update(given)
    return found


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_code_the_code_base_can_say_is_worded_in_every_language():
    said = codes_in_code_base()
    assert len(said) > 200  # problems, plan steps, audit details, explain lines: not a handful
    for lang in LANGUAGES:
        missing = {code: where for code, where in said.items() if code not in catalog(lang)}
        assert not missing, f"{lang} lacks {missing}"
        unused = {code for code in catalog(lang) if not code.startswith("audit.kind.")} - set(said)
        assert not unused, f"{lang} words codes nothing says: {sorted(unused)}"


def _literal_kinds(node) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _literal_kinds(node.body) | _literal_kinds(node.orelse)
    if ast.unparse(node) == "event.action":  # pnsboxd's relay of the web UI's events: one of AUDITED_EVENTS
        return set()
    raise AssertionError(f"line {node.lineno}: an audit event kind that cannot be enumerated")


def audit_kinds_in_code_base() -> set[str]:
    """Every kind of event the audit trail can record: AuditLog.append's, the web UI's audit()."""
    kinds = set()
    for path in sorted([*ROOT.glob("pnsbox/**/*.py"), *ROOT.glob("webui/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            owner = getattr(func.value, "attr", getattr(func.value, "id", "")) if isinstance(func, ast.Attribute) else ""
            name = func.id if isinstance(func, ast.Name) else f"{owner}.{func.attr}" if owner else ""
            if name in ("audit.append", "audit"):  # AuditLog.append(KIND, ...), the web UI's audit(KIND, ...)
                kinds |= _literal_kinds(node.args[0])
            elif name == "_audit":  # pnsbox-web user's _audit(args, KIND, ...)
                kinds |= _literal_kinds(node.args[1])
    from pnsbox.daemon.api import AUDITED_EVENTS

    return kinds | AUDITED_EVENTS


def test_every_kind_of_audit_event_is_named_in_every_language():
    kinds = audit_kinds_in_code_base()
    assert {"apply", "rollback", "confirm", "login", "edge-enroll", "drift-repair"} <= kinds
    for lang in LANGUAGES:
        named = {code.removeprefix("audit.kind.") for code in catalog(lang) if code.startswith("audit.kind.")}
        assert named == kinds, (lang, named ^ kinds)


def test_each_language_words_only_the_arguments_the_code_base_gives_and_knows_every_word():
    for code, (where, given) in codes_in_code_base().items():
        for lang in LANGUAGES:
            assert _fields(catalog(lang)[code]) <= given, (lang, code, where)
    for lang in LANGUAGES:
        assert set(words("en")) <= set(words(lang)), lang


def _validate_problems():
    cases = sorted(GOLDEN.glob("[0-9][0-9]-validate-*"))
    assert cases
    problems = []
    for case in cases:
        with pytest.raises(ConfigError) as refused:
            build(load_site(case / "site"))
        problems += refused.value.problems
    return problems


def test_every_golden_problem_carries_its_code_and_reads_the_same_in_english():
    problems = _validate_problems()
    assert len(problems) > 50
    for problem in problems:
        assert problem.said, problem  # no message is said without its code
        assert render(problem.said, "en") == problem.message  # the CLI's English, byte for byte


def test_every_golden_problem_reads_in_indonesian_with_paths_and_values_kept():
    for problem in _validate_problems():
        indonesian = render(problem.said, "id")
        assert indonesian and "{" not in indonesian.replace("{}", ""), problem
        if problem.message not in ("site.opd_limit",):
            assert indonesian != problem.message, problem  # nothing left in English
    by_path = {p.path: render(p.said, "id") for p in _validate_problems()}
    assert by_path["site.uplink.bandwidth"] == "'100m' bukan laju: tulis angka dan bit, kbit, mbit atau gbit"
    assert by_path["opds.setda.bandwidth.classes.egov.ceiling"] == (
        "batas atas kelas 90mbit melebihi batas atas unduh OPD 60mbit")


def test_problems_keep_their_code_across_the_control_socket():
    with pytest.raises(ConfigError) as refused:
        build(load_site(GOLDEN / "43-validate-bandwidth" / "site"))
    back = ConfigError.from_reply(refused.value.reply())
    assert [p.said for p in back.problems] == [p.said for p in refused.value.problems]
    assert all(p.said for p in back.problems)


def test_plan_steps_read_in_indonesian_and_the_same_in_english():
    spec = importlib.util.spec_from_file_location("golden", GOLDEN / "golden.py")
    golden = sys.modules.setdefault("golden", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(golden)
    case = golden.Case(GOLDEN / "25-plan-fresh-box")
    steps = case.plan_steps()
    assert steps
    for step in steps:
        said = step.text.as_json()
        assert render(said, "en") == step.text
        assert render(said, "id") != step.text
    wire = m.PlanStep(steps[1].kind, steps[1].text, steps[1].origin, steps[1].text.as_json())
    assert render(m.parse(m.PlanStep, m.to_json(wire)).said, "id") == "+ tautan pnsbox-dl: IFB untuk pembentukan unduh"


def _answer(source, target, port) -> m.ExplainReply:
    answer = explain(build(load_site(EXAMPLE)), source, target, port, MONDAY_NOON_WIB)
    wire = m.to_json(m.ExplainReply(answer.action, answer.policy, answer.shaping, answer.text(), answer.said()))
    return m.parse(m.ExplainReply, wire)


def _lines(answer: m.ExplainReply, lang: str, overrides=None) -> list[str]:
    return [line["indent"] + render(line, lang, overrides) for line in answer.said]


def test_explain_reads_in_indonesian_line_by_line_with_table_rows():
    answer = _answer("dinkes", "internet", "tcp/25")
    assert _lines(answer, "id") == [
        "tolak oleh kebijakan no-outbound-smtp (baris 5)",
        "  - untuk aliran yang dikenali pengklasifikasi sebagai kategori video: baris 6 no-video menentukan lebih "
        "dulu (tolak)",
        "  - baris 5 no-outbound-smtp: dari opds ke internet; tcp/25 termasuk port-nya (tcp/25)",
        "  dibentuk oleh: dinkes/default (unggah): dijamin 50mbit, batas atas 200mbit"]
    assert "\n".join(_lines(answer, "en")) == answer.text  # the CLI's English, policies[4] and all
    assert "policies[4]" in answer.text


def test_a_scheduled_and_a_denied_flow_read_in_indonesian():
    allowed = "\n".join(_lines(_answer("dinkes", "bappeda", "tcp/445"), "id"))
    assert allowed.startswith("terima oleh kebijakan dinkes-files (baris 8)")
    assert "hanya selama jadwal office-hours buka (zona waktu Asia/Jakarta)" in allowed
    denied = "\n".join(_lines(_answer("bappeda", "dinkes", "tcp/445"), "id"))
    assert denied.startswith("buang: tidak ada kebijakan yang cocok; bawaan antar zona adalah tolak")
    assert "policies[" not in denied and " but not " not in denied


def test_the_audit_trail_keeps_each_detail_with_its_code_and_its_chain_holds(tmp_path):
    log = AuditLog(tmp_path)
    log.append("confirm", "admin", "local", say("audit.confirm", version=7))
    log.append("login", "admin", "web:10.0.0.1", "admin (admin)", {"code": "audit.login",
                                                                   "args": {"name": "admin", "role": "auditor"}})
    log.append("note", "daemon", "local", "a plain detail")
    entries = [m.parse(m.AuditEntry, e) for e in log.entries()]
    assert log.verify() == []
    assert entries[0].detail == "version 7" and render(entries[0].said, "id") == "versi 7"
    assert render(entries[1].said, "id") == "admin (pemeriksa)"  # role names as the UI says them
    assert entries[2].said is None


def test_the_web_ui_may_only_send_the_code_of_its_own_event():
    assert audit_said_ok("login", {"code": "audit.login", "args": {"name": "a", "role": "admin"}})
    assert audit_said_ok("user-add", {"code": "audit.user-add.opds", "args": {"name": "a", "role": "b", "opds": "c"}})
    assert not audit_said_ok("login", {"code": "audit.confirm", "args": {"version": 1}})
    assert not audit_said_ok("login", {"code": "audit.login", "args": {"name": {"code": "x"}}})
    assert not audit_said_ok("login", {"code": "audit.login", "args": {"name": "x" * 300}})


def test_a_message_a_catalog_cannot_word_falls_back_to_the_english_it_came_with():
    assert render({"code": "no.such.code", "args": {}}, "id", fallback="as sent") == "as sent"
    assert render({"code": "audit.confirm", "args": {}}, "id", fallback="version ?") == "version ?"
    assert render(None, "id", fallback="plain") == "plain"


def test_a_refusal_keeps_its_code_across_the_control_socket_and_reads_in_indonesian():
    from pnsbox.errors import Refused, from_reply

    refused = Refused(say("lockout.would_cut", kind="web", address="10.30.0.5", port="tcp/443",
                          why=say("lockout.no_zone", address="10.30.0.5", device="lan0")))
    back = from_reply(403, refused.reply())
    assert isinstance(back, Refused) and str(back) == str(refused)  # the CLI's English, as before
    assert render(back.said, "id").startswith("perubahan ini akan memutus akses pengelolaan Anda (web dari 10.30.0.5")
    assert "tidak berada di zona mana pun" in render(back.said, "id")


def test_a_bare_port_refused_by_explain_reads_in_indonesian():
    from pnsbox.errors import BadRequest

    with pytest.raises(BadRequest) as refused:
        explain(build(load_site(EXAMPLE)), "dinkes", "internet", "443")
    assert str(refused.value) == "'443' is not a port: write tcp/443, udp/53 or tcp/8000-8080"
    assert render(refused.value.said, "id") == "'443' bukan port: tulis tcp/443, udp/53 atau tcp/8000-8080"


def _english_only(node) -> bool:
    """Text written out in English on the spot: a literal, an f-string or a sum of them."""
    return (isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)
            or isinstance(node, ast.BinOp) and (_english_only(node.left) or _english_only(node.right)))


def test_no_audit_detail_and_no_refusal_of_the_ha_pair_is_written_in_english_only():
    """Every audit entry's detail is said with its code (a new f-string detail would stay English
    for Indonesian readers); so is every refusal the HA pair's modules raise or answer with."""
    english = []
    for path in sorted([*ROOT.glob("pnsbox/**/*.py"), *ROOT.glob("webui/**/*.py")]):
        ha = path.parent.name == "daemon" and path.stem in ("peer", "pairkey", "replication", "core")
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            detail = node.args[3] if name.endswith("audit.append") and len(node.args) > 3 else None
            if ha and name in ("Refused", "BadRequest", "self.refused", "link.refused") and node.args:
                detail = node.args[-1]
            if detail is not None and _english_only(detail):
                english.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(detail)[:60]}")
    assert not english, english


def test_an_ha_daemon_that_never_starts_is_refused_in_words_the_failed_entry_keeps_in_indonesian():
    """No keepalived runs with this config file (a real scan of /proc): the wait gives up, said
    with its code, and the audit's `failed` detail keeps that code nested."""
    from pnsbox.apply.ha import _wait_running
    from pnsbox.daemon.core import _said_or_text
    from pnsbox.errors import KernelError

    with pytest.raises(KernelError) as failed:
        _wait_running("keepalived", "/nonexistent/pnsbox-test.conf", seconds=0.05)
    assert str(failed.value) == "keepalived (/nonexistent/pnsbox-test.conf) did not start within 0.05 s (see the " \
                                "system log)"
    detail = say("audit.failed", message="m", error=_said_or_text(failed.value),
                 restored=say("audit.restored.version", version=3))
    assert render(detail.as_json(), "id") == ("m: keepalived (/nonexistent/pnsbox-test.conf) tidak berjalan dalam 0.05 "
                                              "detik (lihat log sistem); kembali ke versi 3")
    assert _said_or_text(KernelError("tc: refused")) == "tc: refused"  # a tool's own words stay as they came


def test_an_unknown_zone_in_explain_and_a_lookup_refused_by_pnsboxd_keep_their_code():
    from pnsbox.daemon.rollbacks import RollbackRecord
    from pnsbox.errors import NotFound, as_pnsbox_error

    with pytest.raises(NotFound) as refused:
        explain(build(load_site(EXAMPLE)), "dinkes", "nowhere", "tcp/443")
    assert str(refused.value).startswith("TO: no zone named `nowhere` (zones: ")
    assert render(refused.value.said, "id").startswith("KE: tidak ada zona bernama `nowhere` (zona: ")
    with pytest.raises(LookupError) as nothing:
        RollbackRecord("/nonexistent").acknowledge()
    found = as_pnsbox_error(nothing.value)  # as pnsboxd's API answers it: a 404 that keeps its code
    assert isinstance(found, NotFound) and str(found) == "no automatic rollback waits to be acknowledged"
    assert render(found.said, "id") == "tidak ada pengembalian otomatis yang menunggu untuk dilihat"


def test_no_rollback_reason_failed_check_or_plan_precondition_is_written_in_english_only():
    """Why a version was rolled back (the history lists it), what a failed check says and what a
    plan finds missing are said with codes: an English f-string there would stay English."""
    english = []
    for path in [ROOT / "pnsbox" / "daemon" / "core.py", ROOT / "pnsbox" / "checks.py", ROOT / "pnsbox" / "plan.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            said = None
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(("rollbacks.mark", "_revert")):
                said = node.args[1] if len(node.args) > 1 else None
            elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("missing.append", "PlanError"):
                said = node.args[0]
            elif isinstance(node, ast.Return) and path.name == "checks.py":
                said = node.value
            if said is not None and _english_only(said):
                english.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(said)[:60]}")
    assert not english, english
