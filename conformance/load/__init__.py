"""``conformance load``: a REGISTER load generator on the engine's UE model (docs: README, Performance).

``scenario`` says what to send (UEs, flows, rate, refreshes, mixes); ``templates`` turns a flow
into pre-built REGISTER bytes with two placeholders (branch, CSeq) using the engine's own
``build_register``; ``generator`` drives the sockets (one non-blocking UDP socket per local
address, or TCP connections, one selector, no Scapy on the hot path); ``stats`` keeps rates,
latencies and failures by cause and writes JSON and an HTML report with an inline SVG plot.
"""
