"""The ladder renderer: lifelines, arrows, keep-alives, the failing mark, escaping."""

import re
import xml.etree.ElementTree as ET

from conformance.report.ladder import describe, layout, message_anchor, render_ladder, render_ladder_svg
from conformance.meaning.results import CaseResult, MessageRecord, StepResult
from conformance.meaning.verdict import Finding, Verdict

SUT = ("127.0.0.1", 5060)
SCSCF = ("127.0.0.1", 5070)


def reg(aor="sip:ue@ims.test", host="127.0.0.11", port=40000, reg_id=1, vias=1, path=None, expires=600):
    lines = [f"REGISTER sip:ims.test SIP/2.0"]
    lines += [f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{i}" for i in range(vias)]
    lines += [f"From: <{aor}>;tag=1", f"To: <{aor}>", "Call-ID: c1", "CSeq: 1 REGISTER",
              f"Contact: <sip:ue@{host}:{port}>;reg-id={reg_id};+sip.instance=\"<urn:uuid:1>\";expires={expires}",
              "Supported: path, outbound"]
    if path:
        lines.append(f"Path: {path}")
    return "\r\n".join(lines + ["Content-Length: 0", "", ""])


def ok(contacts=1, require=True, extra=()):
    lines = ["SIP/2.0 200 OK", "Via: SIP/2.0/UDP x", "From: <sip:ue@ims.test>;tag=1", "To: <sip:ue@ims.test>;tag=2",
             "Call-ID: c1", "CSeq: 1 REGISTER"]
    lines += [f"Contact: <sip:ue@127.0.0.1{i}:4000{i}>;reg-id={i + 1};expires=600" for i in range(contacts)]
    if require:
        lines.append("Require: outbound")
    lines += list(extra)
    return "\r\n".join(lines + ["Content-Length: 0", "", ""])


def msg(index, direction, flow, local, remote, summary, text, step="register f1", t=0.001):
    src, dst = (local, remote) if direction == "sent" else (remote, local)
    return {"index": index, "time": t * (index + 1), "direction": direction, "flow": flow, "transport": "udp",
            "src": list(src), "dst": list(dst), "summary": summary, "text": text, "step": step, "note": ""}


def case(messages, steps=(), id_="REG-003[udp]"):
    return {"id": id_, "case_id": id_.split("[")[0], "title": "t", "verdict": "pass", "messages": list(messages),
            "steps": list(steps)}


def two_flows():
    f1, f2 = ("127.0.0.11", 40001), ("127.0.0.12", 40002)
    return [msg(0, "sent", "f1", f1, SUT, "REGISTER sip:ims.test", reg(host=f1[0], port=f1[1])),
            msg(1, "received", "f1", f1, SUT, "200 OK", ok(1)),
            msg(2, "sent", "f2", f2, SUT, "REGISTER sip:ims.test", reg(host=f2[0], port=f2[1], reg_id=2),
                step="register f2"),
            msg(3, "received", "f2", f2, SUT, "200 OK", ok(1, require=False), step="register f2")]


def test_lifelines_one_per_flow_and_the_sut():
    parties = layout(case(two_flows())).parties
    assert [(p.name, p.address) for p in parties] == [
        ("UE flow f1", "127.0.0.11:40001/udp"), ("UE flow f2", "127.0.0.12:40002/udp"), ("SUT", "127.0.0.1:5060")]


def test_core_with_two_addresses_gives_pcscf_and_scscf_and_peer():
    msgs = two_flows()[:2] + [
        msg(2, "sent", "peer", ("127.0.0.30", 41000), SCSCF, "MESSAGE sip:ue@ims.test",
            "MESSAGE sip:ue@ims.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.30:41000;branch=z9hG4bKp\r\n"
            "CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", step="peer_request"),
        msg(3, "received", "f1", ("127.0.0.11", 40001), SUT, "MESSAGE sip:ue@127.0.0.11:40001",
            "MESSAGE sip:ue@127.0.0.11:40001 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq\r\n"
            "CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", step="peer_request")]
    lad = layout(case(msgs))
    assert [p.name for p in lad.parties] == ["UE flow f1", "P-CSCF (SUT)", "S-CSCF (SUT)", "PEER"]
    assert lad.arrows[2] == ("peer", "sut:127.0.0.1:5070", False)
    assert lad.arrows[3] == ("sut:127.0.0.1:5060", "flow:f1", False)


def test_emulated_edge_gets_a_lifeline_when_a_flow_goes_through_it():
    f1 = ("127.0.0.11", 40001)
    msgs = [msg(0, "sent", "f1", f1, SUT, "REGISTER sip:ims.test",
                reg(vias=2, path="<sip:tok@127.0.0.11:40001;lr;ob>")),
            msg(1, "received", "f1", f1, SUT, "200 OK", ok(1, extra=["Path: <sip:tok@127.0.0.11:40001;lr;ob>"]))]
    lad = layout(case(msgs))
    assert [p.kind for p in lad.parties] == ["ue", "edge", "sut"]
    assert lad.arrows[0][2] is True
    svg = render_ladder_svg(case(msgs))
    assert svg.count('class="via-edge"') == 2


def test_arrows_and_labels_carry_the_checked_headers():
    svg = render_ladder_svg(case(two_flows()))
    root = ET.fromstring(svg)  # well-formed XML
    arrows = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if "arrow" in g.get("class", "").split()]
    assert [a.get("data-index") for a in arrows] == ["0", "1", "2", "3"]
    assert arrows[0].get("data-from") == "flow:f1" and arrows[0].get("data-to") == "sut:127.0.0.1:5060"
    assert arrows[1].get("data-from") == "sut:127.0.0.1:5060"
    assert describe(two_flows()[0]) == ("REGISTER", "reg-id=1")
    assert describe(two_flows()[1]) == ("200 OK", "Require: outbound · 1 Contact")
    assert describe(two_flows()[3])[1].startswith("no Require: outbound")
    assert describe({"summary": "200 OK", "text": ok(2, extra=["Flow-Timer: 120", "Path: <sip:a;lr>"])}) == \
        ("200 OK", "Require: outbound · 2 Contacts · Path (no ;ob) · Flow-Timer: 120")
    # a step separator per step, time offsets on the left
    assert "register f2" in svg and "0.002s" in svg


def test_keepalives_are_dashed_and_labelled():
    f1 = ("127.0.0.11", 40001)
    msgs = [msg(0, "sent", "f1", f1, SUT, "CRLF ping", "\r\n\r\n", step="ping f1"),
            msg(1, "received", "f1", f1, SUT, "CRLF pong", "\r\n", step="ping f1"),
            msg(2, "sent", "f1", f1, SUT, "STUN Binding Request", "\x00\x01", step="stun f1")]
    svg = render_ladder_svg(case(msgs))
    assert svg.count('class="arrow keepalive"') == 3
    assert svg.count('stroke-dasharray="6 4"') == 3
    assert ">CRLF ping<" in svg and ">STUN Binding Request<" in svg


def test_failing_check_is_marked_on_its_message():
    steps = [{"name": "register f2", "request_index": 2, "response_index": 3, "findings": [
        {"check": "number of bindings", "level": "MUST", "ref": "RFC 3261 §10.3 step 8", "outcome": "fail",
         "expected": "2", "observed": "1", "message_index": 3},
        {"check": "Path echoed", "level": "SHOULD", "ref": "RFC 3327 §5.3", "outcome": "warn",
         "expected": "", "observed": "", "message_index": 1},
        {"check": "status", "level": "MUST", "ref": "x", "outcome": "pass", "message_index": 2}]}]
    svg = render_ladder_svg(case(two_flows(), steps))
    root = ET.fromstring(svg)
    failed = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if "failed" in g.get("class", "").split()]
    assert [g.get("data-index") for g in failed] == ["3"]
    assert "✗ number of bindings" in svg and 'class="fail-mark"' in svg
    warned = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if "warned" in g.get("class", "").split()]
    assert [g.get("data-index") for g in warned] == ["1"]


def test_finding_without_a_message_goes_on_its_request():
    steps = [{"name": "register f1", "request_index": 0, "response_index": None, "findings": [
        {"check": "final response status", "outcome": "inconclusive", "message_index": None}]}]
    svg = render_ladder_svg(case(two_flows()[:1], steps))
    assert 'class="arrow warned"' in svg


def test_every_arrow_links_to_its_message_and_the_pcap_is_linked():
    html = render_ladder(case(two_flows()), pcap_href="pcaps/REG-003-udp.pcap")
    for i in range(4):
        assert f'href="#{message_anchor("REG-003[udp]", i)}"' in html
    assert message_anchor("REG-003[udp]", 2) == "msg-REG-003-udp-2"
    assert '<a class="ladder-pcap" href="pcaps/REG-003-udp.pcap">' in html
    assert "<title>" in html and "REGISTER sip:ims.test SIP/2.0" in html  # full text on hover


def test_sut_text_is_escaped():
    evil = ('SIP/2.0 200 <script>alert(1)</script>\r\nVia: x\r\nCSeq: 1 REGISTER\r\n'
            'Server: "><svg onload=alert(2)>&amp;\r\nContent-Length: 0\r\n\r\n')
    m = msg(0, "received", "f1<b>", ("127.0.0.11", 1), SUT, "200 <script>alert(1)</script>", evil)
    m["note"] = "</title><script>x</script>"
    html = render_ladder(case([m], id_='X"><script>[udp]'), pcap_href='a.pcap"><script>')
    assert "<script>" not in html and "<svg onload" not in html
    assert "&lt;script&gt;" in html
    ET.fromstring(render_ladder_svg(case([m])))  # still well-formed


def test_control_characters_do_not_break_the_svg():
    m = msg(0, "received", "f1", ("127.0.0.11", 1), SUT, "garbage \x01\x02", "\x00\x01\x1b[31m junk")
    ET.fromstring(render_ladder_svg(case([m])))


def test_a_case_result_renders_like_its_dict():
    r = CaseResult(id="REG-001[udp]", case_id="REG-001", title="t", purpose="p", transport="udp",
                   verdict=Verdict.FAIL, reason="r",
                   steps=[StepResult(name="register f1", action="register", flow="f1", request_index=0,
                                     response_index=1,
                                     findings=[Finding(check="Require has outbound", level="MUST",
                                                       ref="RFC 5626 §6 ¶8", outcome="fail", expected="",
                                                       observed="", message_index=1)])],
                   messages=[MessageRecord(0, 0.001, "sent", "f1", "udp", ("127.0.0.11", 1), SUT,
                                           "REGISTER sip:ims.test", reg(), "register f1"),
                             MessageRecord(1, 0.002, "received", "f1", "udp", SUT, ("127.0.0.11", 1),
                                           "200 OK", ok(require=False), "register f1")])
    assert render_ladder(r) == render_ladder(r.to_dict())
    assert re.search(r'class="arrow failed" data-index="1"', render_ladder(r))


def test_no_messages():
    assert "No messages" in render_ladder(case([]))
