"""What a case run keeps of the wire: the message list, the pcap, and the ESP keys beside it.

Endpoints report every datagram and TCP event through :meth:`Recording.on_wire`, so the pcap
holds what really crossed the wire (retransmissions, pongs, garbage) while the message list
holds what the steps and checks speak about.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from ..ims.wireshark import write_config_dir
from ..meaning.results import MessageRecord
from .espstate import EspState
from ..wire.keylog import read_keylog
from .pcap import PcapRecorder
from .pcapng import write_pcapng
from .transport import Addr


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class Recording:
    """The clock, the message list and the pcap of one case run."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.wall_start = time.time()
        self.pcap = PcapRecorder(self.wall_start)
        self.messages: list[MessageRecord] = []
        self.current_step = ""
        self._keylog: str | None = None   # the case's NSS key log (TLS flows), made on first use
        self.tls_ports: set[int] = set()   # the SUT's ports of the case's SIP-over-TLS connections

    def keylog_file(self) -> str:
        """The case's NSS key log file (one temporary file per case run; TLS flows append their
        session secrets, the pcap's Decryption Secrets Block carries them; removed after)."""
        if self._keylog is None:
            fd, self._keylog = tempfile.mkstemp(prefix="conformance-keylog-", suffix=".txt")
            os.close(fd)
        return self._keylog

    def drop_keylog(self) -> None:
        if self._keylog is not None:
            try:
                os.unlink(self._keylog)
            except OSError:
                pass
            self._keylog = None

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        """The pcap's clock: wall time that never jumps within the run."""
        return self.wall_start + (time.monotonic() - self.t0)

    def on_wire(self, direction: str, transport: str, src: Addr, dst: Addr, data: bytes, event: str) -> None:
        when = self.wall()
        if transport == "udp":
            self.pcap.udp(when, src, dst, data)
        elif event == "open":
            if transport == "tls":
                self.tls_ports.add(dst[1])
            self.pcap.tcp_open(when, src, dst)
        elif event in ("close", "closed") or direction == "closed":
            self.pcap.tcp_close(when, src, dst)
        elif data:
            self.pcap.tcp_data(when, src, dst, data)

    def on_esp_packet(self, direction: str, packet: bytes) -> None:
        self.pcap.raw_ip(self.wall(), packet)

    def record(self, direction: str, flow: str, transport: str, src: Addr, dst: Addr, data: bytes,
               summary: str, note: str = "") -> int:
        idx = len(self.messages)
        self.messages.append(MessageRecord(
            index=idx, time=round(time.monotonic() - self.t0, 6), direction=direction, flow=flow,
            transport=transport, src=tuple(src), dst=tuple(dst), summary=summary,
            text=data.decode("utf-8", "replace"), step=self.current_step, note=note))
        return idx

    def write_pcap(self, path: Path, esp: EspState | None) -> None:
        """The pcap, and the ESP keys of its SA sets beside it (when the case had any).  A case
        with TLS (tls, wss flows) writes pcapng at the same path, its session keys in a
        Decryption Secrets Block (engine/pcapng.py), plus a Wireshark profile that decodes SIP
        on its TLS ports other than 5061 (:func:`write_tls_decode_as`)."""
        secrets = read_keylog(self._keylog) if self._keylog else b""
        if secrets:
            write_pcapng(path, self.pcap.packets(), secrets)
            write_tls_decode_as(path, self.tls_ports)
        else:
            self.pcap.write(path)
        if esp is not None and esp.sa_sets:
            write_keys(path, esp.sa_sets, esp.encap_ports)


def keys_dir(pcap_path: Path) -> Path:
    """Where the ESP keys of a case's pcap are written (a Wireshark configuration directory)."""
    return pcap_path.with_suffix(".wireshark")


def write_keys(pcap_path: Path, sa_sets, encap_ports=()) -> Path:
    """esp_sa + preferences (decryption and ICV check on) + decode_as_entries (SIP on every
    protected port): ``WIRESHARK_CONFIG_DIR=<dir> tshark -r <pcap>`` shows the SIP inside.
    SAs of UDP-encapsulated flows (a port in ``encap_ports``) match any address (the NAT
    changes the outer ones) and their ports decode as UDPENCAP (RFC 3948)."""
    sas = [sa for s in sa_sets for sa in s.sas]
    encap = {sa.spi for sa in sas if {sa.sport, sa.dport} & set(encap_ports)}
    directory = write_config_dir(keys_dir(pcap_path), sas, any_address_spis=encap)
    ports = sorted({p for sa in sas for p in (sa.sport, sa.dport)})
    wrapped = {p for sa in sas if sa.spi in encap for p in (sa.sport, sa.dport)}
    (directory / "decode_as_entries").write_text(
        "".join(f"decode_as_entry: udp.port,{p},(none),{'UDPENCAP' if p in wrapped else 'SIP'}\n"
                for p in ports))
    return directory


SIP_TLS_PORT = 5061   # RFC 3261 §19.1.2: Wireshark decodes SIP inside TLS on it by itself


def write_tls_decode_as(pcap_path: Path, tls_ports) -> Path | None:
    """For TLS on ports other than 5061: ``decode_as_entries`` (SIP inside TLS on each such port)
    in the case's Wireshark profile folder (``WIRESHARK_CONFIG_DIR=<dir> tshark -r <pcap>``);
    None when every TLS port is 5061.  ``wss`` ports are not listed: there the decrypted bytes are
    HTTP (the upgrade), then WebSocket frames whose ``sip`` subprotocol Wireshark follows."""
    ports = sorted(p for p in tls_ports if p != SIP_TLS_PORT)
    if not ports:
        return None
    directory = keys_dir(pcap_path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "decode_as_entries").write_text(
        "".join(f"decode_as_entry: tls.port,{p},(none),SIP\n" for p in ports))
    return directory
