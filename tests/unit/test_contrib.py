"""The Grafana dashboard and the Prometheus rules in contrib/ name only metrics pnsbox exports
(the rules themselves are checked and unit-tested by promtool in `make test`)."""

import json
import re
from pathlib import Path

import yaml

from pnsbox.observe.metrics import CLASS_METRICS

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bpnsbox[_:][a-z0-9_:]*[a-z0-9]")
LITERAL = re.compile(r"""["']pnsbox_([a-z0-9_]+)["']""")


def exported() -> set[str]:
    """Every metric name pnsboxd and pnsbox-classifier can expose, read from the package: each
    family's name as written, the suffixes the client library adds, the names made from parts."""
    bases = {f"pnsbox_{m}" for path in (ROOT / "pnsbox").rglob("*.py") for m in LITERAL.findall(path.read_text())}
    bases |= {f"pnsbox_class_{name}" for _, _, name, _ in CLASS_METRICS}
    bases |= {f"pnsbox_{kind}_{what}" for kind in ("app", "category") for what in ("bytes", "packets")}
    return {base + suffix for base in bases for suffix in ("", "_total", "_bucket", "_sum", "_count", "_created")}


def recorded() -> set[str]:
    rules = yaml.safe_load((ROOT / "contrib/prometheus/pnsbox.rules.yml").read_text())
    return {rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule}


def unknown(expressions: list[str]) -> set[str]:
    known = exported() | recorded()
    return {name for expr in expressions for name in NAME.findall(expr) if name not in known}


def queries(node) -> list[str]:
    """Every PromQL expression in a dashboard: panels' targets, variables, annotations."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition", "query") and isinstance(value, str):
                found.append(value)
            else:
                found += queries(value)
    elif isinstance(node, list):
        for item in node:
            found += queries(item)
    return found


def test_every_query_in_the_grafana_dashboard_names_metrics_pnsbox_exports():
    dashboard = json.loads((ROOT / "contrib/grafana/pnsbox.json").read_text())
    expressions = queries(dashboard)
    assert len(expressions) >= 15
    named = {name for expr in expressions for name in NAME.findall(expr)}
    assert {"pnsbox_opd_bytes_total", "pnsbox_class_ceil_bits", "pnsbox_category_bytes_total",
            "pnsbox_class_drops_total", "pnsbox_config_version"} <= named
    assert unknown(expressions) == set()
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"  # importable as is: Grafana asks for the source


def test_the_checker_would_catch_a_misspelt_metric():
    assert unknown(["rate(pnsbox_opd_byte_total[5m])", "pnsbox:not_recorded"]) == {"pnsbox_opd_byte_total",
                                                                                  "pnsbox:not_recorded"}


def test_the_prometheus_rules_name_only_exported_or_recorded_metrics():
    expressions = []
    for name in ("pnsbox.rules.yml", "pnsbox.alerts.yml"):
        rules = yaml.safe_load((ROOT / "contrib/prometheus" / name).read_text())
        expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert unknown(expressions) == set()
