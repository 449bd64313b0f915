"""Every pcap the suite writes opens in tshark with each SIP message decoded and none malformed.

tshark is installed by scripts/install-tools.sh (``make test`` runs it); without it the test is
skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from suite_runner import run_suite, shared_run

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed (scripts/install-tools.sh installs it)")


def _tshark(*args: str) -> str:
    proc = subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _is_sip(text: str) -> bool:
    from conformance.sip import ParseError, parse_message

    try:
        parse_message(text.encode())
        return True
    except ParseError:
        return False


def _decode_as_sip(case: dict, records: list[dict]) -> list[str]:
    proto = "tcp" if case["transport"] == "tcp" else "udp"
    ports = sorted({int(ep[1]) for m in records for ep in (m.get("src"), m.get("dst")) if ep})
    return [a for p in ports[:40] for a in ("-d", f"{proto}.port=={p},sip")]


def _check_case(case: dict) -> None:
    """One case's pcap: each SIP message decoded as SIP, and none malformed."""
    pcap = case["pcap"]
    # the RFC 4475 invalid messages (send_bytes) may or may not decode,
    # and tshark rightly calls some of them malformed
    # (and messages next to a deliberate CRLF ping in one TCP segment, crlf steps)
    deliberate = [m for m in case["messages"] if "(deliberate" in (m.get("note") or "")]
    sip_records = [m for m in case["messages"] if _is_sip(m["text"]) and m not in deliberate]
    # the suite's ports are ephemeral: one may be a port another dissector registers (which
    # then wins over SIP's heuristics), so the SIP messages' own ports are decoded as SIP
    fields = _tshark("-r", pcap, *_decode_as_sip(case, sip_records), "-Y", "sip", "-T", "fields",
                     "-e", "sip.CSeq.seq", "-E", "occurrence=a", "-E", "aggregator=,")
    decoded = [v for line in fields.splitlines() for v in line.split(",") if v]
    assert len(sip_records) <= len(decoded) <= len(sip_records) + len(deliberate), \
        (case["id"], len(decoded), len(sip_records))
    if not deliberate:
        malformed = _tshark("-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity == error")
        assert malformed.strip() == "", (case["id"], malformed)


def test_every_pcap_decodes_each_sip_message(tmp_path_factory):
    run = shared_run(tmp_path_factory)  # the default run, judged against its table elsewhere
    assert run.results is not None
    applicable = []
    for case in run.results["cases"]:
        if case["verdict"] == "not applicable":
            assert case["pcap"] is None  # nothing was sent
        else:
            applicable.append(case)
    # some 600 tshark runs, each mostly start-up: a few at a time (each case's own assertion
    # is raised here, in case order, by .result())
    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(_check_case, case) for case in applicable]:
            done.result()
    assert len(applicable) > 30


def test_tcp_streams_reassemble_in_order(tmp_path):
    run = run_suite(tmp_path, "-k", "REG-004A and tcp")
    pcap = run.case("REG-004A[tcp]")["pcap"]
    analysis = _tshark("-r", pcap, "-Y", "tcp.analysis.flags && !tcp.analysis.window_update")
    assert analysis.strip() == "", analysis  # no lost segments, retransmissions or out-of-order
    convs = _tshark("-r", pcap, "-q", "-z", "conv,tcp")
    assert convs.count("127.0.0.1:") + convs.count("<->") >= 3  # one connection per flow


TLS_WS_TARGET = Path(__file__).resolve().parents[2] / "targets" / "reference-tls-ws.yaml"


def _stream_env(case: dict) -> dict:
    """How a tls/ws/wss case's pcap decodes as SIP with nothing typed in: ws and wss by
    Wireshark's heuristics (the HTTP upgrade, the sip subprotocol; wss with the Decryption Secrets
    Block's keys), tls by port 5061 or, on another port, with the Wireshark profile written
    beside the pcap (WIRESHARK_CONFIG_DIR, decode_as_entries): no tshark option either way."""
    profile = Path(case["pcap"]).with_suffix(".wireshark")
    return dict(os.environ, WIRESHARK_CONFIG_DIR=str(profile)) if profile.is_dir() else dict(os.environ)


def _check_stream_case(case: dict) -> None:
    pcap = case["pcap"]
    deliberate = [m for m in case["messages"] if "(deliberate" in (m.get("note") or "")]
    sip_records = [m for m in case["messages"] if _is_sip(m["text"]) and m not in deliberate]
    env = _stream_env(case)
    if case["transport"] in ("tls", "wss"):
        with open(pcap, "rb") as f:
            assert f.read(4) == b"\x0a\x0d\x0d\x0a", (case["id"], "not pcapng")   # keys in a DSB
    proc = subprocess.run([TSHARK, "-r", pcap, "-Y", "sip", "-T", "fields", "-e", "sip.CSeq.seq",
                           "-E", "occurrence=a", "-E", "aggregator=,"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    decoded = [v for line in proc.stdout.splitlines() for v in line.split(",") if v]
    assert len(sip_records) <= len(decoded) <= len(sip_records) + len(deliberate), \
        (case["id"], len(decoded), len(sip_records))


@pytest.mark.skipif(not TLS_WS_TARGET.exists(), reason="targets/reference-tls-ws.yaml not in this tree")
def test_every_tls_ws_wss_pcap_decodes_as_sip_with_nothing_typed_in(tmp_path_factory):
    # the whole run (its table's, test_expected_verdicts.py): its tls, ws and wss items are those
    # `-k "tls or ws"` selects (each such item's id names its transport)
    run = shared_run(tmp_path_factory, target=TLS_WS_TARGET)
    assert run.results is not None, run.output[-3000:]
    cases = [c for c in run.results["cases"] if c["transport"] in ("tls", "ws", "wss")
             and c["verdict"] != "not applicable" and c["pcap"]]
    assert {c["transport"] for c in cases} == {"tls", "ws", "wss"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(_check_stream_case, case) for case in cases]:
            done.result()
