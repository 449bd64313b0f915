"""SIP wire format: message model (sans-IO), header grammar, TCP framing and the Scapy layer."""

from .errors import LocalProtocolError, ParseError, SipError
from .message import Request, Response, SipMessage, canonical_name, parse_message, split_list
from .framing import Message, Ping, Pong, StreamFramer, classify_datagram
from .headers import (
    AuthParams, NameAddr, SecurityMechanism, SipUri, Via, format_auth, parse_auth,
    parse_contacts, parse_cseq, parse_flow_timer, parse_name_addr, parse_name_addrs,
    parse_option_tags, parse_security, parse_uri, parse_via, parse_vias, uri_equal,
)

# The Scapy layer is not imported here (it pulls in Scapy): use conformance.sip.layer.

__all__ = [
    "LocalProtocolError", "ParseError", "SipError", "Request", "Response", "SipMessage",
    "canonical_name", "parse_message", "split_list",
    "Message", "Ping", "Pong", "StreamFramer", "classify_datagram",
    "AuthParams", "NameAddr", "SecurityMechanism", "SipUri", "Via", "format_auth", "parse_auth",
    "parse_contacts", "parse_cseq", "parse_flow_timer", "parse_name_addr", "parse_name_addrs",
    "parse_option_tags", "parse_security", "parse_uri", "parse_via", "parse_vias", "uri_equal",
]
