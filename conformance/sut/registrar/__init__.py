"""The reference S-CSCF, sans-IO: the registrar (RFC 3261 section 10.3, RFC 5626 section 6) with
its binding table, REGISTER processing, Digest authentication and transaction cache; the
terminating proxy (RFC 5626 section 7); ``ScscfNode`` (scscf.py), the two as one node."""
