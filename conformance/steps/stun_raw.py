"""``stun_raw``: a malformed or unusual STUN message to the SUT's SIP UDP port (TP_EDGE_017).

``{flow: FLOW, variant: NAME}``; the variants follow the test purpose: ``bad_cookie`` (a wrong
magic cookie), ``truncated`` (a 12-byte header), ``bad_length`` (a length that is not a
multiple of 4), ``unknown_attribute`` (a Binding request with an unknown comprehension-required
attribute), ``indication`` (a Binding indication), ``oversize`` (a Binding request of 65,000
bytes, padded with an unknown comprehension-optional attribute).

The step judges what came back itself (like ``send_bytes``): RFC 5389 section 7.3 describes
discarding a message that breaks section 6 and no answer to an indication, without a keyword, so
the answer is recorded (MAY).  The one MUST: an error response to the unknown comprehension-
required attribute "MUST include an UNKNOWN-ATTRIBUTES attribute" (section 7.3.1.1).  Whether
the SUT still serves afterwards is for the case's next steps (a valid ``stun``, a REGISTER with
``liveness``).  Message building is sans-IO (:func:`build_variant`).
"""

from __future__ import annotations

import os
import struct

from ..sip.stun import (ATTR_ERROR_CODE, ATTR_UNKNOWN_ATTRIBUTES, BINDING, CLASS_ERROR, CLASS_SUCCESS,
                        MAGIC_COOKIE, binding_request, message_type, parse)
from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.bounds import answer_bound
from ..engine.keepalive_log import KeepaliveLog
from ..meaning.results import StepResult
from ..meaning.verdict import FAIL, INFO, PASS, Finding
from ..sip.errors import LocalProtocolError
from .kind import StepKind

VARIANTS = ("bad_cookie", "truncated", "bad_length", "unknown_attribute", "indication", "oversize")
UNKNOWN_REQUIRED = 0x7F31          # comprehension-required range 0x0000-0x7FFF, unassigned
UNKNOWN_OPTIONAL = 0xC0F1          # comprehension-optional range 0x8000-0xFFFF, unassigned
OVERSIZE = 65_000                  # bytes: a 64 KB STUN message that still fits one datagram
CLASS_INDICATION = 0b01

_REFS = {
    "unknown_attribute": "RFC 5389 §7.3.1 (420 to an unknown comprehension-required attribute)",
    "indication": "RFC 5389 §7.3.2 (no response to an indication)",
}
DISCARD_REF = "RFC 5389 §7.3 (a message breaking section 6 is silently discarded)"
UNKNOWN_ATTRIBUTES_REF = "RFC 5389 §7.3.1.1 (UNKNOWN-ATTRIBUTES in a 420)"


def build_variant(variant: str, tid: bytes) -> bytes:
    """The bytes of one variant (``tid``: 12 bytes)."""
    if variant == "bad_cookie":
        good = binding_request(tid)
        return good[:4] + struct.pack("!I", MAGIC_COOKIE ^ 0xFFFFFFFF) + good[8:]
    if variant == "truncated":
        return binding_request(tid)[:12]
    if variant == "bad_length":
        body = struct.pack("!HH", UNKNOWN_OPTIONAL, 2) + b"\x00\x01"        # 6 bytes, unpadded
        return struct.pack("!HHI12s", message_type(BINDING, 0), len(body), MAGIC_COOKIE, tid) + body
    if variant == "unknown_attribute":
        return binding_request(tid, [(UNKNOWN_REQUIRED, b"\x00\x00\x00\x00")])
    if variant == "indication":
        return struct.pack("!HHI12s", message_type(BINDING, CLASS_INDICATION), 0, MAGIC_COOKIE, tid)
    if variant == "oversize":
        pad = OVERSIZE - 20 - 4
        return binding_request(tid, [(UNKNOWN_OPTIONAL, b"\x00" * pad)])
    raise ValueError(f"unknown stun_raw variant {variant!r}; valid: {', '.join(VARIANTS)}")


def judge_stun_answer(variant: str, answer: bytes | None, tid: bytes) -> list[tuple[str, str, str, str, str, str]]:
    """(check, level, ref, outcome, expected, observed) for the answer (None: none came)."""
    parsed = parse(answer) if answer is not None else None
    if answer is None:
        observed = "no answer (discarded)"
    elif parsed is None:
        observed = f"{len(answer)} bytes that are not a valid STUN message"
    else:
        cls = {CLASS_SUCCESS: "a Binding success response", CLASS_ERROR: "a Binding error response"}.get(
            parsed[1], f"a STUN message of class {parsed[1]}")
        observed = cls + ("" if parsed[2] == tid else " with another transaction id")
    out = []
    if variant == "unknown_attribute":
        expected = "a 420 (Unknown Attribute) error response, or no answer; anything else is recorded"
        code = None
        if parsed is not None and parsed[1] == CLASS_ERROR:
            err = [v for t, v, _ in parsed[3] if t == ATTR_ERROR_CODE]
            if err and len(err[0]) >= 4:
                code = (err[0][2] & 0x07) * 100 + err[0][3]
            observed += f" (error code {code})" if code is not None else " (no ERROR-CODE)"
            listed = [v for t, v, _ in parsed[3] if t == ATTR_UNKNOWN_ATTRIBUTES]
            names = {struct.unpack("!H", v[i:i + 2])[0] for v in listed for i in range(0, len(v) - 1, 2)}
            if code == 420:
                out.append(("UNKNOWN-ATTRIBUTES in the 420", "MUST", UNKNOWN_ATTRIBUTES_REF,
                            PASS if UNKNOWN_REQUIRED in names else FAIL,
                            f"UNKNOWN-ATTRIBUTES listing 0x{UNKNOWN_REQUIRED:04X}",
                            "UNKNOWN-ATTRIBUTES " + (", ".join(f"0x{n:04X}" for n in sorted(names)) or "absent")))
        ok = answer is None or code == 420
        out.insert(0, ("answer to the unknown comprehension-required attribute (recorded)", "MAY",
                       _REFS[variant], PASS if ok else INFO, expected, observed))
        return out
    if variant == "oversize":
        return [("answer to the 65,000-byte Binding request (recorded)", "MAY", DISCARD_REF,
                 PASS if parsed is None or parsed[1] == CLASS_SUCCESS else INFO,
                 "a Binding success response, or no answer", observed)]
    ref = _REFS.get(variant, DISCARD_REF)
    return [(f"answer to the STUN message ({variant.replace('_', ' ')}) (recorded)", "MAY", ref,
             PASS if answer is None else INFO, "no answer (the message is discarded)", observed)]


def stun_raw(run: RunApi, step: StepSpec, result: StepResult) -> None:
    _, flow = run.flow(step.flow)
    if flow.transport != "udp":
        raise LocalProtocolError(f"stun_raw needs a UDP flow; {flow.name} is {flow.transport}")
    variant = step.options["variant"]
    tid = os.urandom(12)
    data = build_variant(variant, tid)
    ep = run.endpoint(flow)
    dst = run.sut_for(ep.local[0])
    start = len(run.state(KeepaliveLog).seen)
    garbage_start = len(run.messages)
    ep.send(data, dst)
    result.request_index = run.record("sent", flow.name, "udp", ep.local, dst, data,
                                       f"STUN {variant.replace('_', ' ')} ({len(data)} bytes)",
                                       "invalid message (deliberate): malformed or unusual STUN")
    bound = float(step.options["timeout"]) if "timeout" in step.options else answer_bound(run)

    def answers():
        return [k for k in run.state(KeepaliveLog).seen[start:] if k[0] == flow.name and k[1] == "stun"]

    run.wait(bound, until=lambda: bool(answers()))
    got = answers()
    answer = got[0][2] if got else None
    if got:
        result.response_index = got[0][3]
    else:   # anything else that came back on the flow (not recognised as STUN)
        other = [m for m in run.messages[garbage_start + 1:] if m.direction == "received" and m.flow == flow.name
                 and m.text]
        if other:
            answer = other[0].text.encode("utf-8", "replace")
            result.response_index = other[0].index
    for check, level, ref, outcome, expected, observed in judge_stun_answer(variant, answer, tid):
        result.findings.append(Finding(check=check, level=level, ref=ref, outcome=outcome, expected=expected,
                                       observed=observed, step=step.name, location=result.location,
                                       message_index=result.response_index))
    result.note = result.findings[0].observed


__all__ = ["KIND", "VARIANTS", "build_variant", "judge_stun_answer", "stun_raw"]


KIND = StepKind(
    name="stun_raw",
    summary="A malformed or unusual STUN message to the SIP UDP port (steps/stun_raw.py, TP_EDGE_017).",
    schema={"$ref": "#/$defs/stun_raw_action"}, needs_flow=True, live=stun_raw, order=200,
    transports=("udp",), transport_reason="stun_raw sends hand-made STUN datagrams on a UDP flow",
    offline_reason="its raw stimulus is not re-judged from a capture",
    extra={"usage": "`stun_raw: {flow: FLOW, variant: V}`",
           "table": ("a malformed or unusual STUN message to the SIP UDP port (TP_EDGE_017): `bad_cookie`, "
                     "`truncated`, `bad_length`, `unknown_attribute` (comprehension-required), `indication`, "
                     "`oversize` (65,000 bytes); the answer is recorded (RFC 5389 §7.3, no keyword), a 420 must "
                     "list the attribute in UNKNOWN-ATTRIBUTES (MUST, §7.3.1.1)")})
