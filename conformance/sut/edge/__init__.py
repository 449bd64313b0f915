"""The reference P-CSCF as an RFC 5626 edge proxy, sans-IO: ``EdgeProxy`` (proxy.py, section 5)
and its flow tokens (flowtoken.py, section 5.2)."""
