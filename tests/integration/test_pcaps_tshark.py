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

from pcap_batches import batches, merged, owner
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


def _sip_records(case: dict) -> tuple[list[dict], list[dict]]:
    """(the SIP messages tshark must decode, the deliberate ones it may or may not)."""
    # the RFC 4475 invalid messages (send_bytes) may or may not decode,
    # and tshark rightly calls some of them malformed
    # (and messages next to a deliberate CRLF ping in one TCP segment, crlf steps)
    deliberate = [m for m in case["messages"] if "(deliberate" in (m.get("note") or "")]
    return [m for m in case["messages"] if _is_sip(m["text"]) and m not in deliberate], deliberate


def _check_batch(batch: list[dict], folder: Path) -> dict[str, tuple[list[str], str]]:
    """Each case's pcap of ``batch`` (pcap_batches.batches: no shared conversation) read by one
    tshark per check over their concatenation: case id -> (its decoded CSeq values, its
    malformed frames' lines)."""
    pcap = str(folder / "merged.pcapng")
    ranges = merged([c["pcap"] for c in batch], Path(pcap))
    # the suite's ports are ephemeral: one may be a port another dissector registers (which
    # then wins over SIP's heuristics), so the SIP messages' own ports are decoded as SIP
    # (each case's; the batch's cases share none but the SUT's)
    specs = dict.fromkeys(a for case in batch for a in _decode_as_sip(case, _sip_records(case)[0]) if a != "-d")
    fields = _tshark("-r", pcap, *(a for spec in specs for a in ("-d", spec)), "-Y", "sip", "-T", "fields",
                     "-e", "frame.number", "-e", "sip.CSeq.seq", "-E", "occurrence=a", "-E", "aggregator=,")
    decoded: dict[str, list[str]] = {c["id"]: [] for c in batch}
    for line in fields.splitlines():
        frame, _, seqs = line.partition("\t")
        decoded[batch[owner(ranges, int(frame))]["id"]] += [v for v in seqs.split(",") if v]
    # (a case with deliberate messages is not held to this: its own may be malformed)
    malformed: dict[str, str] = {c["id"]: "" for c in batch}
    for line in _tshark("-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity == error",
                        "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info").splitlines():
        malformed[batch[owner(ranges, int(line.partition("\t")[0]))]["id"]] += line + "\n"
    return {i: (decoded[i], malformed[i]) for i in decoded}


def _check_case(case: dict, decoded: list[str], malformed: str) -> None:
    """One case's pcap: each SIP message decoded as SIP, and none malformed."""
    sip_records, deliberate = _sip_records(case)
    assert len(sip_records) <= len(decoded) <= len(sip_records) + len(deliberate), \
        (case["id"], len(decoded), len(sip_records))
    if not deliberate:
        assert malformed.strip() == "", (case["id"], malformed)


def test_every_pcap_decodes_each_sip_message(tmp_path_factory, tmp_path):
    run = shared_run(tmp_path_factory)  # the default run, judged against its table elsewhere
    assert run.results is not None
    applicable = []
    for case in run.results["cases"]:
        if case["verdict"] == "not applicable":
            assert case["pcap"] is None  # nothing was sent
        else:
            applicable.append(case)
    # some 300 pcaps, a tshark start each costing more than reading all of them: a few batches
    # (pcap_batches.py), two tshark runs each, a few at a time; then each case's own assertion,
    # in case order
    groups = batches(applicable)
    folders = [tmp_path / f"batch{i}" for i in range(len(groups))]
    for f in folders:
        f.mkdir()
    found: dict[str, tuple[list[str], str]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(_check_batch, b, f) for b, f in zip(groups, folders)]:
            found.update(done.result())
    for case in applicable:
        _check_case(case, *found[case["id"]])
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
