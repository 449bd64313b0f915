"""The real SUT's reg event package and GRUUs: Kamailio 5.6's "regevent" profile
(suts/kamailio/registrar.cfg -A WITH_REGEVENT: presence + presence_reginfo notifier fed by
pua_reginfo, Debian's kamailio-presence-modules; targets/kamailio-regevent.yaml).

A bounded smoke test over plain UDP sockets on 127.0.0.0/8: one UE instance registers two flows
(reg-id 1 and 2, Supported: outbound, gruu), subscribes to its own reg event from flow 1, and the
test records what Kamailio really sends: the GRUUs of the 2xx, the NOTIFYs (parsed with
conformance.sip.reginfo.parse_reginfo), where requests to the GRUUs go, and what a
de-registration, ``Contact: *`` and an unsubscribe produce. What it asserts is what
docs/certify-your-cscf.md ("Kamailio and reg-event/GRUU") states, the gaps included: the reginfo
contacts carry neither +sip.instance nor reg-id nor GRUUs, and every document is state="full"
version="0".

Same conventions as test_kamailio.py: Kamailio (with kamailio-presence-modules) is installed when
missing and root, else the test is skipped with the reason; it runs its own instance on the
fixed port 5076 with its own run dir and stops it. Run Kamailio tests under
``flock /tmp/heavy.lock`` (never two Kamailio runs at once).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.sip.headers import parse_contacts, parse_cseq, parse_name_addr
from conformance.sip.message import Request, Response, make_request, make_response, parse_message
from conformance.sip.reginfo import RegInfo, parse_reginfo
from kamailio_ports import kamailio_ports
from suite_runner import ROOT

KCTL = ROOT / "suts" / "kamailio" / "kamailioctl.sh"
SUT = ("127.0.0.1", 5076)
DOMAIN = "ims.test"
WAIT = 3.0          # bound of every wait for one message from Kamailio


def _installed() -> bool:
    return subprocess.run([str(KCTL), "installed", "regevent"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def regevent(tmp_path_factory):
    """The regevent profile running on 127.0.0.1:5076 (installed first if missing, as root)."""
    if not _installed():
        if os.geteuid() != 0:
            pytest.skip("Kamailio with kamailio-presence-modules is not installed and installing it needs "
                        "root: run suts/kamailio/kamailioctl.sh install as root")
        proc = subprocess.run([str(KCTL), "install"], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 and "not a Debian-like system" in proc.stderr:
            pytest.skip(f"Kamailio is not installed and cannot be installed here: {proc.stderr.strip()}")
        assert proc.returncode == 0 and _installed(), f"kamailioctl.sh install failed:\n{proc.stdout}{proc.stderr}"
    env = dict(os.environ, KAMAILIO_RUN_DIR=str(tmp_path_factory.mktemp("kamailio-run")))

    def ctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(KCTL), *args], capture_output=True, text=True, timeout=60, env=env)

    with kamailio_ports():  # not beside test_kamailio.py's table of this profile
        started = ctl("start", "regevent")
        assert started.returncode == 0, started.stderr
        try:
            yield
        finally:
            stopped = ctl("stop", "regevent")
            assert stopped.returncode == 0, stopped.stderr


@dataclass
class Endpoint:
    """One UDP socket of the test (a UE flow or the peer) that answers NOTIFY and MESSAGE 200."""

    name: str
    ip: str
    sock: socket.socket = field(init=False)
    received: list[Request | Response] = field(default_factory=list)

    def __post_init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ip, 0))

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    @property
    def hostport(self) -> str:
        return f"{self.ip}:{self.port}"

    def send(self, msg: Request | Response) -> None:
        self.sock.sendto(bytes(msg), SUT)

    def take(self) -> None:
        """One datagram: recorded (retransmissions of a request once), requests answered 200."""
        data, _ = self.sock.recvfrom(65535)
        msg = parse_message(data)
        if isinstance(msg, Request) and msg.method in ("NOTIFY", "MESSAGE"):
            ok = make_response(200, "OK", [(n, msg.get(n)) for n in ("Via", "From", "To", "Call-ID", "CSeq")])
            self.send(ok)
            if any(isinstance(m, Request) and m.get("Via") == msg.get("Via") for m in self.received):
                return  # a retransmission (our 200 crossed it)
        self.received.append(msg)


def pump(endpoints: list[Endpoint], until, what: str, timeout: float = WAIT):
    """Receive on every endpoint until until() gives a result (returned), at most timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        got = until()
        if got:
            return got
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {what} from Kamailio within {timeout} s; received: "
                        + "; ".join(f"{e.name}: {m.summary()}" for e in endpoints for m in e.received))
        ready, _, _ = select.select([e.sock for e in endpoints], [], [], left)
        for e in endpoints:
            if e.sock in ready:
                e.take()


def settle(endpoints: list[Endpoint], seconds: float = 0.5) -> None:
    """Take whatever else arrives within a short bounded time (answers late NOTIFYs)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([e.sock for e in endpoints], [], [], left)
        for e in endpoints:
            if e.sock in ready:
                e.take()


def response_to(ep: Endpoint, call_id: str, cseq: int):
    def find():
        return next((m for m in ep.received if isinstance(m, Response) and m.get("Call-ID") == call_id
                     and parse_cseq(m.get("CSeq"))[0] == cseq and m.status >= 200), None)
    return find


def notifies(ep: Endpoint, call_id: str) -> list[Request]:
    return [m for m in ep.received if isinstance(m, Request) and m.method == "NOTIFY"
            and m.get("Call-ID") == call_id]


class Ue:
    """The AOR and instance of one UE; its flows register over their own sockets."""

    def __init__(self):
        self.user = f"regev-{uuid.uuid4().hex[:8]}"
        self.aor = f"sip:{self.user}@{DOMAIN}"
        self.instance = f"<urn:uuid:{uuid.uuid4()}>"

    def contact_uri(self, ep: Endpoint) -> str:
        return f"sip:{self.user}@{ep.hostport};ob"

    def register(self, ep: Endpoint, reg_id: int, call_id: str, cseq: int, expires: int = 600) -> Request:
        return make_request("REGISTER", f"sip:{DOMAIN}", [
            ("Via", f"SIP/2.0/UDP {ep.hostport};rport;branch=z9hG4bK{uuid.uuid4().hex}"),
            ("Max-Forwards", "70"),
            ("From", f"<{self.aor}>;tag={uuid.uuid4().hex[:10]}"),
            ("To", f"<{self.aor}>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} REGISTER"),
            ("Supported", "outbound, path, gruu"),
            ("Contact", f'<{self.contact_uri(ep)}>;+sip.instance="{self.instance}";reg-id={reg_id};expires={expires}'),
            ("Content-Length", "0"),
        ])

    def unregister_all(self, ep: Endpoint, call_id: str, cseq: int) -> Request:
        return make_request("REGISTER", f"sip:{DOMAIN}", [
            ("Via", f"SIP/2.0/UDP {ep.hostport};rport;branch=z9hG4bK{uuid.uuid4().hex}"),
            ("Max-Forwards", "70"),
            ("From", f"<{self.aor}>;tag={uuid.uuid4().hex[:10]}"),
            ("To", f"<{self.aor}>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} REGISTER"),
            ("Contact", "*"),
            ("Expires", "0"),
            ("Content-Length", "0"),
        ])

    def subscribe(self, ep: Endpoint, call_id: str, cseq: int, expires: int, to_tag: str | None = None) -> Request:
        return make_request("SUBSCRIBE", self.aor, [
            ("Via", f"SIP/2.0/UDP {ep.hostport};rport;branch=z9hG4bK{uuid.uuid4().hex}"),
            ("Max-Forwards", "70"),
            ("From", f"<{self.aor}>;tag=sub-{call_id}"),
            ("To", f"<{self.aor}>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} SUBSCRIBE"),
            ("Event", "reg"),
            ("Accept", "application/reginfo+xml"),
            ("Expires", str(expires)),
            ("Supported", "outbound"),
            ("Contact", f"<{self.contact_uri(ep)}>"),
            ("Content-Length", "0"),
        ])


def message(peer: Endpoint, uri: str) -> Request:
    return make_request("MESSAGE", uri, [
        ("Via", f"SIP/2.0/UDP {peer.hostport};rport;branch=z9hG4bK{uuid.uuid4().hex}"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:peer@{DOMAIN}>;tag={uuid.uuid4().hex[:10]}"),
        ("To", f"<{uri}>"),
        ("Call-ID", uuid.uuid4().hex),
        ("CSeq", "1 MESSAGE"),
        ("Content-Type", "text/plain"),
        ("Content-Length", "2"),
    ], b"hi")


def body_of(notify: Request) -> RegInfo:
    assert notify.get("Event") == "reg"
    assert notify.get("Content-Type") == "application/reginfo+xml"
    return parse_reginfo(notify.body)


def test_kamailio_regevent_notifies_flows_and_hands_out_gruus(regevent):
    ue = Ue()
    flow1, flow2 = Endpoint("flow1", "127.0.0.11"), Endpoint("flow2", "127.0.0.12")
    peer = Endpoint("peer", "127.0.0.30")
    eps = [flow1, flow2, peer]
    try:
        _run(ue, flow1, flow2, peer, eps)
    finally:
        for e in eps:
            e.sock.close()


def _run(ue: Ue, flow1: Endpoint, flow2: Endpoint, peer: Endpoint, eps: list[Endpoint]) -> None:
    # -- two flows of one instance, with GRUU (RFC 5627 §5 / the registrar module's gruu_enabled)
    flow1.send(ue.register(flow1, 1, "reg-1", 1))
    ok1 = pump(eps, response_to(flow1, "reg-1", 1), "2xx to the REGISTER of flow 1")
    flow2.send(ue.register(flow2, 2, "reg-2", 1))
    ok2 = pump(eps, response_to(flow2, "reg-2", 1), "2xx to the REGISTER of flow 2")
    assert ok1.status == ok2.status == 200
    assert "outbound" in ok2.values("Require")
    bound = {c.uri and str(c.uri): c for c in parse_contacts(ok2)}
    assert set(bound) == {ue.contact_uri(flow1), ue.contact_uri(flow2)}
    c1, c2 = bound[ue.contact_uri(flow1)], bound[ue.contact_uri(flow2)]
    assert (c1.instance, c1.reg_id, c2.instance, c2.reg_id) == (ue.instance, "1", ue.instance, "2")
    pub1, pub2 = c1.param("pub-gruu"), c2.param("pub-gruu")
    temp1, temp2 = c1.param("temp-gruu"), c2.param("temp-gruu")
    # one pub-gruu per AOR + instance: the AOR with gr=<the instance URN>, the same for both flows
    assert pub1 == pub2 == f'"{ue.aor};gr={ue.instance[1:-1]}"'
    # a temp-gruu per binding (Kamailio: "uloc-<sruid>@domain;gr"), not the same for the two flows
    assert temp1 and temp2 and temp1 != temp2
    assert temp1.endswith(f'@{DOMAIN};gr"') and temp1.startswith('"sip:uloc-')
    # flow 1's 2xx lists its binding with the same GRUUs
    first = parse_contacts(ok1)
    assert [(str(c.uri), c.param("pub-gruu"), c.param("temp-gruu")) for c in first] == \
        [(ue.contact_uri(flow1), pub1, temp1)]

    # -- a request to the pub-gruu reaches one flow of the instance; to a temp-gruu, its own flow
    def delivered(uri: str):
        before = {e.name: len(e.received) for e in eps}
        peer.send(message(peer, uri))
        answer = pump(eps, lambda: next((m for m in peer.received[before["peer"]:] if isinstance(m, Response)
                                         and m.status >= 200), None), f"final response to MESSAGE {uri}")
        settle(eps, 0.3)
        flows = [e.name for e in (flow1, flow2) if any(isinstance(m, Request) and m.method == "MESSAGE"
                                                        for m in e.received[before[e.name]:])]
        return answer.status, flows

    status, flows = delivered(pub1.strip('"'))
    assert status == 200 and len(flows) == 1, (status, flows)
    assert delivered(temp2.strip('"')) == (200, ["flow2"])
    assert delivered(temp1.strip('"')) == (200, ["flow1"])
    # an unknown GRUU of the domain: Kamailio answers 480 (lookup() finds no binding), not 404
    assert delivered(f"{ue.aor};gr=urn:uuid:{uuid.uuid4()}") == (480, [])

    # -- the config lets only the AOR itself subscribe (presence_reginfo authorizes nobody)
    other = ue.subscribe(flow1, "sub-other", 1, 600)
    other.headers = [(n, f"<sip:someone-else@{DOMAIN}>;tag=x1" if n == "From" else v) for n, v in other.headers]
    flow1.send(other)
    assert pump(eps, response_to(flow1, "sub-other", 1), "response to another user's SUBSCRIBE").status == 403

    # -- SUBSCRIBE Event: reg from flow 1: 200 (RFC 6665), then a NOTIFY with both contacts
    flow1.send(ue.subscribe(flow1, "sub-1", 1, 600))
    ok = pump(eps, response_to(flow1, "sub-1", 1), "response to the SUBSCRIBE")
    assert ok.status == 200, ok.summary()
    to_tag = parse_name_addr(ok.get("To")).tag
    assert to_tag and ok.get("Expires") == "600"
    first_notify = pump(eps, lambda: notifies(flow1, "sub-1")[:1], "NOTIFY after the SUBSCRIBE")[0]
    assert first_notify.uri == ue.contact_uri(flow1)
    assert first_notify.get("Subscription-State").startswith("active")
    info = body_of(first_notify)
    assert (info.state, info.version) == ("full", 0)
    (reg,) = info.registrations
    assert (reg.aor, reg.state) == (ue.aor, "active")
    by_uri = {c.uri: c for c in reg.contacts}
    # Both flows, except in Kamailio's race (expected/kamailio-regevent.yaml, REGEV-001/003
    # "intermittent"): pua_reginfo's two PUBLISHes can be stored out of order, and the NOTIFY then
    # carries the document of the first REGISTER alone.
    both = {ue.contact_uri(flow1): "reg-1", ue.contact_uri(flow2): "reg-2"}
    assert by_uri and set(by_uri) <= set(both), set(by_uri)
    assert {c.state for c in reg.contacts} == {"active"}
    assert {u: c.callid for u, c in by_uri.items()} == {u: both[u] for u in by_uri}
    # what presence_reginfo/pua_reginfo do not show: neither the instance nor the reg-id of a flow
    # (no <unknown-param>), nor its GRUUs (no gruuinfo elements)
    for c in reg.contacts:
        assert (c.instance, c.reg_id, c.pub_gruu, c.temp_gruus, c.unknown_params) == (None, None, None, (), {})

    # -- de-registering flow 2: a NOTIFY, still full state and version 0, flow 2 terminated
    seen = len(notifies(flow1, "sub-1"))
    flow2.send(ue.register(flow2, 2, "reg-2", 2, expires=0))
    assert pump(eps, response_to(flow2, "reg-2", 2), "2xx to the de-registration").status == 200
    after = pump(eps, lambda: notifies(flow1, "sub-1")[seen:], "NOTIFY after the de-registration")[0]
    info = body_of(after)
    assert (info.state, info.version) == ("full", 0)
    (reg,) = info.registrations
    states = {c.uri: (c.state, c.event) for c in reg.contacts}
    assert reg.state == "active"
    assert states == {ue.contact_uri(flow1): ("active", "registered"),
                      ue.contact_uri(flow2): ("terminated", "unregistered")}

    # -- Contact: * ends the last binding: a NOTIFY shows the registration terminated
    seen = len(notifies(flow1, "sub-1"))
    flow1.send(ue.unregister_all(flow1, "reg-1", 5))
    assert pump(eps, response_to(flow1, "reg-1", 5), "2xx to Contact: *").status == 200
    ended = pump(eps, lambda: notifies(flow1, "sub-1")[seen:], "NOTIFY after Contact: *")[0]
    (reg,) = body_of(ended).registrations
    assert reg.state == "terminated"
    assert [(c.uri, c.state, c.event) for c in reg.contacts] == \
        [(ue.contact_uri(flow1), "terminated", "unregistered")]
    settle(eps)

    # -- unsubscribe: 200, then a final NOTIFY with Subscription-State terminated
    seen = len(notifies(flow1, "sub-1"))
    flow1.send(ue.subscribe(flow1, "sub-1", 2, 0, to_tag=to_tag))
    assert pump(eps, response_to(flow1, "sub-1", 2), "response to the unsubscribe").status == 200
    last = pump(eps, lambda: notifies(flow1, "sub-1")[seen:], "final NOTIFY")[0]
    assert last.get("Subscription-State").startswith("terminated")
    body_of(last)  # still a reginfo document the suite's parser accepts
