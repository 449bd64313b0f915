"""The embedded reference CSCF: the suite's default system under test.

One subpackage per role, so that each role's rules are read (and changed) in one place, and the
sans-IO rules never import the sockets that serve them:

* ``registrar/``: the S-CSCF.  ``Registrar`` (RFC 3261 section 10.3, RFC 5626 section 6) with
  its binding table, REGISTER processing, Digest authentication and transaction cache;
  ``TerminatingProxy`` (RFC 5626 section 7); ``ScscfNode``, the two as one node.
* ``edge/``: the P-CSCF as an RFC 5626 edge proxy (``EdgeProxy``, section 5) and its flow
  tokens (section 5.2).
* ``ims/``: the IMS P-CSCF: the edge proxy with IMS AKA and sec-agree, ESP in transport mode,
  SIP over TCP over ESP, UDP-encapsulated tunnel mode, SA lifetimes, its command-line options.
* ``common/``: the sans-IO SIP helpers the roles share (responses, header surgery, Flow-Timer
  supervision, the Via keep parameter).
* ``server/``: the thin I/O: ``ReferenceCore`` serves the nodes on UDP and TCP in the
  registrar, edge or core topology (``ReferenceCscf``: the registrar topology), its TCP
  connections, and the IMS P-CSCF's TUN-bound TCP.

Beside them: ``config`` (``SutConfig`` and the known faults), ``flow`` (``FlowInfo``),
``actions`` (what a node asks the server to do) and ``cli`` (``conformance sut``).
"""
