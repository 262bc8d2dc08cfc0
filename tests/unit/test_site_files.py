"""What the control API accepts as a site's files: exact names, text only."""

import pytest
from test_lockout import EXAMPLE

from pnsbox.daemon.core import config_of
from pnsbox.load import check_site_files
from pnsbox.store import site_files


@pytest.mark.parametrize("name", ["./pnsbox.yaml", "pnsbox.yaml/.", "opds/../pnsbox.yaml", "./opds/x.yaml",
                                  "opds/x.yml", "/etc/pnsbox.yaml", "opds/sub/x.yaml", "opds/.yaml"])
def test_other_spellings_of_file_names_are_refused(name):
    files = site_files(EXAMPLE)
    with pytest.raises(ValueError, match="not a site file name"):
        config_of({**files, name: "site: {}\n"})


def test_files_must_be_text_and_hold_pnsbox_yaml():
    with pytest.raises(ValueError, match="must map file names to their text"):
        check_site_files({"pnsbox.yaml": 3})
    with pytest.raises(ValueError, match="needs pnsbox.yaml"):
        check_site_files({"opds/a.yaml": ""})
    assert config_of(site_files(EXAMPLE)).site.name == "demo-province"
