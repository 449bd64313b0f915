"""Conformance test suite for IMS multiple registrations (SIP Outbound, RFC 5626)."""

__version__ = "0.1.0"
