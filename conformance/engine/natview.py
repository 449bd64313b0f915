"""The NAT's view of a case: after the case, the frames captured on the NAT's veth ends join the
case's pcap (each packet before and after translation), and each UE message gets a note saying
how the NAT translated it, so the ladder shows the mapping."""

from __future__ import annotations

from .espstate import EspState


def merge_nat_view(run) -> None:
    topo = run.topology
    cap = getattr(topo, "capture", None)
    if cap is None:
        return
    start = run.wall_start
    for f in cap.since(run.nat_mark):
        run.pcap.ether(f.when, f.data)
    behind = {f.local_ip for u in run.ues.values() for f in u.flows.values() if topo.spec.behind_nat(f.local_ip)}
    if not behind:
        return
    encap = run.state(EspState).encap_ports
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
