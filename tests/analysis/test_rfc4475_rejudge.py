"""RFC 4475 cases (send_bytes steps, raw-bytes stimuli) re-judged offline from their pcaps: the
stimulus is found by content, its answer recorded as live, or the step skipped with a reason when
the bytes never formed a message in the capture (clerr over TCP); the verdict equals the live one."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = ["RFC4475-CLERR", "RFC4475-REGBADCT", "RFC4475-BIGCODE", "RFC4475-NCL", "RFC4475-LWSSTART"]


def test_raw_bytes_steps_are_rejudged_or_skipped_with_a_reason(tmp_path, capsys):
    from conformance.analysis.cli import main as analyze_main

    cmd = [sys.executable, "-m", "conformance", "run", "-q", f"--reports-dir={tmp_path / 'rep'}",
           f"--pcap-dir={tmp_path / 'pcaps'}", "-k", " or ".join(CASES)]
    subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                   env=dict(os.environ))  # bytecode: tests/conftest.py
    cases = json.loads((tmp_path / "rep" / "results.json").read_text())["cases"]
    assert len(cases) == 2 * len(CASES)
    notes = {}
    for case in cases:
        out = tmp_path / f"{case['id']}.json"
        analyze_main([case["pcap"], "--case", str(ROOT / "testcases/security/rfc4475-invalid.yaml"),
                      "--id", case["case_id"], "--transport", case["transport"], "--json", str(out), "-q"])
        capsys.readouterr()
        doc = json.loads(out.read_text())["case"]
        assert doc["verdict"] == case["verdict"] == "pass", (case["id"], doc["reason"])
        raw, live = doc["steps"][1], case["steps"][1]
        notes[case["id"]] = raw["note"]
        if "not re-judged" not in raw["note"]:
            assert [f["outcome"] for f in raw["findings"]] == [f["outcome"] for f in live["findings"]], case["id"]
            assert raw["note"].split()[0] == live["note"].split()[0], (raw["note"], live["note"])
    # Content-Length longer than the bytes: over TCP no message ever completes in the capture
    assert notes["RFC4475-CLERR[tcp]"].startswith("not re-judged offline: the raw stimulus clerr")
    assert notes["RFC4475-CLERR[udp]"] == "400 Bad Request"
    assert notes["RFC4475-REGBADCT[udp]"].startswith("404")
