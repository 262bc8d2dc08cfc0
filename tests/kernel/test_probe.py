"""The capability probe's scratch nft table must parse: a syntax error would read as a kernel
without the statement (it did: nft 1.0.6 refuses a rule and its closing braces on one line)."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from pnsbox.observe.facts import helper_table, probe, probe_table

pytestmark = pytest.mark.kernel


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel tests need root (network namespaces)")
def test_the_probe_table_parses_and_this_kernel_accepts_it_with_a_plain_counter():
    ns = f"pnsbox-pt-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        checked = subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"], input=probe_table("counter"),
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        queue = subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"],
                               input=probe_table("queue flags bypass to 0"), capture_output=True, text=True)
        assert "syntax error" not in queue.stderr  # accepted, or refused by the kernel: never misread
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel tests need root (network namespaces)")
def test_the_ruleset_for_a_kernel_with_nft_queue_parses():
    """nft -c here: this kernel refuses the `queue` rule itself, but a syntax error (a chain
    named `queue`, once) would stop every apply on a kernel that has it."""
    from pnsbox.classifier.catalog import default_catalog
    from pnsbox.facts import Facts
    from pnsbox.load import load_site
    from pnsbox.render.site import site
    from pnsbox.validate import build

    example = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"
    text = site(build(load_site(example)), Facts(("pfifo",), nft_queue=True), default_catalog()).nft
    assert "queue flags bypass" in text
    ns = f"pnsbox-pt-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        checked = subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"], input=text,
                                 capture_output=True, text=True)
        assert "syntax error" not in checked.stderr, checked.stderr[:2000]
        if checked.returncode != 0:  # only the kernel's refusal of the queue statement is allowed
            assert "Could not process rule" in checked.stderr and "queue" in checked.stderr, checked.stderr[:2000]
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel tests need root (network namespaces)")
def test_the_ftp_helper_probe_tells_a_helper_the_kernel_has_from_one_it_lacks():
    """The probe's answer is the kernel's own: the probe table with the FTP helper loads where
    the probe says so, and one naming a helper no kernel has is refused by the kernel (not by
    nft's parser), which is how a kernel without nf_conntrack_ftp answers."""
    def check(kind: str):
        return subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", "-"], input=helper_table(kind),
                              capture_output=True, text=True)

    ns = f"pnsbox-pt-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        ftp = check("ftp")
        assert (ftp.returncode == 0) == probe().ftp_helper, ftp.stderr
        missing = check("pnsbox-none")
        assert missing.returncode != 0 and "syntax error" not in missing.stderr
        assert "Could not process rule: No such file or directory" in missing.stderr
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
