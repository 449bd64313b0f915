"""Steps that act on the network topology, and the NAT's view of a case.

- ``nat: rebind``: the NAT's public address changes and every mapping is forgotten (a NAT
  rebinding, RFC 5626 §4.4.2: the UE learns it from a changed XOR-MAPPED-ADDRESS).
- ``nat: flush``: every mapping is forgotten (conntrack flushed), the public address stays.

After the case, :func:`merge_nat_view` adds the frames captured on the NAT's veth ends to the
case's pcap (each packet before and after translation) and notes on each UE message how the NAT
translated it, so the ladder shows the mapping.
"""

from __future__ import annotations

from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError


def nat_step(run, step, result: StepResult) -> None:
    topo = run.topology
    what = step.options.get("do") or step.options.get("action")
    if topo is None:
        raise LocalProtocolError("nat: the target has no network topology")
    if what == "rebind":
        old, new = topo.rebind()
        result.note = f"NAT rebinding: public address {old} -> {new}, every mapping forgotten"
    elif what == "flush":
        topo.flush()
        result.note = "NAT mappings flushed (conntrack -F)"
    else:
        raise LocalProtocolError(f"nat: unknown action {what!r} (rebind, flush)")


def merge_nat_view(run) -> None:
    topo = run.topology
    cap = getattr(topo, "capture", None)
    if cap is None:
        return
    start = run._wall0
    for f in cap.since(run.nat_mark):
        run.pcap.ether(f.when, f.data)
    behind = {f.local_ip for u in run.ues.values() for f in u.flows.values() if topo.spec.behind_nat(f.local_ip)}
    if not behind:
        return
    encap = getattr(run, "encap_ports", None) or set()
    for m in run.messages:
        local = m.src if m.direction == "sent" else m.dst
        if not local or local[0] not in behind or not m.text:
            continue
        when = start + m.time
        payload = m.text.encode("utf-8")
        if m.transport == "udp" and local[1] in encap:
            # inside ESP-in-UDP the text is not on the wire: the protected port's mapping
            site = next((getattr(f.spec, "site", 1) for u in run.ues.values() for f in u.flows.values()
                         if local[1] in (f.port_uc, f.port_us)), 1)
            mapped = cap.mapping(tuple(local), "udp", iface=f"in{site - 1}", at=when,
                                 sent=m.direction == "sent")
            note = f"NAT: ESP-in-UDP from {local[1]} mapped to {mapped[0]}:{mapped[1]}" if mapped else ""
        elif m.transport == "udp":
            fr = cap.translated("udp", payload, m.direction == "sent", when)
            if fr is None:
                note = "NAT: not seen leaving the NAT" if m.direction == "sent" else ""
            elif m.direction == "sent":
                note = f"NAT: leaves as {fr.src[0]}:{fr.src[1]}"
            else:
                note = f"NAT: SUT sent to {fr.dst[0]}:{fr.dst[1]}"
        else:
            # this connection's own mapping (a re-registration after a rebinding has another)
            site = next((getattr(f.spec, "site", 1) for u in run.ues.values() for f in u.flows.values()
                         if f.name == m.flow), 1)
            mapped = cap.mapping(tuple(local), "tcp", iface=f"in{site - 1}", at=when,
                                 sent=m.direction == "sent")
            seen = [mapped] if mapped else (run.mappings.get(m.flow) or [])
            note = f"NAT mapping {seen[-1][0]}:{seen[-1][1]}" if seen else ""
        if note:
            m.note = f"{m.note}; {note}" if m.note else note


def _esp_keepalive(run, step, result: StepResult) -> None:
    from .encap_steps import esp_keepalive_step

    esp_keepalive_step(run, step, result)


TOPOLOGY_STEPS = {"nat": nat_step, "esp_keepalive": _esp_keepalive}
