"""The reg event package's body, application/reginfo+xml (RFC 3680 §5), as a model.

A reginfo document comes from the SUT (a registrar or S-CSCF notifying the UE of its flows), so it
is untrusted: it is parsed by the standard library's ElementTree through defusedxml, which refuses
DTDs, entity declarations and external references (billion laughs, XXE), and every way the
document can break RFC 3680 §5.4's schema surfaces as :class:`ParseError` naming the element and
attribute, so a check can quote it as the SUT's fault. Elements of other namespaces are ignored as
§5.1 requires.

Two extensions are read because multiple registrations need them:
- RFC 5626 §4.2 instance and reg-id arrive as ``<unknown-param name="+sip.instance">`` and
  ``<unknown-param name="reg-id">`` (RFC 3680 §5.1 carries every Contact parameter RFC 3261
  does not define that way). :attr:`Contact.instance` is written as the Contact header field
  writes it once its quotes are taken off (``<urn:uuid:...>``, as
  ``conformance.sip.headers`` gives it), so the two compare equal; a bare URN gets its brackets.
- GRUUs (RFC 5627) in the ``urn:ietf:params:xml:ns:gruuinfo`` namespace of RFC 5628. RFC 5628 is
  not in the spec folder, so only what issue 18 needs is read: ``<pub-gruu uri=...>`` and
  ``<temp-gruu uri=... first-cseq=...>``; anything else of that namespace is ignored.

:func:`apply_partial` is the subscriber's merge of RFC 3680 §5.2 (the notifier side's state
machine is §4.7), so a UE or the offline analyser can hold the registration state a series of
NOTIFYs describes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from .errors import ParseError

NS = "urn:ietf:params:xml:ns:reginfo"
GRUU_NS = "urn:ietf:params:xml:ns:gruuinfo"

DOC_STATES = ("full", "partial")
REGISTRATION_STATES = ("init", "active", "terminated")
CONTACT_STATES = ("active", "terminated")
CONTACT_EVENTS = ("registered", "created", "refreshed", "shortened", "expired", "deactivated",
                  "probation", "unregistered", "rejected")

_UINT32 = 2**32 - 1   # §5.1: versions MUST be representable using a 32 bit integer
_ULONG = 2**64 - 1    # xs:unsignedLong
_DIGITS = re.compile(r"[0-9]+")


class StateError(ParseError):
    """A document that cannot be applied to the state held so far (RFC 3680 §5.2).

    A ParseError so that code judging a NOTIFY catches one kind of "the SUT sent a body we cannot
    use" error; the bytes are well-formed, it is their place in the sequence that is wrong.
    """


@dataclass(frozen=True)
class TempGruu:
    uri: str
    first_cseq: int | None = None


@dataclass(frozen=True)
class Contact:
    id: str
    state: str
    event: str
    uri: str
    expires: int | None = None
    retry_after: int | None = None
    duration_registered: int | None = None
    q: str | None = None
    callid: str | None = None
    cseq: int | None = None
    display_name: str | None = None
    display_lang: str | None = None
    unknown_params: dict[str, str] = field(default_factory=dict)
    instance: str | None = None
    reg_id: int | None = None
    pub_gruu: str | None = None
    temp_gruus: tuple[TempGruu, ...] = ()

    def __post_init__(self):
        # instance and reg_id are views of two unknown-params: keep both ways of building a
        # Contact (from a document, or by a notifier from the binding) saying the same thing.
        if self.display_lang is not None and self.display_name is None:
            raise ValueError("display_lang without display_name: xml:lang belongs to <display-name>")
        params = {name.lower(): value for name, value in self.unknown_params.items()}
        if self.instance is not None:
            quoted = f'"{_bracketed(self.instance)}"'
            if "+sip.instance" in params and _instance_of(params["+sip.instance"]) != _bracketed(self.instance):
                raise ValueError(f"instance {self.instance!r} differs from unknown-param "
                                 f"+sip.instance {params['+sip.instance']!r}")
            params.setdefault("+sip.instance", quoted)
            object.__setattr__(self, "instance", _bracketed(self.instance))
        elif "+sip.instance" in params:
            object.__setattr__(self, "instance", _instance_of(params["+sip.instance"]))
        if self.reg_id is not None:
            if "reg-id" in params and params["reg-id"] != str(self.reg_id):
                raise ValueError(f"reg_id {self.reg_id} differs from unknown-param reg-id "
                                 f"{params['reg-id']!r}")
            params.setdefault("reg-id", str(self.reg_id))
        elif "reg-id" in params:
            object.__setattr__(self, "reg_id", _reg_id_of(params["reg-id"]))
        object.__setattr__(self, "unknown_params", params)
        object.__setattr__(self, "temp_gruus", tuple(self.temp_gruus))


@dataclass(frozen=True)
class Registration:
    aor: str
    id: str
    state: str
    contacts: tuple[Contact, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "contacts", tuple(self.contacts))

    def contact(self, contact_id: str) -> Contact | None:
        return next((c for c in self.contacts if c.id == contact_id), None)


@dataclass(frozen=True)
class RegInfo:
    version: int
    state: str
    registrations: tuple[Registration, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "registrations", tuple(self.registrations))

    def registration(self, *, id: str | None = None, aor: str | None = None) -> Registration | None:
        return next((r for r in self.registrations
                     if (id is None or r.id == id) and (aor is None or r.aor == aor)), None)


# ---------------------------------------------------------------------------------------- parsing

def parse_reginfo(body: bytes) -> RegInfo:
    """The document in a NOTIFY body; :class:`ParseError` for anything RFC 3680 §5 refuses."""
    try:
        root = DET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ParseError(f"reginfo body refused as hostile XML: {type(exc).__name__}: {exc}") from None
    except ET.ParseError as exc:
        raise ParseError(f"reginfo body is not well-formed XML: {exc}") from None
    if root.tag != _q("reginfo"):
        raise ParseError(f"reginfo body's root element is {_show(root.tag)}, not <reginfo> of {NS}")
    version = _int_attr(root, "reginfo", "version", required=True, maximum=_UINT32)
    state = _enum_attr(root, "reginfo", "state", DOC_STATES)
    registrations, ids, aors = [], set(), set()
    for child in root:
        if child.tag == _q("registration"):
            reg = _registration(child)
            if reg.id in ids:
                raise ParseError(f'<registration id="{reg.id}"> appears twice in one document')
            if reg.aor in aors:
                raise ParseError(f'<registration aor="{reg.aor}"> is spread across two registration '
                                 "elements (RFC 3680 §5.1: it MUST be in a single one)")
            ids.add(reg.id)
            aors.add(reg.aor)
            registrations.append(reg)
        else:
            _other(child, "reginfo")
    return RegInfo(version, state, tuple(registrations))


def _registration(el) -> Registration:
    aor = _str_attr(el, "registration", "aor")
    reg_id = _str_attr(el, "registration", "id")
    where = f'registration id="{reg_id}"'
    state = _enum_attr(el, where, "state", REGISTRATION_STATES)
    contacts, ids = [], set()
    for child in el:
        if child.tag == _q("contact"):
            contact = _contact(child, where)
            if contact.id in ids:
                raise ParseError(f'<contact id="{contact.id}"> appears twice in <{where}>')
            ids.add(contact.id)
            contacts.append(contact)
        else:
            _other(child, where)
    return Registration(aor, reg_id, state, tuple(contacts))


def _contact(el, parent: str) -> Contact:
    cid = _str_attr(el, f"contact in <{parent}>", "id")
    where = f'contact id="{cid}"'
    state = _enum_attr(el, where, "state", CONTACT_STATES)
    event = _enum_attr(el, where, "event", CONTACT_EVENTS)
    ints = {name: _int_attr(el, where, name, maximum=_ULONG)
            for name in ("expires", "retry-after", "duration-registered", "cseq")}
    if event == "shortened" and ints["expires"] is None:
        raise ParseError(f'<{where}> has event="shortened" but no expires attribute (RFC 3680 §5.1)')
    if event == "probation" and ints["retry-after"] is None:
        raise ParseError(f'<{where}> has event="probation" but no retry-after attribute (RFC 3680 §5.1)')
    uri = display = lang = pub = None
    params: dict[str, str] = {}
    temps: list[TempGruu] = []
    for child in el:
        tag = child.tag
        if tag == _q("uri"):
            if uri is not None:
                raise ParseError(f"<{where}> has two <uri> elements")
            uri = (child.text or "").strip()
        elif tag == _q("display-name"):
            display = child.text or ""
            lang = child.get("{http://www.w3.org/XML/1998/namespace}lang")
        elif tag == _q("unknown-param"):
            name = child.get("name")
            if name is None:
                raise ParseError(f"<unknown-param> in <{where}> lacks its required name attribute")
            key = name.strip().lower()
            if key in params:
                raise ParseError(f'<unknown-param name="{name}"> appears twice in <{where}>')
            params[key] = (child.text or "").strip()
        elif tag == f"{{{GRUU_NS}}}pub-gruu":
            if pub is not None:
                raise ParseError(f"<{where}> has two <pub-gruu> elements")
            pub = _str_attr(child, f"pub-gruu in <{where}>", "uri")
        elif tag == f"{{{GRUU_NS}}}temp-gruu":
            temps.append(TempGruu(_str_attr(child, f"temp-gruu in <{where}>", "uri"),
                                  _int_attr(child, f"temp-gruu in <{where}>", "first-cseq",
                                            maximum=_ULONG)))
        else:
            _other(child, where)
    if not uri:
        raise ParseError(f"<{where}> lacks its required <uri> element (or it is empty)")
    if "reg-id" in params:
        _reg_id_checked(params["reg-id"], where)
    if "+sip.instance" in params and not _instance_of(params["+sip.instance"]).strip("<>"):
        raise ParseError(f'<unknown-param name="+sip.instance"> in <{where}> is empty')
    return Contact(cid, state, event, uri, expires=ints["expires"], retry_after=ints["retry-after"],
                   duration_registered=ints["duration-registered"], q=el.get("q"),
                   callid=el.get("callid"), cseq=ints["cseq"], display_name=display,
                   display_lang=lang, unknown_params=params, pub_gruu=pub, temp_gruus=tuple(temps))


def _other(el, parent: str) -> None:
    """§5.1: elements of other namespaces MUST be ignored; unknown ones of ours are an error."""
    if el.tag.startswith(f"{{{NS}}}"):
        raise ParseError(f"<{parent}> contains {_show(el.tag)}, which RFC 3680 §5.4 does not allow there")


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _show(tag: str) -> str:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return f"<{local}> (namespace {ns})"
    return f"<{tag}> (no namespace)"


def _str_attr(el, where: str, name: str) -> str:
    value = el.get(name)
    if value is None:
        raise ParseError(f"<{where}> lacks its required {name} attribute")
    return value


def _enum_attr(el, where: str, name: str, allowed: tuple[str, ...]) -> str:
    value = _str_attr(el, where, name)
    if value not in allowed:
        raise ParseError(f'<{where}> has {name}="{value}", not one of {", ".join(allowed)} '
                         "(RFC 3680 §5.4)")
    return value


def _int_attr(el, where: str, name: str, *, required: bool = False, maximum: int) -> int | None:
    value = el.get(name)
    if value is None:
        if required:
            raise ParseError(f"<{where}> lacks its required {name} attribute")
        return None
    text = value.strip()
    if not _DIGITS.fullmatch(text) or int(text) > maximum:
        raise ParseError(f'<{where}> has {name}="{value}", not an integer in 0..{maximum}')
    return int(text)


def _instance_of(raw: str) -> str:
    """RFC 5626 §4.2 writes ``+sip.instance="<urn:uuid:...>"``; notifiers copy it with or without
    the quotes (and some drop the brackets): all come out as ``<urn:uuid:...>``."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return _bracketed(value)


def _bracketed(value: str) -> str:
    value = value.strip()
    return value if value.startswith("<") and value.endswith(">") else f"<{value}>"


def _reg_id_checked(raw: str, where: str) -> int:
    value = _reg_id_of(raw)
    if value is None:
        raise ParseError(f'<unknown-param name="reg-id"> in <{where}> is "{raw}", '
                         "not an integer 1..2147483647 (RFC 5626 §4.2)")
    return value


def _reg_id_of(raw: str) -> int | None:
    text = raw.strip().strip('"')
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= 2**31 - 1:
        return None
    return int(text)


# -------------------------------------------------------------------------------------- rendering

def render_reginfo(info: RegInfo) -> bytes:
    """The document a notifier sends; :func:`parse_reginfo` gives ``info`` back."""
    root = ET.Element("reginfo", {"xmlns": NS, "version": str(info.version), "state": info.state})
    if any(c.pub_gruu or c.temp_gruus for r in info.registrations for c in r.contacts):
        root.set("xmlns:gr", GRUU_NS)
    for reg in info.registrations:
        reg_el = ET.SubElement(root, "registration", {"aor": reg.aor, "id": reg.id, "state": reg.state})
        for c in reg.contacts:
            _render_contact(reg_el, c)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _render_contact(parent, c: Contact) -> None:
    attrs = {"id": c.id, "state": c.state, "event": c.event}
    for name, value in (("expires", c.expires), ("retry-after", c.retry_after),
                        ("duration-registered", c.duration_registered), ("q", c.q),
                        ("callid", c.callid), ("cseq", c.cseq)):
        if value is not None:
            attrs[name] = str(value)
    el = ET.SubElement(parent, "contact", attrs)
    ET.SubElement(el, "uri").text = c.uri
    if c.display_name is not None:
        dn = ET.SubElement(el, "display-name")
        dn.text = c.display_name
        if c.display_lang is not None:
            dn.set("xml:lang", c.display_lang)
    for name, value in c.unknown_params.items():
        ET.SubElement(el, "unknown-param", {"name": name}).text = value
    if c.pub_gruu is not None:
        ET.SubElement(el, "gr:pub-gruu", {"uri": c.pub_gruu})
    for temp in c.temp_gruus:
        attrs = {"uri": temp.uri}
        if temp.first_cseq is not None:
            attrs["first-cseq"] = str(temp.first_cseq)
        ET.SubElement(el, "gr:temp-gruu", attrs)


# ---------------------------------------------------------------------------------------- merging

def apply_partial(full: RegInfo, partial: RegInfo) -> RegInfo:
    """The state after ``partial`` (RFC 3680 §5.2's table update), as a full document.

    Strict where §5.2 is forgiving: a version other than one more is a :class:`StateError`
    (the subscriber would resynchronise; a conformance check wants to know). Terminated contacts
    stay in the result (§5.2 allows removing them "at any time"), so a check can still see how a
    flow ended.
    """
    expected = full.version + 1
    if partial.version != expected:
        raise StateError(f"reginfo version {partial.version} received, {expected} expected "
                         f"(one more than {full.version}, RFC 3680 §5.2)")
    if partial.state == "full":
        return partial
    regs = {r.id: r for r in full.registrations}
    for new in partial.registrations:
        old = regs.get(new.id)
        if old is None:
            regs[new.id] = new
            continue
        if old.aor != new.aor:
            raise StateError(f'<registration id="{new.id}"> was aor "{old.aor}", now "{new.aor}" '
                             "(RFC 3680 §5.1: the id of an AOR stays the same)")
        contacts = {c.id: c for c in old.contacts}
        contacts.update((c.id, c) for c in new.contacts)
        regs[new.id] = replace(old, state=new.state, contacts=tuple(contacts.values()))
    return RegInfo(partial.version, "full", tuple(regs.values()))
