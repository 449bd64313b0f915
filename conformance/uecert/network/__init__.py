"""The live instrumented network side of UE certification: the embedded reference's edge
(P-CSCF: flow token + ;ob in Path) and registrar (S-CSCF), core topology, on free loopback
ports, with a thin tap on the edge that turns every packet and connection into an
:class:`~conformance.uecert.observation.Event` (and a pcap packet) and applies the case's
:class:`~conformance.uecert.model.NetworkBehaviour`.

- ``record``  the case's observation, pcap and message list (thread-safe)
- ``tap``     the edge node wrapper: what crosses the UE side of the edge, and rejections
- ``side``    :class:`UeNetwork`: start / stop, the keep-alive answers (drop pongs, STUN
              mapping), network actions (close a flow, a request to the AOR)
"""

from .side import NetworkActionError, UeNetwork

__all__ = ["NetworkActionError", "UeNetwork"]
