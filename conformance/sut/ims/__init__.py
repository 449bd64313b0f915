"""The reference IMS P-CSCF, sans-IO: the edge proxy with IMS AKA and sec-agree (proxy.py, TS 33.203,
TS 24.229), SIP over TCP over ESP (tcp.py), UDP-encapsulated tunnel mode (udpencap.py), SA
lifetimes (salifetime.py), and its ``conformance sut --ims`` options (cli.py)."""
