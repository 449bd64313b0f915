"""Bad input: a clear message, a distinct exit status, no traceback, and what could be read analysed."""

import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "pcaps" / "samples" / "reference-rel8" / "REG-004A-udp.pcap"


def _analyze(path, *extra):
    proc = subprocess.run([sys.executable, "-m", "conformance", "analyze", str(path), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def test_truncated_in_the_middle_of_a_packet(tmp_path):
    data = GOOD.read_bytes()
    # the header of packet 4 ends at: 24 + 3 records; cut inside packet 4's data
    pos, n = 24, 0
    while n < 3:
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
        n += 1
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:pos + 16 + 100])
    proc = _analyze(cut)
    assert proc.returncode == 4 and "truncated" in proc.stderr and "packet 4" in proc.stderr
    assert "3 SIP messages" in proc.stdout  # the first three packets were analysed
    head = tmp_path / "head.pcap"
    head.write_bytes(data[:pos + 7])  # cut inside a record header
    proc = _analyze(head)
    assert proc.returncode == 4 and "truncated" in proc.stderr


def test_not_a_capture(tmp_path):
    f = tmp_path / "x.pcap"
    f.write_text("hello, this is not a capture\n" * 10)
    proc = _analyze(f)
    assert proc.returncode == 6 and "not a pcap or pcapng" in proc.stderr


def test_unknown_link_type(tmp_path):
    data = bytearray(GOOD.read_bytes())
    struct.pack_into("<I", data, 20, 147)  # LINKTYPE_USER0
    f = tmp_path / "u.pcap"
    f.write_bytes(bytes(data))
    proc = _analyze(f)
    assert proc.returncode == 5 and "link type 147" in proc.stderr


def test_no_sip(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from analysis_craft import REGISTRAR, UE1, udp, write

    f = write(tmp_path / "n.pcap", [udp(UE1, REGISTRAR, b"just some bytes")])
    proc = _analyze(f)
    assert proc.returncode == 3 and "no SIP message" in proc.stderr


def test_missing_file_and_bad_case(tmp_path):
    assert _analyze(tmp_path / "none.pcap").returncode == 2
    proc = _analyze(GOOD, "--case", str(tmp_path / "nocase.yaml"))
    assert proc.returncode == 2 and "cannot load" in proc.stderr


def test_pcapng_ending_in_a_statistics_block_is_whole(tmp_path):
    """dumpcap ends every pcapng with an Interface Statistics Block after the last packet: the file
    is whole (no 'truncated', exit 0); cut inside that block, it is truncated."""
    from scapy.utils import PcapNgWriter, rdpcap

    ng = tmp_path / "g.pcapng"
    with PcapNgWriter(str(ng)) as w:
        for pkt in rdpcap(str(GOOD)):
            w.write(pkt)
    # Interface Statistics Block: type 5, interface 0, timestamp, no options
    isb = struct.pack("<IIIII", 5, 24, 0, 0, 0) + struct.pack("<I", 24)
    whole = tmp_path / "isb.pcapng"
    whole.write_bytes(ng.read_bytes() + isb)
    proc = _analyze(whole)
    assert proc.returncode == 0 and "truncated" not in proc.stderr, proc.stderr
    cut = tmp_path / "isb-cut.pcapng"
    cut.write_bytes(ng.read_bytes() + isb[:16])
    proc = _analyze(cut)
    assert proc.returncode == 4 and "truncated" in proc.stderr
