"""IMS AKA and sec-agree checks (TS 33.203, TS 24.229 5.1.1.5, RFC 3310, RFC 3329, RFC 4303).

They read the response and ``ctx.sec``, the engine's view of the step's flow: the UE's AKA
verdict on the last challenge (``aka``: ok / mac / sqn), what it offered, and the ESP SA each
protected message came over.
"""

from __future__ import annotations

from ...ims.aka import split_nonce
from ...ims.errors import AkaError, SecAgreeError
from ...ims.secagree import IpsecMechanism
from ...sip.errors import ParseError
from ...sip.headers import parse_auth, parse_option_tags, parse_security
from .context import CheckContext, Observation
from .kind import NO_ARGS, CheckKind


def _no_response(label: str, expected: str, ctx: CheckContext) -> list[Observation]:
    return [Observation(label, None, expected, ctx.no_response_reason)]


def aka_challenge_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """A 401 carrying an AKAv1-MD5 challenge the UE can use (TP_SEC_001, 003, 011)."""
    r = ctx.response
    if r is None:
        return _no_response("AKA challenge", "a 401 with WWW-Authenticate", ctx)
    out: list[Observation] = []
    value = r.get("WWW-Authenticate")
    out.append(Observation("WWW-Authenticate in the 401", value is not None and r.status == 401,
                           "a 401 with WWW-Authenticate (RFC 3261 §22.2)",
                           f"{r.status}, WWW-Authenticate {'present' if value else 'absent'}"))
    if value is None:
        return out
    try:
        auth = parse_auth(value)
    except ParseError as exc:
        return out + [Observation("WWW-Authenticate", False, "a Digest challenge", f"unparseable: {exc}")]
    alg = auth.get("algorithm") or ""
    out.append(Observation("algorithm=AKAv1-MD5", alg.lower().startswith("akav1-md5"),
                           "algorithm=AKAv1-MD5 (RFC 3310 §3.1: without it, MD5 and no AKA)",
                           f"algorithm={alg or '(absent)'}"))
    out.append(Observation("qop", bool(auth.get("qop")),
                           "a qop parameter (RFC 3261 §22.4 item 8)", f"qop={auth.get('qop')!r}"))
    try:
        split_nonce(auth.get("nonce") or "")
        nonce_ok, seen = True, "RAND || AUTN"
    except AkaError as exc:
        nonce_ok, seen = False, str(exc)
    out.append(Observation("nonce = base64(RAND || AUTN)", nonce_ok,
                           "at least 32 octets RAND || AUTN (RFC 3310 §3.2)", seen))
    # ck/ik towards the UE: TS 33.203 7.2 [M], recorded by sec_response: {keys_hidden: true}
    want = args.get("network", "authentic")
    aka = ctx.sec.get("aka")
    note = ctx.sec.get("aka_note") or "no AKA result"
    if want == "authentic":
        out.append(Observation("AUTN authenticates the network", None if aka is None and not note else aka == "ok",
                               "MAC-A = XMAC-A and a fresh SQN (RFC 3310 §3.3)", note))
    elif want == "rejected":
        out.append(Observation("the UE rejects the network (MAC failure)", aka == "mac",
                               "MAC-A differs from XMAC-A (the UE holds another K)", note))
    elif want == "stale":
        out.append(Observation("SQN out of the UE's range", aka == "sqn",
                               "an SQN the UE refuses, so that it resynchronises", note))
    if args.get("new_nonce"):
        prev = ctx.sec.get("previous_nonce")
        out.append(Observation("a new nonce", bool(prev) and auth.get("nonce") != prev,
                               "a nonce other than the previous challenge's (RFC 3310 §3.2)",
                               "the same nonce" if auth.get("nonce") == prev else "a new nonce"))
    return out


def security_server_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """Security-Server with what the four SAs need, alg/ealg from the UE's offer (TP_SEC_001)."""
    r = ctx.response
    if r is None:
        return _no_response("Security-Server", "Security-Server in the response", ctx)
    values = r.values("Security-Server")
    if not values:
        return [Observation("Security-Server", False,
                            "Security-Server with spi-c, spi-s, port-c, port-s, alg (TS 24.229 5.1.1.5.1)",
                            f"{r.status} without Security-Server")]
    try:
        mechs = [IpsecMechanism.from_mechanism(m) for m in parse_security(values)
                 if m.name.lower() == "ipsec-3gpp"]
    except (ParseError, SecAgreeError) as exc:
        return [Observation("Security-Server", False, "usable ipsec-3gpp parameters", str(exc))]
    out = [Observation("Security-Server", bool(mechs),
                       "an ipsec-3gpp entry with spi-c, spi-s, port-c, port-s, alg (TS 24.229 5.1.1.5.1)",
                       "; ".join(str(m) for m in mechs) or "no ipsec-3gpp entry")]
    offered = [tuple(p) for p in ctx.sec.get("offered") or []]
    if mechs and offered and args.get("from_client", True):
        out.append(Observation("alg/ealg from the UE's list", mechs[0].pair in offered,
                               "one of " + ", ".join("/".join(p) for p in offered),
                               "/".join(mechs[0].pair)))
    if mechs and args.get("distinct_spis", True):
        m = mechs[0]
        out.append(Observation("spi-c and spi-s distinct and non-zero",
                               m.spi_c != m.spi_s and m.spi_c > 0 and m.spi_s > 0,
                               "two different SPIs", f"spi-c={m.spi_c} spi-s={m.spi_s}"))
    return out


PAIRINGS = ("flow", "ports", "any")


def protected_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """The message came over ESP on one of the flow's SAs towards the UE: the final response,
    or the step's terminating requests.

    ``pairing`` says which reading of where the P-CSCF sends is checked:

    * ``flow`` (the default): TS 24.229 5.1.1.2.2, the RFC 5626 flow. UDP a): "The second
      unidirectional flow is used by the UE to receive the requests and responses from the
      P-CSCF" (SA 3, port_pc -> port_us); TCP b) with outbound: the UE-initiated connection
      (SA 2) for both; TCP without outbound: a response on its request's connection, a request
      on a connection from port_pc to port_us (TS 33.203 7.1 [M]).
    * ``ports`` (the seed paper, test-purposes.md §10 item 6): requests always from port_pc to
      port_us (SA 3, over TCP on a connection the P-CSCF opens); responses over the SA pair of
      their request (UDP: SA 2, port_ps -> port_uc; TCP: the request's connection, SA 2).
    * ``any``: either reading (what both forbid fails: a message in clear, on another SA, or a
      UDP request over SA 2); the observation names the reading(s) the message matches.
    """
    pairing = args.get("pairing", "flow")

    def show(meta) -> str:
        if not meta:
            return "in clear (no ESP)"
        return (f"ESP SA {meta['sa']} (SPI {meta['spi']:#x}) {meta['src']}:{meta['sport']} -> "
                f"{meta['dst']}:{meta['dport']}")

    def tcp(meta) -> bool:
        return bool(meta) and meta.get("transport") == "tcp"

    def on_sa(meta, number: int) -> bool:
        port = "port_uc" if number == 2 else "port_us"
        return bool(meta) and meta["sa"] == number and meta["dport"] == meta.get(port)

    def flow_ok(meta, request: bool) -> bool:
        # TCP: a response comes on its request's connection; with outbound so does a request, the
        # UE's connection being the flow (TS 24.229 5.1.1.2.2 b)); without, a request comes on a
        # connection from port_pc to port_us (TS 33.203 7.1 [M]) as over UDP
        if tcp(meta) and (not request or meta.get("outbound", True)):
            return on_sa(meta, 2)
        return on_sa(meta, 3)

    def ports_ok(meta, request: bool) -> bool:
        return on_sa(meta, 3) if request else on_sa(meta, 2)

    def readings(meta, request: bool) -> list[str]:
        found = []
        if flow_ok(meta, request):
            found.append("TS 24.229 5.1.1.2.2 flow")
        if ports_ok(meta, request):
            found.append("seed paper's port pairing")
        return found

    def ok(meta, request: bool = False) -> bool:
        if pairing == "flow":
            return flow_ok(meta, request)
        if pairing == "ports":
            return ports_ok(meta, request)
        return bool(readings(meta, request))

    def expect_flow(metas, request: bool) -> str:
        tcps = [m for m in metas if tcp(m)]
        if not tcps and ctx.sec.get("transport") != "tcp":
            return "ESP SA 3, P-CSCF port_pc -> UE port_us (TS 24.229 5.1.1.2.2 a))"
        if any(m.get("outbound", True) for m in tcps) or not request or not tcps:
            return ("ESP SA 2 on the UE-initiated TCP connection, P-CSCF port_ps -> UE port_uc "
                    "(TS 24.229 5.1.1.2.2 b))")
        return "ESP SA 3 on a TCP connection P-CSCF port_pc -> UE port_us (TS 33.203 7.1 [M])"

    def expect_ports(request: bool) -> str:
        if request:
            return "ESP SA 3, P-CSCF port_pc -> UE port_us (the seed paper's pairing)"
        return "ESP SA 2, P-CSCF port_ps -> UE port_uc, the request's SA pair (the seed paper's pairing)"

    def expect(metas, request: bool) -> str:
        if pairing == "flow":
            return expect_flow(metas, request)
        if pairing == "ports":
            return expect_ports(request)
        return f"either {expect_flow(metas, request)} or {expect_ports(request)}"

    def observed(metas, request: bool) -> str:
        text = "; ".join(show(m) for m in metas)
        if pairing == "any":
            found = sorted({r for m in metas for r in readings(m, request)})
            text += " (" + (" and ".join(found) if found else "neither reading") + ")"
        return text

    if "clear_delivery" in args:
        flow = args["clear_delivery"]
        metas = (ctx.sec.get("deliveries") or {}).get(flow) or []
        clear = [m for m in metas if not m]
        return [Observation(f"nothing delivered in clear on {flow}", not clear,
                            "no terminating request in clear (a request, if any, over ESP SA 3)",
                            f"{len(clear)} request(s) in clear" if clear else
                            ("; ".join(show(m) for m in metas) or "nothing delivered"))]
    if "delivery" in args:
        flow = args["delivery"]
        metas = (ctx.sec.get("deliveries") or {}).get(flow) or []
        if not metas:
            return [Observation(f"protected delivery on {flow}", None, expect(metas, True),
                                f"nothing delivered on {flow}")]
        return [Observation(f"protected delivery on {flow}", all(ok(m, True) for m in metas),
                            expect(metas, True), observed(metas, True))]
    meta = ctx.sec.get("response")
    if ctx.response is None:
        return _no_response("protected response", expect([meta], False), ctx)
    return [Observation("protected response", ok(meta), expect([meta], False), observed([meta], False))]


def dropped_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """No response: the stimulus was discarded (a bad ESP packet, clear text on a protected port).
    ``or_rejected``: a final response other than 2xx passes too (the stimulus brought no
    registration: the suite's robustness criterion)."""
    r = ctx.response
    if args.get("or_rejected"):
        ok = r is None or not 200 <= r.status < 300
        return [Observation("stimulus not accepted", ok, "no response, or a final response other than 2xx",
                            "no response" if r is None else
                            f"{r.status} {r.reason}" + ("" if ok else ": the stimulus was accepted"))]
    return [Observation("stimulus discarded", r is None, "no response (the packet is dropped)",
                        "no response" if r is None else f"{r.status} {r.reason}: the stimulus was accepted")]


def answered_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """A response came: the flow's SA set still carries its requests (TP_IMS_002, TP_IMS_009)."""
    r = ctx.response
    return [Observation("answered over the flow's SAs", r is not None,
                        "a response over the flow's SA set",
                        f"{r.status} {r.reason}" if r is not None else ctx.no_response_reason)]


def sa_unused_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """No SA from a changed Security-Client: no ESP reached the UE under an spi-c it sent only
    in the changed header (TP_SEC_006, the suite's robustness criterion)."""
    changed = set(ctx.sec.get("changed_spis") or [])
    if not changed:
        return [Observation("no SA from the changed Security-Client", None,
                            "a step with security_client: changed before", "no changed Security-Client sent")]
    hits = [spi for spi in ctx.sec.get("esp_spis") or [] if spi in changed]
    shown = ", ".join(f"{spi:#x}" for spi in sorted(changed))
    return [Observation("no SA from the changed Security-Client", not hits,
                        f"no ESP under the changed spi-c {shown}",
                        f"{len(hits)} ESP packet(s) under {shown}" if hits else
                        f"none under {shown} ({len(ctx.sec.get('esp_spis') or [])} ESP packet(s) received in all)")]


def _integrity(req) -> str | None:
    value = req.get("Authorization")
    if not value:
        return None
    try:
        return parse_auth(value).get("integrity-protected")
    except ParseError:
        return None


def forwarded_sec_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """What the P-CSCF forwarded to REG-T, as to sec-agree (TP_SEC_013, TP_SEC_014)."""
    regs = [req for req, _ in ctx.forwarded if req.method == "REGISTER"]
    want_ip = args.get("integrity_protected")
    if not regs:
        if want_ip == "no" and len(args) == 1:
            # the UE's Authorization never reached the registrar: nothing to forge with
            return [Observation('integrity-protected "no" or absent at REG-T', True,
                                'integrity-protected="no" or absent, or nothing forwarded',
                                "nothing forwarded (the P-CSCF answered the REGISTER itself)")]
        return [Observation("REGISTER forwarded to the registrar", None, "the SUT forwards the REGISTER",
                            "nothing reached the emulated registrar in this step")]
    req = regs[-1]
    out: list[Observation] = []
    if args.get("sec_agree_removed"):
        seen, empty = [], []
        for name in ("Require", "Proxy-Require"):
            values = req.values(name)
            try:
                tags = [t.lower() for t in parse_option_tags(values)]
            except ParseError:
                tags = [v.strip().lower() for v in values]
            if "sec-agree" in tags:
                seen.append(f"{name}: {', '.join(values)}")
            elif req.get_all(name) and not tags:
                empty.append(f"an empty {name}")
        out.append(Observation("sec-agree removed from Require and Proxy-Require", not seen and not empty,
                               "no sec-agree in Require or Proxy-Require, no header left without values",
                               "; ".join(seen + empty) or "no sec-agree: Require: "
                               + (", ".join(req.values("Require")) or "(none)") + "; Proxy-Require: "
                               + (", ".join(req.values("Proxy-Require")) or "(none)")))
    if args.get("security_headers_removed"):
        left = [n for n in ("Security-Client", "Security-Verify") if req.get_all(n)]
        out.append(Observation("Security-Client and Security-Verify removed", not left,
                               "neither Security-Client nor Security-Verify forwarded",
                               ("forwarded with " + " and ".join(left)) if left else "both removed"))
    if want_ip is not None:
        got = _integrity(req)
        ok = got == want_ip or (want_ip == "no" and got is None)
        out.append(Observation(f'integrity-protected "{want_ip}" at REG-T', ok,
                               f'integrity-protected="{want_ip}"' + (" or absent" if want_ip == "no" else ""),
                               f'integrity-protected="{got}"' if got is not None else "no integrity-protected"))
    return out


KINDS = (
    CheckKind(
        name="aka_challenge",
        summary=(
            "A 401 with an AKAv1-MD5 challenge (WWW-Authenticate, qop, nonce = RAND || AUTN) and the UE's "
            "verdict on AUTN."
        ),
        handler=aka_challenge_check,
        level="MUST",
        ref="RFC 3261 §22.4 item 8; RFC 3310 §3.1-3.3",
        order=170,
        args_doc=(
            "`{network: authentic\\|rejected\\|stale, new_nonce: bool}`: a 401 with WWW-Authenticate, "
            "`algorithm=AKAv1-MD5`, qop, nonce = RAND ‖ AUTN, no ck/ik; the UE's verdict on AUTN"
        ),
        clause_doc="RFC 3261 §22.4 item 8; RFC 3310 §3.1-3.3",
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "network": {
                    "description": (
                        "authentic (default): the UE verifies MAC and SQN; rejected: a MAC failure is "
                        "expected; stale: an SQN failure is expected."
                    ),
                    "enum": ["authentic", "rejected", "stale"],
                },
                "new_nonce": {
                    "description": "The nonce differs from the previous challenge's.",
                    "type": "boolean",
                },
            },
        },
    ),
    CheckKind(
        name="security_server",
        summary="Security-Server usable for the four SAs, its alg/ealg from the UE's offer.",
        handler=security_server_check,
        level="MUST",
        ref="TS 24.229 5.1.1.5.1",
        order=180,
        args_doc=(
            "`{from_client: bool, distinct_spis: bool}`: an `ipsec-3gpp` Security-Server usable for the four "
            "SAs, alg/ealg from the UE's offer"
        ),
        clause_doc="TS 24.229 5.1.1.5.1",
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "from_client": {
                    "description": "Check that alg/ealg is one the UE offered (default true).",
                    "type": "boolean",
                },
                "distinct_spis": {
                    "description": "Check that spi-c and spi-s are distinct and non-zero (default true).",
                    "type": "boolean",
                },
            },
        },
    ),
    CheckKind(
        name="protected",
        summary=(
            "Came over ESP towards the UE (by default SA 3, P-CSCF port_pc -> UE port_us; see pairing): {} "
            "the final response, {delivery: FLOW} the step's terminating requests on FLOW."
        ),
        handler=protected_check,
        level="MUST",
        ref="TS 24.229 5.1.1.2.2 a)",
        order=190,
        flow_args=("delivery",),
        args_doc=(
            "`{}`: the final response came over ESP SA 3 (port_pc -> port_us; over TCP: SA 2 on the UE's "
            "connection, TS 24.229 5.1.1.2.2 b)); `{delivery: FLOW}`: the step's terminating requests on "
            "FLOW did; `{clear_delivery: FLOW}`: none of them came in clear (none at all passes). `pairing:` "
            "which reading: `flow` (default, TS 24.229 5.1.1.2.2), `ports` (the seed paper: requests port_pc "
            "-> port_us over SA 3, responses over the request's SA pair, SA 2) or `any` (either; the "
            "observation names the reading(s) matched)"
        ),
        clause_doc="TS 24.229 5.1.1.2.2 a)",
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "delivery": {
                    "description": "The flow whose terminating requests to look at.",
                    "$ref": "#/$defs/flow_name",
                },
                "clear_delivery": {
                    "description": (
                        "The flow that must get no terminating request in "
                        "clear (no delivery at all passes)."
                    ),
                    "$ref": "#/$defs/flow_name",
                },
                "pairing": {
                    "description": (
                        "Which reading of where the P-CSCF sends: flow (default, TS 24.229 5.1.1.2.2: UDP SA "
                        "3 port_pc -> port_us; TCP with outbound the UE's connection), ports (the seed "
                        "paper: requests over SA 3 port_pc -> port_us, responses over their request's SA "
                        "pair, SA 2), any (either; the observation names the reading matched)."
                    ),
                    "enum": ["flow", "ports", "any"],
                },
            },
        },
    ),
    CheckKind(
        name="dropped",
        summary=(
            "No response to the stimulus (it was discarded); {or_rejected: true}: or a final response other "
            "than 2xx (no registration from the stimulus)."
        ),
        handler=dropped_check,
        level="MUST",
        ref=None,
        order=210,
        args_doc=(
            "`{}`: no response came (the stimulus was discarded); `{or_rejected: true}`: or a final response "
            "other than 2xx (the stimulus brought no registration)"
        ),
        clause_doc="no usual clause: `ref:` required",
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "or_rejected": {
                    "description": "A final response other than 2xx passes too.",
                    "type": "boolean",
                },
            },
        },
    ),
    CheckKind(
        name="answered",
        summary="A response came (the flow's SA set still carries its requests).",
        handler=answered_check,
        level="MAY",
        ref="TS 24.229 5.1.1.2.1",
        order=220,
        args_doc="`{}`: a response came (the flow's SA set still carries requests)",
        clause_doc='TS 24.229 5.1.1.2.1 ("will have no impact", no shall)',
        schema=NO_ARGS,
    ),
    CheckKind(
        name="sa_unused",
        summary=(
            "No ESP reached the UE under an spi-c it sent only in a changed Security-Client (no SA from the "
            "changed values, TP_SEC_006): {}."
        ),
        handler=sa_unused_check,
        level="MUST",
        ref="robustness criterion (TP_SEC_006: no SA from the changed values)",
        order=230,
        args_doc=(
            "`{}`: no ESP reached the UE under an spi-c sent only in a `security_client: changed` REGISTER "
            "(no SA from the changed values)"
        ),
        clause_doc="robustness criterion (TP_SEC_006)",
        schema=NO_ARGS,
    ),
    CheckKind(
        name="forwarded_sec",
        summary=(
            "What the SUT forwarded to the emulated registrar (REG-T) in this step, as to sec-agree "
            "(TP_SEC_013, TP_SEC_014)."
        ),
        handler=forwarded_sec_check,
        level="MUST",
        ref="RFC 3329 §2.3.1",
        order=240,
        args_doc=(
            '`{sec_agree_removed: true}`: what reached REG-T has no sec-agree in Require/Proxy-Require and '
            'no header left empty; `{security_headers_removed: true}`: no Security-Client/-Verify; '
            '`{integrity_protected: yes\\|no}`: that value in Authorization ("no" also passes when absent, '
            'or when nothing was forwarded)'
        ),
        clause_doc="RFC 3329 §2.3.1",
        schema={
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "sec_agree_removed": {
                    "description": (
                        "No sec-agree in Require or Proxy-Require, and no such header left empty (RFC 3329 "
                        "section 2.3.1)."
                    ),
                    "type": "boolean",
                },
                "security_headers_removed": {
                    "description": "No Security-Client or Security-Verify (TS 24.228 example flows).",
                    "type": "boolean",
                },
                "integrity_protected": {
                    "description": (
                        "The integrity-protected value in Authorization: no (absent also passes) or yes. "
                        "Nothing forwarded passes for no (the UE's value never reached the registrar)."
                    ),
                    "enum": ["yes", "no"],
                },
            },
        },
    ),
)
