"""What the offline analysis reads of a SIP message, remembered by value (sans-IO): a few header
fields from the message's header index, Contact URIs and their comparable keys, the AOR of a To,
the binding key of a Contact.  Shared by the timeline (timeline.py), the rules (rules.py), the parallel splitter
(parallel.py) and the reg-event follower (regevent.py)."""

from __future__ import annotations

import re

from ..sip.errors import ParseError
from ..sip.headers import NameAddr, parse_name_addr_once
from ..sip.message import NOT_LISTS, Request, split_list

EXPIRY_SLACK = 2.0  # seconds either side of an expiry during which a binding may or may not be listed
BRANCH_PARAM = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.I)


# Derived values of parsed URIs and name-addrs, by object: those objects are shared by text
# (conformance.sip.headers caches them) and read-only, and each comes back at every refresh of
# its binding.  Entries hold their object, so an id is never reused while remembered; bounded.
_MEMO_MAX = 1 << 17
_UKEYS: dict[int, tuple] = {}
_TEXTS: dict[int, tuple] = {}
_FACTS: dict[int, tuple] = {}


def clear_memos() -> None:
    """Forget every reading remembered here (a caller done reading messages frees them)."""
    for memo in (_UKEYS, _TEXTS, _FACTS, _CONTACTS, _CSEQS, _AORS, _CANON, _SEEN):
        memo.clear()


def uri_key(uri) -> str:
    """A comparable form of a Contact URI: scheme, user, host, port and transport."""
    if uri is None:
        return ""
    hit = _UKEYS.get(id(uri))
    if hit is not None and hit[0] is uri:
        return hit[1]
    key = _uri_key_of(uri)
    if len(_UKEYS) >= _MEMO_MAX:
        _UKEYS.clear()
    _UKEYS[id(uri)] = (uri, key)
    return key


def uri_text(uri) -> str:
    """``str(uri)``, remembered (see uri_key)."""
    hit = _TEXTS.get(id(uri))
    if hit is not None and hit[0] is uri:
        return hit[1]
    text = str(uri)
    if len(_TEXTS) >= _MEMO_MAX:
        _TEXTS.clear()
    _TEXTS[id(uri)] = (uri, text)
    return text


def facts(contact: NameAddr) -> tuple:
    """What the analysis reads of a Contact, remembered (see uri_key): ``(contact, instance,
    reg-id, expires parameter, URI key, URI text, binding key)``: the unquoted +sip.instance,
    ``contact.reg_id``, ``contact.expires``, ``uri_key(contact.uri)``, ``uri_text(contact.uri)``
    (None without a URI) and ``binding_key(contact)``."""
    hit = _FACTS.get(id(contact))
    if hit is not None and hit[0] is contact:
        return hit
    out = _facts_of(contact)
    if len(_FACTS) >= _MEMO_MAX:
        _FACTS.clear()
    _FACTS[id(contact)] = out
    return out


def _facts_of(contact: NameAddr) -> tuple:
    """``facts``, read anew (its URI's key and text too: a Contact's facts are remembered whole)."""
    instance, reg_id, uri = contact.instance, contact.reg_id, contact.uri
    ukey = _uri_key_of(uri) if uri is not None else ""
    bkey = ("outbound", instance, reg_id) if instance and reg_id is not None else ("uri", ukey)
    return (contact, instance, reg_id, contact.expires, ukey, str(uri) if uri is not None else None, bkey)


def instance_of(contact: NameAddr) -> str | None:
    """``contact.instance`` (the unquoted +sip.instance), remembered (see facts)."""
    hit = _FACTS.get(id(contact))
    if hit is not None and hit[0] is contact:
        return hit[1]
    return facts(contact)[1]


def hvalues(msg, key: str) -> list[str]:
    """``msg.values(name)`` for the header's canonical lower-case name ``key`` ("via", "contact"):
    the same list, from the message's header index without the copies and name look-ups of the
    general accessor (the analysis reads a few headers of every message, several times)."""
    return values_in(msg.header_index(), key)


def values_in(idx: dict[str, list[str]], key: str) -> list[str]:
    """``hvalues`` from a message's ``header_index()``: a caller that reads several headers of
    one message fetches the index once."""
    lines = idx.get(key)
    if not lines:
        return []
    if key in NOT_LISTS:
        return list(lines)
    if len(lines) == 1:
        return split_list(lines[0])
    out: list[str] = []
    for line in lines:
        out.extend(split_list(line))
    return out


def hget(msg, key: str) -> str | None:
    """``msg.get(name)`` for the canonical lower-case name ``key``."""
    lines = msg.header_index().get(key)
    return lines[0] if lines else None


_CSEQS: dict[str, tuple[int, str] | None] = {}  # CSeq value -> its reading (bounded)
_AORS: dict[str, str] = {}  # To value -> AOR (bounded)


def cseq_of(msg) -> tuple[int, str] | None:
    """``msg.cseq`` (the same reading of the first CSeq)."""
    return cseq_in(msg.header_index())


def cseq_in(idx: dict[str, list[str]]) -> tuple[int, str] | None:
    """``cseq_of`` from a message's ``header_index()``."""
    lines = idx.get("cseq")
    if not lines:
        return None
    value = lines[0]
    try:
        return _CSEQS[value]
    except KeyError:
        pass
    parts = value.split()
    out = None if len(parts) != 2 or not parts[0].isdigit() else (int(parts[0]), parts[1])
    if len(_CSEQS) >= 4096:
        _CSEQS.clear()
    _CSEQS[value] = out
    return out


# Contact values -> their facts, the Contact parsed without the parse caches of
# conformance.sip.headers (its URI is read once with it): a registration load repeats each
# binding's Contact text at every refresh, so the analysis reads each text once while it is
# remembered here, and keeps one entry per text (not a parsed name-addr, a parsed URI and three
# memos of its readings).  Bounded: cleared when full.
CONTACTS_MAX = 65536
_CONTACTS: dict[str, tuple] = {}


def contact_facts(msg, idx: dict[str, list[str]] | None = None) -> list[tuple]:
    """``facts`` of each of ``contacts_of(msg, idx)``, in order (ParseError as it raises)."""
    out = []
    for v in values_in(msg.header_index() if idx is None else idx, "contact"):
        f = _CONTACTS.get(v)
        if f is None:
            f = _facts_of(parse_name_addr_once(v))
            if len(_CONTACTS) >= CONTACTS_MAX:
                _CONTACTS.clear()
            _CONTACTS[v] = f
        out.append(f)
    return out


def contacts_of(msg, idx: dict[str, list[str]] | None = None) -> list[NameAddr]:
    """``parse_contacts(msg)``: the message's Contact values parsed (ParseError as it raises);
    ``idx``: its ``header_index()``, if the caller has it.  Read-only name-addrs, shared by text
    (see contact_facts)."""
    return [f[0] for f in contact_facts(msg, idx)]


def top_branch(msg, vias: list[str] | None = None, idx: dict[str, list[str]] | None = None) -> str | None:
    """``msg.top_branch`` (the same expression), from the Via values when the caller has them
    (or from ``idx``, the message's ``header_index()``)."""
    if vias is None:
        lines = (msg.header_index() if idx is None else idx).get("via")
        if lines is not None and len(lines) == 1 and "," not in lines[0]:
            m = BRANCH_PARAM.search(lines[0])  # its one value (hvalues strips it: the same match)
            return m.group(1) if m else None
        vias = hvalues(msg, "via") if idx is None else values_in(idx, "via")
    if not vias:
        return None
    m = BRANCH_PARAM.search(vias[0])
    return m.group(1) if m else None


def _uri_key_of(uri) -> str:
    host = (uri.host or "").lower()
    port = uri.port or ""
    transport = (uri.param("transport") or "udp").lower() if uri.is_sip else ""
    return f"{uri.scheme}:{uri.user or ''}@{host}:{port};{transport}"


def aor_of(request: Request) -> str:
    return aor_of_to(hget(request, "to"))


def aor_of_to(to: str | None) -> str:
    """The AOR of a To header value (its URI's scheme, user and host); remembered by value."""
    hit = _AORS.get(to) if to is not None else None
    if hit is not None:
        return hit
    aor = _aor_of_to(to)
    if to is not None:
        if len(_AORS) >= _MEMO_MAX:
            _AORS.clear()
        _AORS[to] = aor
    return aor


def _aor_of_to(to: str | None) -> str:
    try:
        uri = parse_name_addr_once(to or "").uri  # remembered in _AORS, not in the parse caches
    except ParseError:
        return to or "?"
    if uri is None:
        return "?"
    return f"{uri.scheme}:{uri.user + '@' if uri.user else ''}{uri.host.lower()}"


def binding_key(contact: NameAddr) -> tuple:
    return facts(contact)[6]


def request_expires(request: Request, contact: NameAddr) -> int | None:
    """The expiry a REGISTER asks for one Contact: its parameter, else the Expires header."""
    expires = facts(contact)[3]
    if expires is not None:
        return expires
    value = (hget(request, "expires") or "").strip()
    return int(value) if value.isdigit() else None


def asks_of(request: Request, contacts: list[NameAddr], cfacts: list[tuple] | None = None) -> list[int | None]:
    """``request_expires`` of each Contact, in order (``cfacts``: their ``facts``, if read)."""
    out = [f[3] for f in cfacts] if cfacts is not None else [facts(c)[3] for c in contacts]
    if None in out:
        out = [request_expires(request, c) for c in contacts]
    return out


# A Via value in its plain form (no LWS but the one space, token parameters): read here without
# the general parser, with the same outcome (conformance.engine.flow_seen.via_seen_address).
_PLAIN_VIA = re.compile(r"SIP/2\.0/[A-Za-z0-9\-.!%*_+`'~]+ ([A-Za-z0-9\-.]+)(?::(\d{1,5}))?"
                        r"((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~]+)?)*)\Z")
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?$")
_CANON: dict[str, str] = {}  # received host -> its RFC 5952 form (bounded)


_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# One plain Via without its branch -> what via_seen reads of it; one a UE flow (bounded: 32,768
# holds the flows of 10,000 UEs with two each, a 1M-message capture's, at some 200 bytes each).
_SEEN: dict[str, tuple[str, int] | None] = {}
_SEEN_MAX = 1 << 15
_MISS = object()


def via_seen(response, idx: dict[str, list[str]] | None = None) -> tuple[str, int] | None:
    """``via_seen_address(response)``: (received, rport) of the top Via, None without rport.  A
    2xx to REGISTER comes with every refresh: its Vias are read with one regular expression
    when they all have the plain form, else by the general parser.  A lone Via in the plain form
    is read once for every branch: the branch (a token, which changes at every request) has no
    part in the answer.  ``idx``: the response's ``header_index()``, if the caller has it."""
    lines = (response.header_index() if idx is None else idx).get("via")
    if lines is not None and len(lines) == 1:
        v = lines[0]
        i = v.find(";branch=")
        if i > 0 and "," not in v:
            j = v.find(";", i + 8)
            if _TOKEN.fullmatch(v, i + 8, len(v) if j < 0 else j) is not None:
                key = v[:i] if j < 0 else v[:i] + v[j:]
                hit = _SEEN.get(key, _MISS)
                if hit is not _MISS:
                    return hit
                seen = _via_seen(response)
                m = _PLAIN_VIA.match(v.strip())
                if m is not None and (m.group(2) is None or int(m.group(2)) <= 65535) and _HOSTNAME.match(m.group(1)):
                    # read by the regular expression (as any branch would be), not by the general parser
                    if len(_SEEN) >= _SEEN_MAX:
                        _SEEN.clear()
                    _SEEN[key] = seen
                return seen
    return _via_seen(response)


def _via_seen(response) -> tuple[str, int] | None:
    vias = hvalues(response, "via")
    top = None
    for v in vias:
        m = _PLAIN_VIA.match(v)
        if m is None or (m.group(2) is not None and int(m.group(2)) > 65535) or not _HOSTNAME.match(m.group(1)):
            from ..engine.flow_seen import via_seen_address

            return via_seen_address(response)
        if top is None:
            top = m
    if top is None:
        return None
    received = rport = None
    has_received = has_rport = False
    for p in top.group(3).split(";")[1:]:
        name, eq, value = p.partition("=")
        name = name.lower()
        if name == "received" and not has_received:  # the first of a name counts (as parsed)
            has_received, received = True, value if eq else None
        elif name == "rport" and not has_rport:
            has_rport, rport = True, value
    received = received or top.group(1)
    if not received or not has_rport or not rport or not rport.isdigit():
        return None
    host = _CANON.get(received)
    if host is None:
        import ipaddress

        host = received.strip("[]")
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            pass
        if len(_CANON) >= 4096:
            _CANON.clear()
        _CANON[received] = host
    return host, int(rport)
