"""REGISTER steps with IMS AKA and sec-agree (the UE side of TS 33.203 / TS 24.229 5.1.1.5).

``register: {flow: F, sec_agree: true}`` sends the unprotected REGISTER with Security-Client,
``Require: sec-agree`` and ``Proxy-Require: sec-agree`` (RFC 3329 §2.3.1) to the SUT's ordinary
port.  Its Authorization depends on the flow's previous challenge (TS 24.229 5.1.1.5.1): none
yet, or a good one: empty nonce and response (5.1.1.2.2 a)); a MAC failure: the old nonce with
an empty ``response`` and no ``auts``; an SQN failure: ``auts`` with the empty password
(RFC 3310 §3.4).  The 401 is then read: WWW-Authenticate (AKAv1-MD5 nonce = RAND || AUTN), the
AUTN checked by the UE's USIM (MAC, then SQN range), Security-Server parsed; with both good the
four SAs are derived (CK/IK from AKA, alg/ealg from the server) and the temporary set installed.
With ``auth: aka`` the step goes on by itself (resync, then the protected REGISTER) and judges
the last response.

Any REGISTER step on a flow that has an SA set goes protected: ESP from port_uc to port_ps with
the same Call-ID, Security-Client as before, Security-Verify mirroring Security-Server
(RFC 3329 §2.3.1) and the Digest response with RES as raw octets (RFC 3310 §3.3, RFC 4169 §3).
Negative stimuli: ``security_verify: absent | modified``, ``unprotected: true``,
``esp: replay | tamper_icv | wrong_spi``, ``aka_response: hex_text | flipped``,
``security_client: changed`` (another spi-c than the first REGISTER's, TP_SEC_006);
``security_client: renewed`` (new spi-c, spi-s and port-c, the same port-s: a re-registration
announcing a new SA set, TP_SEC_017); on the unprotected REGISTER ``security_client_text: TEXT``
(a garbage Security-Client in place of the UE's, TP_SEC_020);
``via_port: uc`` (the protected REGISTER's Via names port_uc, not port_us: a UE that pairs
classically and expects its responses over SA 2);
on the unprotected REGISTER ``replay_authorization: true`` (the flow's last Authorization again,
TP_SEC_012) and ``integrity_protected: yes`` (a UE-forged parameter, TP_SEC_013).

Every unprotected REGISTER after the flow's first carries "new values for spi_uc, spi_us and
port_uc" (TS 24.229 5.1.1.5.1, after a MAC or SQN failure; the same for any new SA set): a new
protected client port is bound for it, the protected server port is kept (TS 34.229-1 §8.2).
"""

from __future__ import annotations

import base64
import secrets
import socket
from dataclasses import replace

from ..cases.model import StepSpec
from ..ims.aka import SqnState, check_challenge, split_nonce
from ..ims.digest import build_credentials
from ..ims.endpoint import EspEndpoint
from ..ims.errors import AkaError, MacFailure, SecAgreeError, SqnOutOfRange
from ..ims.sa import derive_sas
from ..ims.secagree import IpsecMechanism, client_mechanisms, format_security, mirror
from ..ims.subscriber import DEFAULT_SUBSCRIBERS, lookup, parse_subscriber
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import SecurityMechanism, format_auth, parse_auth, parse_security
from ..sip.message import Response
from ..meaning.verdict import INCONCLUSIVE, Finding
from .encapsec import encap_flow_sec
from .espflow import EspFlowEndpoint
from .espstate import EspState
from .esptcp import tcp_flow_sec
from .flowsec import FlowSec, SecUnavailable, Usim, esp_hub
from .registration import RegistrationState, dialog_for, register_options
from .transport import UdpEndpoint
from ..ue.model import UE, FlowState, build_register, new_branch

MAX_ROUNDS = 3


def usim_for(run, ue: UE) -> Usim:
    usim = getattr(ue, "usim", None)
    if usim is not None:
        return usim
    table = run.target.sec_agree.subscribers or DEFAULT_SUBSCRIBERS
    sub = lookup(table, ue.impi) or DEFAULT_SUBSCRIBERS["*"]
    spec = run.case.ues[ue.name]
    override = dict(spec.aka or {})
    sqn_ms = override.pop("sqn_ms", None)
    if override:
        sub = parse_subscriber(override, base=sub)
    sqns = SqnState()
    if sqn_ms is not None:
        sqns.accept(int(sqn_ms))
    ue.usim = Usim(sub.algo(), sqns)
    return ue.usim


def renew_port_uc(run, flow: FlowState, sec: FlowSec) -> None:
    """A new protected client port for a new Security-Client (TS 24.229 5.1.1.5.1: "new values
    for spi_uc, spi_us and port_uc"); the old port's socket is closed once the new one is bound,
    so the two differ."""
    if hasattr(sec.esp, "renew_port_uc"):              # TCP over ESP (engine/esptcp.py)
        sec.port_uc = sec.esp.renew_port_uc()
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((flow.local_ip, 0))
    s.setblocking(False)
    name = f"{flow.name}~uc"
    old = run.endpoints.get(name)
    ep = UdpEndpoint.adopt(s, run.on_wire)
    ep.owned = True
    run.endpoints[name] = ep
    if old is not None:
        old.close()
    sec.port_uc = s.getsockname()[1]
    sec.esp.local = (flow.local_ip, sec.port_uc)
    sec.esp.clear_uc = s


def flow_sec(run, flow: FlowState, step: StepSpec) -> FlowSec:
    """The flow's sec-agree state; on first use reserve port_uc/port_us and open its mailbox."""
    if flow.sec is not None:
        return flow.sec
    if step.options.get("udp_encap"):
        return encap_flow_sec(run, flow, step)         # RFC 3948 ESP-in-UDP (mod=UDP-enc-tun)
    if flow.transport != "udp":
        return tcp_flow_sec(run, flow, step)           # TCP over ESP through the TUN gateway
    hub = esp_hub()
    socks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((flow.local_ip, 0))
        s.setblocking(False)
        socks.append(s)
    port_uc, port_us = socks[0].getsockname()[1], socks[1].getsockname()[1]
    # the reserving sockets are ordinary endpoints too: anything sent in clear to them is seen
    for name, s in ((f"{flow.name}~uc", socks[0]), (f"{flow.name}~us", socks[1])):
        ep = UdpEndpoint.adopt(s, run.on_wire)
        ep.owned = True
        run.endpoints[name] = ep
    mailbox = hub.mailbox(f"tester {run.item_id} {flow.name}")
    seen: list[int] = []

    def on_packet(direction: str, packet: bytes) -> None:
        if direction == "received" and len(packet) >= 24:
            seen.append(int.from_bytes(packet[(packet[0] & 0x0F) * 4:][:4], "big"))
        run.on_esp_packet(direction, packet)

    esp = EspFlowEndpoint(mailbox, flow.local_ip, port_uc, port_us, socks[0], run.on_wire,
                          on_packet, lambda: hub.new_spi())
    offer = [tuple(p) for p in (step.options.get("algorithms") or run.target.sec_agree.offer)]
    flow.sec = FlowSec(port_uc, port_us, esp, offer, esp_spis=seen)
    flow.port_uc, flow.port_us = port_uc, port_us
    run.endpoints[f"{flow.name}~esp"] = esp
    return flow.sec


# -- the step ---------------------------------------------------------------------------------
def sec_register_step(run, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    try:
        sec = flow_sec(run, flow, step)
    except SecUnavailable as exc:
        result.note = str(exc)
        result.findings.append(Finding(
            check="ESP available", level="MUST", ref="", outcome=INCONCLUSIVE,
            expected="raw ESP sockets (root) and UDP", observed=str(exc), step=step.name,
            location=result.location))
        return
    o = step.options
    if "algorithms" in o:
        sec.offer = [tuple(p) for p in o["algorithms"]]
    auto = o.get("auth") == "aka"
    unprotected = bool(o.get("sec_agree")) or sec.sas is None
    for _ in range(MAX_ROUNDS + 1):
        if unprotected:
            response, request, req_idx, resp_idx, why = _initial(run, step, ue, flow, sec)
        else:
            response, request, req_idx, resp_idx, why = _protected(run, step, ue, flow, sec)
        if not auto or response is None:
            break
        if response.status == 401 and sec.sas is not None and sec.aka is not None:
            unprotected = False                      # answer the challenge over the new SAs
            continue
        if response.status == 401 and isinstance(sec.aka_error, SqnOutOfRange):
            unprotected = True                       # resynchronise (RFC 3310 §3.4)
            continue
        break
    result.request_index, result.response_index = req_idx, resp_idx
    ctx = run.context(ue, request, response, why)
    if response is None:
        result.note = why
    elif 200 <= response.status < 300:
        run.state(RegistrationState).remember_2xx(flow.name, response)
    run.judge(step, result, ctx, resp_idx)


def _base_request(run, step, ue, flow, sec, *, initial: bool):
    opts = register_options(run, step, ue)
    opts.authorization = False
    if "sec-agree" not in opts.supported:
        opts.supported = list(opts.supported) + ["sec-agree"]     # RFC 3329 §2.3.2 SHOULD
    for tag in ("sec-agree",):
        if tag not in opts.require:
            opts.require.append(tag)
    dialog_for(run, step, flow)
    branch = new_branch()
    request = build_register(ue, flow, opts, branch=branch)
    if not initial:
        # TS 24.229 5.1.1.5.1: Via with the protected server port (the P-CSCF answers there);
        # ``via_port: uc``: the protected client port, as a UE that pairs classically does (it
        # expects its responses on the request's SA pair, port_ps -> port_uc over SA 2)
        port = sec.port_uc if step.options.get("via_port") == "uc" else sec.port_us
        request.set("Via", f"SIP/2.0/{flow.transport.upper()} {flow.host_port(port)};branch={branch}")
    request.add("Proxy-Require", "sec-agree")
    return request


def _initial(run, step, ue, flow, sec: FlowSec):
    """The unprotected REGISTER (initial, after a MAC failure, or with auts)."""
    hub = esp_hub()
    usim = usim_for(run, ue)
    for spi, _ in list(sec.esp.mailbox.spis):
        if spi not in sec.changed_spis:          # still watched (TP_SEC_006)
            sec.esp.mailbox.release(spi)
    if sec.client:
        # TS 24.229 5.1.1.5.1: "new values for spi_uc, spi_us and port_uc"; port_us is kept
        renew_port_uc(run, flow, sec)
    spi_c = hub.new_spi()
    sec.client = client_mechanisms(sec.offer, port_c=sec.port_uc, port_s=sec.port_us,
                                   spi_c=spi_c, spi_s=hub.new_spi(avoid={spi_c}),
                                   modes=getattr(sec.esp, "modes", None))
    ep = run.endpoint(flow)
    flow.port_uc, flow.port_us = sec.port_uc, sec.port_us
    request = _base_request(run, step, ue, flow, sec, initial=True)
    uri = f"sip:{ue.domain}"
    if sec.challenge is not None and isinstance(sec.aka_error, MacFailure):
        params = {"username": ue.impi, "realm": sec.challenge.get("realm") or "",
                  "nonce": sec.challenge.get("nonce") or "", "uri": uri, "response": "",
                  "algorithm": sec.challenge.get("algorithm") or "AKAv1-MD5"}
    elif sec.challenge is not None and isinstance(sec.aka_error, SqnOutOfRange):
        sec.nc = 1
        params = build_credentials(sec.challenge, username=ue.impi, uri=uri, method="REGISTER",
                                   password=b"", cnonce=secrets.token_hex(8), nc=1,
                                   auts=base64.b64encode(sec.aka_error.auts).decode())
    else:
        params = {"username": ue.impi, "realm": ue.domain, "uri": uri, "nonce": "",
                  "response": ""}                  # TS 24.229 5.1.1.2.2 a)
    if step.options.get("integrity_protected") is not None:
        params["integrity-protected"] = str(step.options["integrity_protected"])   # TP_SEC_013 a)
    if step.options.get("replay_authorization") and sec.last_authorization:
        request.add("Authorization", sec.last_authorization)          # TP_SEC_012: old nonce and response
    else:
        request.add("Authorization", format_auth("Digest", params))
    # TP_SEC_020: a garbage Security-Client instead of the UE's own
    raw = step.options.get("security_client_text")
    request.add("Security-Client", str(raw) if raw is not None else format_security(sec.client))
    # the previous SA set (temporary or not) is abandoned with this request
    sec.sas, sec.established, sec.aka = None, False, None
    response, req_idx, resp_idx, why = run.exchange(flow.name, ep, request, step.options.get("timeout"))
    _read_challenge(run, ue, flow, sec, response, usim)
    return response, request, req_idx, resp_idx, why


def _read_challenge(run, ue, flow, sec: FlowSec, response: Response | None, usim: Usim) -> None:
    """What the UE makes of a 401: the AKA check and, if all is well, the temporary SA set."""
    sec.previous_nonce = sec.challenge.get("nonce") if sec.challenge is not None else None
    sec.aka, sec.aka_error, sec.aka_note = None, None, ""
    if response is not None and response.values("Security-Server"):
        sec.servers.append(", ".join(response.values("Security-Server")))
    if response is None or response.status != 401:
        sec.challenge = None
        return
    try:
        sec.challenge = parse_auth(response.get("WWW-Authenticate") or "")
    except ParseError as exc:
        sec.challenge, sec.aka_note = None, f"WWW-Authenticate unparseable: {exc}"
        return
    try:
        rand, autn, _ = split_nonce(sec.challenge.get("nonce") or "")
        sec.aka = check_challenge(usim.algo, rand, autn, usim.sqns)
        sec.aka_note = f"AUTN verified, SQN {sec.aka.sqn:#x}"
    except AkaError as exc:
        sec.aka_error, sec.aka_note = exc, str(exc)
        return
    try:
        raw = parse_security(response.values("Security-Server"))
        server = [IpsecMechanism.from_mechanism(m) for m in raw if m.name.lower() == "ipsec-3gpp"]
    except (ParseError, SecAgreeError) as exc:
        sec.aka_note += f"; Security-Server unusable: {exc}"
        return
    if not server:
        sec.aka_note += "; no ipsec-3gpp Security-Server"
        return
    chosen = server[0]
    mine = next((m for m in sec.client if m.pair == chosen.pair), None)
    if mine is None:
        sec.aka_note += f"; the server chose {chosen.alg}/{chosen.ealg}, not offered"
        return
    sec.server_raw, sec.server = raw, chosen
    pcscf_ip = run.sut[0]
    sec.sas = derive_sas(mine, chosen, ck=sec.aka.ck, ik=sec.aka.ik, ue_addr=flow.local_ip,
                         pcscf_addr=pcscf_ip)
    sec.nc = 0
    for sa in sec.sas.inbound("ue"):
        sec.esp.mailbox.claim(sa.spi)
    sec.esp.use(EspEndpoint(sec.sas, "ue"), (pcscf_ip, chosen.port_s))
    run.state(EspState).sa_sets.append(sec.sas)


def _protected(run, step, ue, flow, sec: FlowSec):
    """A REGISTER over the SA set (answering the challenge, or a refresh)."""
    o = step.options
    if sec.sas is None:
        raise LocalProtocolError(f"flow {flow.name} has no SA set: register it with sec_agree first")
    flow.port_uc, flow.port_us = sec.port_uc, sec.port_us
    request = _base_request(run, step, ue, flow, sec, initial=False)
    uri = f"sip:{ue.domain}"
    if sec.challenge is not None and sec.aka is not None:
        res = sec.aka.res
        mode = o.get("aka_response", "correct")
        if mode == "hex_text":
            res = res.hex().encode()               # the wrong convention (TP_SEC_008 b)
        elif mode == "flipped":
            res = bytes([res[0] ^ 0x01]) + res[1:]   # TP_SEC_008 c)
        sec.nc += 1
        params = build_credentials(sec.challenge, username=ue.impi, uri=uri, method="REGISTER",
                                   password=res, cnonce=secrets.token_hex(8), nc=sec.nc)
        request.add("Authorization", format_auth("Digest", params))
    client = sec.client
    if o.get("security_client") == "changed":
        # TP_SEC_006: another spi-c than REGISTER #1's; watched, so that ESP sent to it is seen
        spi = esp_hub().new_spi()
        sec.changed_spis.add(spi)
        sec.esp.mailbox.claim(spi)
        client = [replace(m, spi_c=spi) for m in sec.client]
    if o.get("security_client") == "renewed":
        # TP_SEC_017: a re-registration announcing a new SA set (new spi-c, spi-s and port-c, the
        # same port-s, TS 34.229-1 §8.2); the new SPIs are watched, the new port reserved
        hub = esp_hub()
        spi_c = hub.new_spi()
        spi_s = hub.new_spi(avoid={spi_c})
        for spi in (spi_c, spi_s):
            sec.changed_spis.add(spi)
            sec.esp.mailbox.claim(spi)
        reserve = socket.socket(socket.AF_INET6 if ":" in flow.local_ip else socket.AF_INET, socket.SOCK_DGRAM)
        reserve.bind((flow.local_ip, 0))
        reserve.setblocking(False)
        ep = UdpEndpoint.adopt(reserve, run.on_wire)     # closed with the run's endpoints
        ep.owned = True
        run.endpoints[f"{flow.name}~uc{len(sec.changed_spis)}"] = ep
        client = [replace(m, spi_c=spi_c, spi_s=spi_s, port_c=reserve.getsockname()[1]) for m in sec.client]
    request.add("Security-Client", format_security(client))
    verify = o.get("security_verify", "mirror")
    if verify == "mirror":
        request.add("Security-Verify", mirror(sec.server_raw))
    elif verify == "modified":
        # another spi-s than the server's (TP_SEC_005 c)
        changed = []
        for m in sec.server_raw:
            params = dict(m.params)
            if "spi-s" in params:
                params["spi-s"] = str((int(params["spi-s"]) % 0xFFFFFF00) + 1)
            changed.append(SecurityMechanism(m.name, params))
        request.add("Security-Verify", format_security(changed))
    esp = sec.esp
    if o.get("esp") == "replay":
        request = getattr(sec, "last_request", None) or request
    negative = bool(o.get("unprotected") or o.get("esp"))
    esp.mode = "unprotected" if o.get("unprotected") else o.get("esp")
    try:
        response, req_idx, resp_idx, why = run.exchange(flow.name, esp, request, o.get("timeout"),
                                                        dst=esp.pcscf)
    finally:
        esp.mode = None
    if request.get("Authorization"):
        sec.last_authorization = request.get("Authorization")
    if not negative:
        sec.last_request = request
        if response is not None and 200 <= response.status < 300:
            sec.established = True
    return response, request, req_idx, resp_idx, why


def sec_context(run, flow_name: str | None) -> dict:
    """What the sec-agree checks see about the step's flow (engine view, not on the wire)."""
    info: dict = {}
    if flow_name is None:
        return info
    try:
        _, flow = run.flow(flow_name)
    except LocalProtocolError:
        return info
    sec = flow.sec
    if sec is None:
        return info
    info.update(aka="ok" if sec.aka is not None else (
        "mac" if isinstance(sec.aka_error, MacFailure) else
        "sqn" if isinstance(sec.aka_error, SqnOutOfRange) else
        ("error" if sec.aka_error is not None else None)),
        aka_note=sec.aka_note, previous_nonce=sec.previous_nonce,
        offered=[list(p) for p in sec.offer], port_uc=sec.port_uc, port_us=sec.port_us,
        changed_spis=sorted(sec.changed_spis), esp_spis=list(sec.esp_spis),
        servers=list(sec.servers), res=sec.aka.res.hex() if sec.aka is not None else None)
    info["transport"] = flow.transport
    return info
