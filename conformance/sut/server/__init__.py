"""The thin I/O of the reference: ``ReferenceCore`` (reference.py) serves the sans-IO nodes on UDP
and TCP, its listeners and TCP connections (connections.py), and the IMS P-CSCF's TUN-bound TCP
(protected_tcp.py).  The only part of the reference that opens sockets."""
