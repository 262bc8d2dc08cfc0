"""`pnsbox schema` describes what validation accepts, so editors can check the YAML."""

import json
from pathlib import Path

import jsonschema
import pytest

from pnsbox.cli import main
from pnsbox.load import load_site

ROOT = Path(__file__).resolve().parents[2]
SITES = [ROOT / "rules" / "examples" / "province",
         *sorted(p.parent / "site" for p in (ROOT / "tests" / "golden").glob("[0-9][0-9]-*/facts.yaml"))]


@pytest.fixture(scope="module")
def schema():
    from pnsbox.model import Config

    return Config.model_json_schema(by_alias=True)


def test_cli_prints_the_schema(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["properties"].keys() >= {"site", "opds", "policies"}
    jsonschema.Draft202012Validator.check_schema(printed)


@pytest.mark.parametrize("site", SITES, ids=lambda p: p.parent.name if p.name == "site" else p.name)
def test_every_shipped_site_matches_the_schema(schema, site):
    jsonschema.validate(load_site(site).data, schema)


def test_schema_catches_a_typo(schema):
    data = load_site(SITES[0]).data
    data["site"]["uplink"]["bandwdth"] = data["site"]["uplink"].pop("bandwidth")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_a_scheduled_pipe_may_be_written_as_one_rate_or_as_a_pipe(schema):
    data = load_site(SITES[0]).data
    data["site"]["uplink"]["during"] = {"night": "2gbit"}
    jsonschema.validate(data, schema)
    data["site"]["uplink"]["during"] = {"night": {"download": "2gbit", "upload": "500mbit"}}
    jsonschema.validate(data, schema)
    data["site"]["uplink"]["during"] = {"night": "2 gigabits"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
