"""The reference IMS P-CSCF subscribes to the reg event of the UE it registered (TS 24.229
5.2.3, sut/ims/regwatch.py) at the reference S-CSCF, and deletes the UE's SA set when the
NOTIFY shows its contact terminated; sans-IO, the two nodes wired by hand."""

from __future__ import annotations

import itertools

import pytest

from conformance.sip.message import parse_message
from conformance.sip.reginfo import parse_reginfo
from conformance.sut.actions import ReleaseSpi, SendOnFlow, SendToHop
from conformance.sut.config import SutConfig
from conformance.sut.flow import FlowInfo
from conformance.sut.ims.proxy import ImsEdgeProxy
from conformance.sut.registrar.registrar import Registrar
from conformance.sut.registrar.scscf import ScscfNode
from test_imsedge import PCSCF, PORT_PC, PORT_PS, Ue, challenged

AT_SCSCF = FlowInfo("udp", (PCSCF, 5070), (PCSCF, 5060))      # the P-CSCF's flow, S-CSCF side
AT_PCSCF = FlowInfo("udp", (PCSCF, 5060), (PCSCF, 5070))      # the same, P-CSCF side


def nodes(**kw):
    cfg = SutConfig(topology="core", ims=True, edge_next_hop=(PCSCF, 5070, "udp"),
                    pcscf_reg_event=True, **kw)
    spis = itertools.count(0x1000)
    edge = ImsEdgeProxy(cfg, address=(PCSCF, 5060), rand=lambda n: bytes(range(n)),
                        spi_source=lambda avoid: next(s for s in spis if s not in avoid))
    edge.port_ps, edge.port_pc = PORT_PS, PORT_PC
    scscf = ScscfNode(cfg, Registrar(cfg, tag_secret="t"), (PCSCF, 5070))
    return edge, scscf


def to_scscf(scscf, actions, now):
    out = []
    for a in actions:
        if (isinstance(a, SendToHop) and a.address == (PCSCF, 5070)) or \
                (isinstance(a, SendOnFlow) and a.flow == AT_PCSCF):
            out += scscf.receive(a.data, AT_SCSCF, now)
    return out


def to_pcscf(edge, actions, now):
    out = []
    for a in actions:
        if isinstance(a, SendOnFlow) and a.flow == AT_SCSCF:
            out += edge.receive(a.data, AT_PCSCF, now)
    return out


def registered(edge, scscf, ue):
    challenged(edge, ue)
    back = to_scscf(scscf, edge.receive_esp(ue.protected(), 1.0), 1.0)      # REGISTER -> 200
    after = to_pcscf(edge, back, 1.0)                                       # 200 -> UE, SUBSCRIBE
    [subscribe] = [parse_message(a.data) for a in after if isinstance(a, SendToHop)]
    return subscribe, after


def test_after_the_2xx_the_pcscf_subscribes_and_answers_the_notify():
    edge, scscf = nodes()
    ue = Ue()
    subscribe, after = registered(edge, scscf, ue)
    assert subscribe.method == "SUBSCRIBE" and subscribe.uri == "sip:alice@ims.test"
    assert subscribe.get("Event") == "reg" and subscribe.get("From").startswith("<sip:pcscf@ims.test>")
    out = to_scscf(scscf, after, 1.0)                                       # 200 + NOTIFY
    assert [parse_message(a.data).status for a in out if a.data.startswith(b"SIP/2.0")] == [200]
    [notify] = [parse_message(a.data) for a in out if a.data.startswith(b"NOTIFY")]
    [contact] = parse_reginfo(notify.body).registrations[0].contacts
    assert contact.state == "active"
    answer = to_pcscf(edge, out, 1.0)
    assert [parse_message(a.data).status for a in answer] == [200]          # the 200 to the NOTIFY
    assert to_scscf(scscf, answer, 1.0) == []
    # a re-registration does not subscribe again: one subscription per IMPU
    again = to_pcscf(edge, to_scscf(scscf, edge.receive_esp(ue.protected(), 2.0), 2.0), 2.0)
    assert again and not [a for a in again if isinstance(a, SendToHop)]
    assert len(edge.regwatch.watches) == 1


def test_a_terminated_contact_deletes_the_ue_sa_set():
    edge, scscf = nodes()
    ue = Ue()
    _, after = registered(edge, scscf, ue)
    to_scscf(scscf, to_pcscf(edge, to_scscf(scscf, after, 1.0), 1.0), 1.0)   # NOTIFY answered
    spis = set(edge.by_spi)
    assert spis
    expired = scscf.on_timer(1.0 + 3600)                                   # the binding expires
    [notify] = [parse_message(a.data) for a in expired if a.data.startswith(b"NOTIFY")]
    [contact] = parse_reginfo(notify.body).registrations[0].contacts
    assert (contact.state, contact.event) == ("terminated", "expired")
    released = [a.spi for a in to_pcscf(edge, expired, 3601.0) if isinstance(a, ReleaseSpi)]
    assert set(released) == spis and edge.by_spi == {}


def test_without_the_switch_nobody_subscribes_and_a_ue_cannot_pose_as_the_pcscf():
    cfg = SutConfig(topology="core", ims=True, edge_next_hop=(PCSCF, 5070, "udp"))
    assert ImsEdgeProxy(cfg, address=(PCSCF, 5060)).regwatch is None
    assert "sip:pcscf@ims.test" not in ScscfNode(cfg).notifier.watchers
    with pytest.raises(ValueError):
        SutConfig(pcscf_reg_event=True)                                     # needs ims + core
