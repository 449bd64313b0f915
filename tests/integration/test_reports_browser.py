"""report.html and certificate.html as a person sees them: rendered by headless Chromium (the
DOM after pytest-html's scripts ran), plus case selection and `conformance list --coverage`."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from suite_runner import ROOT, run_suite

FAULT = ROOT / "tests" / "targets" / "fault-list-only-newest.yaml"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def dump_dom(path: Path) -> str:
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed: the rendered pages cannot be checked in a browser")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", path.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    """A run with passes and MUST failures (the registrar lists only the newest binding)."""
    run = run_suite(tmp_path_factory.mktemp("browser"), "-k", "REG-001 or REG-003 or KA-001 or EDGE-006",
                    target=FAULT)
    assert run.returncode == 1, run.output[-3000:]
    return run


def test_report_html_shows_verdicts_and_a_ladder_per_case(fault_run):
    dom = dump_dom(fault_run.reports / "report.html")
    verdicts = fault_run.verdicts()
    assert verdicts["REG-003[udp]"] == "fail" and verdicts["REG-001[udp]"] == "pass"
    # the Verdict column and per-case badges, rendered by pytest-html's scripts (the comment is
    # the row's rank, on which pytest-html sorts: failures first, not-applicable cases last)
    assert re.search(r'<td class="col-verdict"><!--1--><span class="verdict" data-verdict="fail"', dom)
    assert re.search(r'<td class="col-verdict"><!--3--><span class="verdict" data-verdict="pass"', dom)
    ranks = [int(r) for r in re.findall(r'<td class="col-verdict"><!--(\d)-->', dom)]
    assert ranks == sorted(ranks) and len(ranks) == len(fault_run.results["cases"])
    # not-applicable rows folded, their log the plain reason (no skip tuple of plugin/items.py)
    na = [c for c in fault_run.results["cases"] if c["verdict"] == "not applicable"]
    assert na  # EDGE-006 is written for an edge, not a registrar
    assert dom.count('<td class="col-result collapsed">Skipped</td>') == len(na)
    for c in na:
        assert f'<div class="log">not applicable: {html.escape(c["reason"], quote=False)}</div>' in dom
    assert "items.py" not in dom
    with_messages = [c for c in fault_run.results["cases"] if c.get("messages")]
    assert dom.count('class="ladder-svg"') == len(with_messages) >= 5
    # lifelines: the UE flows and the SUT; REG-003 goes through the emulated edge
    assert 'data-party="flow:f1"' in dom and 'data-party="flow:f2"' in dom and 'data-party="edge"' in dom
    assert re.search(r'data-party="sut:127\.0\.0\.1:\d+"', dom)
    # keep-alives drawn apart, the failing checks marked on their message
    assert 'class="arrow keepalive"' in dom
    failed_arrows = re.findall(r'class="arrow failed" data-index="(\d+)"', dom)
    assert len(failed_arrows) >= 2  # REG-003 over udp and tcp
    assert "✗ bindings of the UE's instance" in dom or "✗ number of bindings" in dom
    # every arrow links to its message, which exists in the page; the pcap is linked
    for anchor in set(re.findall(r'href="#(msg-REG-003-udp-\d+)"', dom)):
        assert f'id="{anchor}"' in dom
    assert 'class="ladder-pcap" href="' in dom and "REG-003-udp.pcap" in dom


def test_certificate_html_shows_the_overall_verdict_and_the_requirement_table(fault_run):
    cert_json = fault_run.reports / "certificate.json"
    assert cert_json.exists()
    dom = dump_dom(fault_run.reports / "certificate.html")
    m = re.search(r'<section id="overall" class="banner" data-verdict="(\w+)"', dom)
    assert m and m.group(1) == "fail"
    assert "OVERALL: FAIL" in dom and "This run has failures" in dom
    assert dom.index('id="overall"') < dom.index('id="requirements"')  # the verdict comes first
    for req in ("R1", "R2", "R3", "P1", "P2"):
        assert f'data-requirement="{req}"' in dom
    row = re.search(r'<tr data-requirement="R2">.*?</tr>', dom, re.S).group(0)
    assert 'data-verdict="fail"' in row and "REG-003" in row
    assert 'data-clause="RFC 3261 §10.3 step 8"' in dom
    assert "fault-list-only-newest" in dom and "outbound-conformance-reference" in dom  # profile, Server


def test_passing_run_certificate(tmp_path):
    run = run_suite(tmp_path, "-k", "REG-001")
    assert run.returncode == 0, run.output[-3000:]
    html = (run.reports / "certificate.html").read_text(encoding="utf-8")
    assert "OVERALL: PASS" in html and "This run has failures" not in html
    assert "certificate:" in run.output and "overall: PASS" in run.output
    assert re.search(r"R1\s+\|\s+\d+\s+\|\s+0\s+\|\s+0\s+\|\s+\d+\s+\|\s+0\s+\|\s+PASS", run.output)


def test_plain_pytest_selects_by_requirement_marker(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "testcases", "-q", "-p", "no:cacheprovider", "--co", "-m", "R2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    items = [l for l in proc.stdout.splitlines() if "::" in l]
    assert items and any("REG-003[udp]" in l for l in items)
    assert not any("REG-014[" in l for l in items)  # REG-014 covers R1 only


def test_list_coverage_command():
    proc = subprocess.run([sys.executable, "-m", "conformance", "list", "--coverage"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"TP_REG_003\s+.*covered by .*REG-003", out)
    assert re.search(r"TP_REG_027\s+.*covered by .*REGEV-001", out)   # the last one (issue 18)
    assert re.search(r"TP_GRUU_006\s+.*covered by .*GRUU-006", out)
    assert re.search(r"TP_REG_029\s+.*covered by .*AKA-014", out)
    m = re.search(r"coverage: (\d+) of (\d+) test purposes covered \(100%\), 0 not yet", out)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) > 106, out[-300:]
    md = subprocess.run([sys.executable, "-m", "conformance", "list", "--coverage", "--markdown"], cwd=ROOT,
                        capture_output=True, text=True, timeout=120).stdout
    assert md.startswith("# Test-purpose coverage")
