"""baresip (Debian's 1.0.0) as a real SIP Outbound client over TLS: the files it reads and its
output read back. Sans-IO: strings in, strings and records out (clients.py runs the process).

baresip reads a folder given with ``-f DIR``: ``config`` (the core settings and the modules to
load), ``accounts`` (one line per user agent) and ``uuid`` (the instance-id the ``uuid`` module
hands to the core; baresip uses the file's text as is, so a trailing newline would end up inside
``+sip.instance``: it is written without one).

What is set, and why (baresip 1.0 docs/examples/accounts and config):

* ``sip_listen 127.0.0.1:P``: UDP and TCP on P, TLS on P+1 (baresip adds 1 for TLS), loopback
  only, so the Contact and Via it advertises point at loopback;
* ``net_interface 127.0.0.1``: its "local address" is loopback, not the machine's first
  interface;
* ``sip_cafile``: the CA that signed the edge's certificate (the suite's test CA);
* modules: ``g711`` (a codec, so an SDP could be made), ``uuid`` and ``account``; no audio
  driver, no user interface (no ``stdio``/``cons``/``menu``), no STUN/ICE: it only registers;
* account: ``<sip:user@domain;transport=tls>;outbound="sip:HOST:PORT;transport=tls"`` (the edge
  as outbound proxy, RFC 5626 §4.2.1's first hop), ``sipnat=outbound`` (RFC 5626: it adds
  ``+sip.instance`` and ``reg-id`` to the Contact, ``Supported: outbound``, and keeps the flow
  alive with CRLF when the 2xx has ``Require: outbound``), ``regint`` (the Expires it asks
  for), ``mwi=no`` (no SUBSCRIBE for message waiting).
"""

from __future__ import annotations

import re
import uuid as uuidlib
from dataclasses import dataclass, field

MODULES_DIR = "/usr/lib/baresip/modules"


@dataclass(frozen=True)
class BaresipAccount:
    """One baresip user agent registering through an edge.

    ``aor`` ``sip:user@domain``; ``proxy`` (host, port) of the edge's listener for ``transport``
    (``tls``; ``tcp`` works the same way); ``instance`` the UA's instance-id (``urn:uuid:...``
    or the bare UUID); ``listen_port`` baresip's own UDP/TCP port (TLS on the next one).
    """

    aor: str
    proxy: tuple[str, int]
    ca_file: str
    instance: str
    listen_port: int
    regint: int = 300
    transport: str = "tls"
    outbound: bool = True
    auth_pass: str | None = None
    modules_dir: str = MODULES_DIR
    # additions for the UE drivers (conformance/uecert/drivers/baresip.py): the loopback address
    # it listens on, the digest username when it is not the AOR's user part, more modules
    # (e.g. menu.so, ctrl_tcp.so) and more config lines (name, value)
    local_address: str = "127.0.0.1"
    auth_user: str | None = None
    extra_modules: tuple[str, ...] = ()
    extra_config: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if not self.aor.startswith("sip:") or "@" not in self.aor:
            raise ValueError(f"aor must be sip:user@domain, not {self.aor!r}")
        if self.transport not in ("udp", "tcp", "tls"):
            raise ValueError(f"baresip 1.0 has no SIP transport {self.transport!r}")
        instance_uuid(self.instance)             # raises on a malformed instance-id

    @property
    def user_at_domain(self) -> str:
        """How baresip names the account in its log lines (``user@domain``)."""
        return self.aor[len("sip:"):]


def instance_uuid(instance: str) -> str:
    """The bare UUID of ``urn:uuid:X`` or ``X`` (canonical lower-case form)."""
    value = instance.strip()
    if value.lower().startswith("urn:uuid:"):
        value = value[len("urn:uuid:"):]
    return str(uuidlib.UUID(value))


def config_text(acc: BaresipAccount) -> str:
    local = f"[{acc.local_address}]" if ":" in acc.local_address else acc.local_address
    lines = [
        "# written by conformance.interop.baresip: registration only, no audio, no UI",
        "poll_method\t\tepoll",
        f"sip_listen\t\t{local}:{acc.listen_port}",
        *([f"sip_cafile\t\t{acc.ca_file}"] if acc.ca_file else []),   # "": none (udp/tcp)
        f"net_interface\t\t{acc.local_address}",
        "call_max_calls\t\t1",
        f"module_path\t\t{acc.modules_dir}",
        "module\t\t\tg711.so",
        "module_tmp\t\tuuid.so",
        "module_tmp\t\taccount.so",
    ]
    lines += [f"module\t\t\t{name}" for name in acc.extra_modules]
    lines += [f"{name}\t\t{value}" for name, value in acc.extra_config]
    return "\n".join(lines) + "\n"


def accounts_text(acc: BaresipAccount) -> str:
    host, port = acc.proxy
    host_part = f"[{host}]" if ":" in host else host
    params = [f'outbound="sip:{host_part}:{port};transport={acc.transport}"']
    if acc.outbound:
        params.append("sipnat=outbound")
    params.append(f"regint={acc.regint}")
    params += ["audio_codecs=pcmu", "mwi=no", "answermode=manual"]
    if acc.auth_pass is not None:
        params.append(f"auth_pass={acc.auth_pass}")
    if acc.auth_user is not None:
        params.append(f"auth_user={acc.auth_user}")
    return f"<{acc.aor};transport={acc.transport}>;" + ";".join(params) + "\n"


def files(acc: BaresipAccount) -> dict[str, str]:
    """File name -> text, for the folder given to ``baresip -f``."""
    return {"config": config_text(acc), "accounts": accounts_text(acc), "uuid": instance_uuid(acc.instance)}


# -- reading baresip's output back --------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: core/reg.c: "%s: {%d/%s/%s} %u %r (%s) [%u binding%s]" (account, index/transport/af, status,
#: reason, server's User-Agent/Server, bindings in the 2xx)
_REG_OK = re.compile(r"^(?P<account>\S+): \{(?P<index>\d+)/(?P<transport>[A-Z]+)/(?P<af>v[46])\} "
                     r"(?P<status>\d{3}) (?P<reason>.*?) \((?P<server>.*)\) \[(?P<bindings>\d+) binding")
#: "reg: %s: %u %r (%s)" (a non-2xx final response) and "reg: %s: Register: %m" (no response)
_REG_FAIL = re.compile(r"^reg: (?P<account>\S+): (?:(?P<status>\d{3}) (?P<reason>.*)|Register: (?P<error>.*))$")
#: a SIP trace block (-s): "#", "TLS 127.0.0.1:a -> 127.0.0.1:b", the message, then the colour reset
_TRACE_HEAD = re.compile(r"^(?P<transport>[A-Z]+) (?P<src>\S+) -> (?P<dst>\S+)$")
_RESET = "\x1b[;m"


@dataclass
class TracedMessage:
    """One SIP message from baresip's trace (``-s``): ``outgoing`` when baresip sent it."""

    transport: str
    src: str
    dst: str
    text: str                                   # CRLF line ends, as on the wire
    outgoing: bool = False

    @property
    def first_line(self) -> str:
        return self.text.split("\r\n", 1)[0]

    def headers(self, name: str) -> list[str]:
        out = []
        for line in self.text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                out.append(value.strip())
        return out


@dataclass
class RegEvent:
    """A registration outcome baresip logged: ``status`` (None: no response, ``error`` says why)."""

    account: str
    status: int | None
    reason: str = ""
    transport: str = ""
    bindings: int | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class BaresipLog:
    """What baresip printed, read back: registration outcomes and the traced SIP messages."""

    events: list[RegEvent] = field(default_factory=list)
    messages: list[TracedMessage] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def first(self, account: str) -> RegEvent | None:
        return next((e for e in self.events if e.account == account), None)

    def sent(self, method: str) -> list[TracedMessage]:
        return [m for m in self.messages if m.outgoing and m.first_line.startswith(method + " ")]


class LogReader:
    """Feed baresip's stdout (with ``-s``) line by line; ``log`` grows as lines come.

    A trace block is ``ESC[36;1m#``, ``TLS src -> dst``, the message's lines (CR kept), and a line
    starting with ``ESC[;m``; a message is outgoing when its destination is the edge (``proxy``)."""

    def __init__(self, proxy: tuple[str, int]):
        host, port = proxy
        self._proxy = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.log = BaresipLog()
        self._block: list[str] | None = None
        self._head: re.Match | None = None

    def feed_line(self, raw: str) -> RegEvent | None:
        """One line (without its newline); returns a registration outcome when it is one."""
        raw = raw.rstrip("\n")
        if self._block is not None:
            if _RESET in raw:                       # the trace block ends (a body may end just
                before, _, raw = raw.partition(_RESET)   # before the reset); the line may go on
                if before:
                    self._block.append(before)
                self._close_block(body_end=bool(before))
                if not raw:
                    return None
            elif self._head is None:
                self._head = _TRACE_HEAD.match(_ANSI.sub("", raw).strip())
                if self._head is None:              # not a trace after all
                    self._block = None
                return None
            else:
                self._block.append(raw)             # message lines keep their CR
                return None
        line = _ANSI.sub("", raw).rstrip("\r")
        self.log.lines.append(line)
        if line == "#" and raw.startswith("\x1b["):
            self._block, self._head = [], None
            return None
        ok = _REG_OK.match(line)
        if ok:
            ev = RegEvent(ok["account"], int(ok["status"]), ok["reason"], ok["transport"], int(ok["bindings"]))
            self.log.events.append(ev)
            return ev
        fail = _REG_FAIL.match(line)
        if fail:
            ev = RegEvent(fail["account"], int(fail["status"]) if fail["status"] else None,
                          fail["reason"] or "", error=fail["error"] or "")
            self.log.events.append(ev)
            return ev
        return None

    def _close_block(self, body_end: bool = False) -> None:
        """``body_end``: the reset came right after a body's last byte (no line end to add)."""
        head, body = self._head, self._block or []
        self._block, self._head = None, None
        if head is None:
            return
        text = "\r\n".join(line.rstrip("\r") for line in body)    # CRLF whether or not CR survived
        if not body_end:
            text += "\r\n"
        self.log.messages.append(TracedMessage(head["transport"], head["src"], head["dst"], text,
                                               outgoing=head["dst"] == self._proxy))


def read_log(text: str, proxy: tuple[str, int]) -> BaresipLog:
    reader = LogReader(proxy)
    for line in text.split("\n"):
        reader.feed_line(line)
    return reader.log
