"""JUnit XML that CI systems read correctly, rendered from case results.

fail -> <failure>; inconclusive and error -> <error> (never a pass); not applicable ->
<skipped> with the reason; each case's test purposes, references, requirements, verdict and
pcap as <properties>; the suite version, the target and whether the run completed (an
interrupted run is ``complete=false``) as the suite's <properties>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .summary import counts


def write_junit(path: Path, results: list[dict], meta: dict[str, Any]) -> None:
    c = counts(results)
    suite = ET.Element("testsuite", {
        "name": f"outbound-conformance ({meta.get('target', {}).get('name', '?')})",
        "tests": str(len(results)),
        "failures": str(c["fail"]),
        "errors": str(c["inconclusive"] + c["error"]),
        "skipped": str(c["not applicable"]),
        "time": f"{sum(r.get('duration', 0) for r in results):.3f}",
        "timestamp": meta.get("finished", ""),
    })
    # the run as a whole: which suite version judged which target, and whether the run finished
    run_props = ET.SubElement(suite, "properties")
    for name, value in (("suite_version", str(meta.get("version", ""))),
                        ("target", str(meta.get("target", {}).get("name", ""))),
                        ("complete", "true" if meta.get("complete", True) else "false")):
        ET.SubElement(run_props, "property", {"name": name, "value": value})
    for r in sorted(results, key=lambda r: r["id"]):
        tc = ET.SubElement(suite, "testcase", {
            "classname": f"testcases.{r['case_id']}", "name": r["id"], "time": f"{r.get('duration', 0):.3f}",
            "file": r.get("location", "").split(":")[0],
        })
        props = ET.SubElement(tc, "properties")
        for name, value in (("verdict", r["verdict"]), ("title", r["title"]),
                            ("test_purposes", ", ".join(r.get("test_purposes", []))),
                            ("references", "; ".join(r.get("references", []))),
                            ("requirements", ", ".join(r.get("requirements", []))),
                            ("classification", r.get("classification") or ""),
                            ("pcap", r.get("pcap") or "")):
            if value:
                ET.SubElement(props, "property", {"name": name, "value": value})
        v = r["verdict"]
        if v == "fail":
            ET.SubElement(tc, "failure", {"message": r["reason"][:500], "type": "fail"}).text = r["reason"]
        elif v in ("inconclusive", "error"):
            ET.SubElement(tc, "error", {"message": f"{v}: {r['reason'][:500]}", "type": v}).text = r["reason"]
        elif v == "not applicable":
            ET.SubElement(tc, "skipped", {"message": f"not applicable: {r['reason']}"})
        if r.get("warnings"):
            ET.SubElement(tc, "system-out").text = "warnings:\n" + "\n".join(r["warnings"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    tmp = path.with_suffix(".xml.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
