"""SIP wire format: message model (sans-IO), header grammar, TCP framing and the Scapy layer.

The names below are imported from their modules on first use (PEP 562), so that importing one
module of the package (``conformance.sip.message`` for the load generator's start-up) does not
import the others (the header grammar's and the framing's regular expressions)."""

from importlib import import_module

# The Scapy layer is not listed here (it pulls in Scapy): use conformance.sip.layer.
_MODULES = {
    "errors": ("LocalProtocolError", "ParseError", "SipError"),
    "message": ("Request", "Response", "SipMessage", "canonical_name", "parse_message", "split_list"),
    "framing": ("Message", "Ping", "Pong", "StreamFramer", "classify_datagram"),
    "headers": ("AuthParams", "NameAddr", "SecurityMechanism", "SipUri", "Via", "format_auth", "parse_auth",
                "parse_contacts", "parse_cseq", "parse_flow_timer", "parse_name_addr", "parse_name_addrs",
                "parse_option_tags", "parse_security", "parse_uri", "parse_via", "parse_vias", "uri_equal"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [name for names in _MODULES.values() for name in names]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
