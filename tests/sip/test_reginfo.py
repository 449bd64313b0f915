"""application/reginfo+xml (RFC 3680 §5): the RFC's own documents, the RFC 5626/5627 extensions,
hostile and broken bodies refused as ParseError, render/parse round trip, and §5.2's merge."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.sip.errors import ParseError
from conformance.sip.headers import parse_name_addr
from conformance.sip.reginfo import (
    CONTACT_EVENTS, CONTACT_STATES, DOC_STATES, REGISTRATION_STATES, Contact, RegInfo,
    Registration, StateError, TempGruu, apply_partial, parse_reginfo, render_reginfo,
)

# RFC 3680 §5.3, quoted
RFC3680_5_3 = b"""<?xml version="1.0"?>
    <reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                 version="0" state="full">
      <registration aor="sip:user@example.com" id="as9"
                    state="active">
        <contact id="76" state="active" event="registered"
                 duration-registered="7322"
                 q="0.8">
                 <uri>sip:user@pc887.example.com</uri>
        </contact>
        <contact id="77" state="terminated" event="expired"
                 duration-registered="3600"
                 q="0.5">
                 <uri>sip:user@university.edu</uri>
        </contact>
      </registration>
    </reginfo>
"""

# RFC 3680 §6, the NOTIFY (3) body after the SUBSCRIBE, quoted
RFC3680_6_NOTIFY3 = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
             version="0" state="full">
  <registration aor="sip:joe@example.com" id="a7" state="init" />
</reginfo>
"""

# RFC 3680 §6, the NOTIFY (7) body after joe registers, quoted
RFC3680_6_NOTIFY7 = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
          version="1" state="partial">
  <registration aor="sip:joe@example.com" id="a7" state="active">
    <contact id="76" state="active" event="registered"
          duration-registered="0">
       <uri>sip:joe@pc34.example.com</uri>
    </contact>
  </registration>
</reginfo>
"""

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"


def doc(contacts: str, *, version="0", state="full", extra_ns="") -> bytes:
    return (f'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" {extra_ns} version="{version}" '
            f'state="{state}"><registration aor="sip:ue@ims.test" id="r1" state="active">'
            f"{contacts}</registration></reginfo>").encode()


def contact(body: str = "<uri>sip:ue@192.0.2.1</uri>", attrs: str = "") -> str:
    return f'<contact id="c1" state="active" event="registered" {attrs}>{body}</contact>'


# ---------------------------------------------------------------------------------- RFC examples

def test_rfc3680_5_3_example():
    info = parse_reginfo(RFC3680_5_3)
    assert (info.version, info.state) == (0, "full")
    (reg,) = info.registrations
    assert (reg.aor, reg.id, reg.state) == ("sip:user@example.com", "as9", "active")
    first, second = reg.contacts
    assert (first.id, first.state, first.event, first.uri, first.duration_registered, first.q) == \
        ("76", "active", "registered", "sip:user@pc887.example.com", 7322, "0.8")
    assert (second.id, second.state, second.event, second.uri, second.duration_registered) == \
        ("77", "terminated", "expired", "sip:user@university.edu", 3600)
    assert first.instance is None and first.reg_id is None and first.unknown_params == {}


def test_rfc3680_6_call_flow_documents_and_their_merge():
    initial = parse_reginfo(RFC3680_6_NOTIFY3)
    assert initial == RegInfo(0, "full", (Registration("sip:joe@example.com", "a7", "init"),))
    update = parse_reginfo(RFC3680_6_NOTIFY7)
    assert (update.version, update.state) == (1, "partial")
    merged = apply_partial(initial, update)
    assert merged.version == 1 and merged.state == "full"
    reg = merged.registration(id="a7")
    assert reg.state == "active"
    assert [(c.id, c.uri, c.duration_registered) for c in reg.contacts] == \
        [("76", "sip:joe@pc34.example.com", 0)]


# ------------------------------------------------------------------- RFC 5626 / 5627 extensions

@pytest.mark.parametrize("raw", [
    '"&lt;urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF&gt;"',   # as the Contact header writes it
    "&lt;urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF&gt;",     # quotes dropped
    "<![CDATA[<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>]]>",
    "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF",             # brackets dropped too
])
def test_instance_and_reg_id_from_unknown_params(raw):
    info = parse_reginfo(doc(contact(
        f'<uri>sip:ue@192.0.2.1;ob</uri><unknown-param name="+sip.instance">{raw}</unknown-param>'
        '<unknown-param name="reg-id">2</unknown-param>'
        '<unknown-param name="+g.3gpp.smsip"></unknown-param>')))
    (c,) = info.registrations[0].contacts
    assert c.instance == INSTANCE
    # the same string the Contact header field gives, so a check can compare the two directly
    header = parse_name_addr(f'<sip:ue@192.0.2.1;ob>;reg-id=2;+sip.instance="{INSTANCE}"')
    assert c.instance == header.instance
    assert c.reg_id == 2
    assert c.unknown_params["+g.3gpp.smsip"] == ""


def test_gruu_elements():
    info = parse_reginfo(doc(contact(
        '<uri>sip:ue@192.0.2.1</uri>'
        '<gr:pub-gruu uri="sip:ue@ims.test;gr=urn:uuid:1"/>'
        '<gr:temp-gruu uri="sip:tgruu.7hs==@ims.test;gr" first-cseq="12"/>'
        '<gr:temp-gruu uri="sip:tgruu.8ab==@ims.test;gr"/>'),
        extra_ns='xmlns:gr="urn:ietf:params:xml:ns:gruuinfo"'))
    (c,) = info.registrations[0].contacts
    assert c.pub_gruu == "sip:ue@ims.test;gr=urn:uuid:1"
    assert c.temp_gruus == (TempGruu("sip:tgruu.7hs==@ims.test;gr", 12),
                            TempGruu("sip:tgruu.8ab==@ims.test;gr", None))


def test_other_namespaces_are_ignored():
    info = parse_reginfo(doc(contact(
        '<uri>sip:ue@192.0.2.1</uri><x:extra>anything<x:deeper/></x:extra>'),
        extra_ns='xmlns:x="urn:example:other"'))
    assert info.registrations[0].contacts[0].uri == "sip:ue@192.0.2.1"


def test_contact_built_from_instance_fills_unknown_params_and_refuses_a_contradiction():
    c = Contact("c1", "active", "registered", "sip:ue@192.0.2.1",
                instance="urn:uuid:1", reg_id=1)
    assert c.instance == "<urn:uuid:1>"
    assert c.unknown_params == {"+sip.instance": '"<urn:uuid:1>"', "reg-id": "1"}
    with pytest.raises(ValueError, match="reg_id 1 differs"):
        Contact("c1", "active", "registered", "sip:x", reg_id=1, unknown_params={"reg-id": "2"})
    with pytest.raises(ValueError, match="display_lang without display_name"):
        Contact("c1", "active", "registered", "sip:x", display_lang="en")
    with pytest.raises(ValueError, match="instance"):
        Contact("c1", "active", "registered", "sip:x", instance="<urn:uuid:1>",
                unknown_params={"+sip.instance": '"<urn:uuid:2>"'})


# ------------------------------------------------------------------------------- refused bodies

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">&lol3;</reginfo>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">&x;</reginfo>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE reginfo>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"/>"""
ROOT = '<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">{}</reginfo>'


@pytest.mark.parametrize("body, message", [
    (b"", "not well-formed XML"),
    (b"SIP/2.0 200 OK", "not well-formed XML"),
    (b"<reginfo", "not well-formed XML"),
    (BILLION_LAUGHS, "hostile XML: DTDForbidden"),
    (XXE, "hostile XML: DTDForbidden"),
    (DTD_ONLY, "hostile XML: DTDForbidden"),
    (b'<reginfo version="0" state="full"/>', "root element is <reginfo> (no namespace)"),
    (b'<presence xmlns="urn:ietf:params:xml:ns:pidf"/>', "root element is <presence> (namespace urn:ietf:params:xml:ns:pidf)"),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" state="full"/>', "<reginfo> lacks its required version attribute"),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0"/>', "<reginfo> lacks its required state attribute"),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="one" state="full"/>', '<reginfo> has version="one", not an integer'),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="-1" state="full"/>', '<reginfo> has version="-1"'),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="4294967296" state="full"/>', "not an integer in 0..4294967295"),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="delta"/>', '<reginfo> has state="delta", not one of full, partial'),
    (ROOT.format('<registration id="r" state="active"/>').encode(), "<registration> lacks its required aor attribute"),
    (ROOT.format('<registration aor="sip:a@b" state="active"/>').encode(), "<registration> lacks its required id attribute"),
    (ROOT.format('<registration aor="sip:a@b" id="r"/>').encode(), '<registration id="r"> lacks its required state attribute'),
    (ROOT.format('<registration aor="sip:a@b" id="r" state="pending"/>').encode(), '<registration id="r"> has state="pending"'),
    (ROOT.format('<registration aor="sip:a@b" id="r" state="init"/><registration aor="sip:c@d" id="r" state="init"/>').encode(),
     '<registration id="r"> appears twice'),
    (ROOT.format('<registration aor="sip:a@b" id="r" state="init"/><registration aor="sip:a@b" id="s" state="init"/>').encode(),
     '<registration aor="sip:a@b"> is spread across two'),
    (ROOT.format('<bogus/>').encode(), "<reginfo> contains <bogus>"),
    (doc('<contact state="active" event="registered"><uri>sip:x</uri></contact>'), '<contact in <registration id="r1">> lacks its required id attribute'),
    (doc('<contact id="c1" event="registered"><uri>sip:x</uri></contact>'), '<contact id="c1"> lacks its required state attribute'),
    (doc('<contact id="c1" state="active"><uri>sip:x</uri></contact>'), '<contact id="c1"> lacks its required event attribute'),
    (doc(contact(attrs="").replace('event="registered"', 'event="replaced"')), '<contact id="c1"> has event="replaced"'),
    (doc(contact().replace('state="active"', 'state="expired"')), '<contact id="c1"> has state="expired"'),
    (doc(contact().replace('"registered"', '"shortened"')), 'event="shortened" but no expires'),
    (doc(contact().replace('"registered"', '"probation"')), 'event="probation" but no retry-after'),
    (doc(contact(attrs='expires="soon"')), '<contact id="c1"> has expires="soon"'),
    (doc(contact(attrs='cseq="1.5"')), '<contact id="c1"> has cseq="1.5"'),
    (doc(contact(body="")), '<contact id="c1"> lacks its required <uri> element'),
    (doc(contact(body="<uri> </uri>")), '<contact id="c1"> lacks its required <uri> element'),
    (doc(contact(body="<uri>sip:a</uri><uri>sip:b</uri>")), "has two <uri> elements"),
    (doc(contact() + contact()), '<contact id="c1"> appears twice in <registration id="r1">'),
    (doc(contact(body='<uri>sip:x</uri><unknown-param>1</unknown-param>')), "<unknown-param> in <contact id=\"c1\"> lacks its required name attribute"),
    (doc(contact(body='<uri>sip:x</uri><unknown-param name="reg-id">0</unknown-param>')), '<unknown-param name="reg-id"> in <contact id="c1"> is "0"'),
    (doc(contact(body='<uri>sip:x</uri><unknown-param name="reg-id">x</unknown-param>')), "not an integer 1..2147483647"),
    (doc(contact(body='<uri>sip:x</uri><unknown-param name="+sip.instance">""</unknown-param>')), '<unknown-param name="+sip.instance"> in <contact id="c1"> is empty'),
    (doc(contact(body='<uri>sip:x</uri><gr:pub-gruu/>'), extra_ns='xmlns:gr="urn:ietf:params:xml:ns:gruuinfo"'),
     '<pub-gruu in <contact id="c1">> lacks its required uri attribute'),
    (doc(contact(body='<uri>sip:x</uri><gr:temp-gruu uri="sip:t" first-cseq="x"/>'), extra_ns='xmlns:gr="urn:ietf:params:xml:ns:gruuinfo"'),
     'has first-cseq="x"'),
])
def test_refused_with_the_element_and_attribute_named(body, message):
    with pytest.raises(ParseError) as caught:
        parse_reginfo(body)
    assert message in str(caught.value)


# ------------------------------------------------------------------------------------ round trip

_SAFE = st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co"))
_text = st.text(_SAFE, max_size=12)
_token = st.text(st.sampled_from("abcdefxyz0123456789-.+:;@=<>&\"'"), min_size=1, max_size=12) \
    .map(str.strip).filter(bool)
_uint = st.integers(0, 2**64 - 1)


@st.composite
def contacts(draw, cid: str):
    params = draw(st.dictionaries(
        _token.map(str.lower).filter(lambda n: n not in ("+sip.instance", "reg-id")),
        st.one_of(st.just(""), _token), max_size=3))
    event = draw(st.sampled_from(CONTACT_EVENTS))
    display = draw(st.none() | _text)
    return Contact(
        cid, draw(st.sampled_from(CONTACT_STATES)), event, draw(_token),
        expires=draw(_uint) if event == "shortened" else draw(st.none() | _uint),
        retry_after=draw(_uint) if event == "probation" else draw(st.none() | _uint),
        duration_registered=draw(st.none() | _uint), q=draw(st.none() | _text),
        callid=draw(st.none() | _text), cseq=draw(st.none() | _uint),
        display_name=display,
        display_lang=None if display is None else draw(st.none() | _text), unknown_params=params,
        instance=draw(st.none() | st.uuids().map(lambda u: f"<urn:uuid:{u}>")),
        reg_id=draw(st.none() | st.integers(1, 2**31 - 1)),
        pub_gruu=draw(st.none() | _token),
        temp_gruus=draw(st.lists(st.builds(TempGruu, _token, st.none() | _uint), max_size=2)))


@st.composite
def registrations(draw, rid: str):
    ids = draw(st.lists(_text, unique=True, max_size=3))
    return Registration(f"sip:{rid}@ims.test", rid, draw(st.sampled_from(REGISTRATION_STATES)),
                        tuple(draw(contacts(cid)) for cid in ids))


@st.composite
def documents(draw):
    ids = draw(st.lists(_token.filter(lambda t: '"' not in t), unique=True, max_size=3))
    return RegInfo(draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from(DOC_STATES)),
                   tuple(draw(registrations(rid)) for rid in ids))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_render_then_parse_gives_the_model_back(info):
    assert parse_reginfo(render_reginfo(info)) == info


def test_render_writes_the_gruu_namespace_and_xml_lang_only_when_used():
    plain = render_reginfo(parse_reginfo(RFC3680_5_3))
    assert b"gruuinfo" not in plain
    c = Contact("c1", "active", "registered", "sip:x", display_name="Jo", display_lang="en",
                pub_gruu="sip:x;gr=1")
    out = render_reginfo(RegInfo(3, "partial", (Registration("sip:a@b", "r", "active", (c,)),)))
    assert b'xmlns:gr="urn:ietf:params:xml:ns:gruuinfo"' in out
    assert parse_reginfo(out).registrations[0].contacts[0] == c


# --------------------------------------------------------------------------------- §5.2's merge

def _c(cid, state="active", event="registered", **kw):
    return Contact(cid, state, event, f"sip:ue@192.0.2.{cid}", **kw)


FULL = RegInfo(4, "full", (Registration("sip:ue@ims.test", "r1", "active",
                                        (_c("1", reg_id=1), _c("2", reg_id=2))),))


def test_partial_updates_one_contact_and_adds_another():
    partial = RegInfo(5, "partial", (Registration("sip:ue@ims.test", "r1", "active", (
        _c("2", "terminated", "unregistered", reg_id=2), _c("3", "active", "created", reg_id=1))),))
    merged = apply_partial(FULL, partial)
    assert (merged.version, merged.state) == (5, "full")
    reg = merged.registration(aor="sip:ue@ims.test")
    assert [(c.id, c.state, c.event) for c in reg.contacts] == [
        ("1", "active", "registered"), ("2", "terminated", "unregistered"), ("3", "active", "created")]


def test_partial_adds_a_registration_and_changes_a_registration_state():
    partial = RegInfo(5, "partial", (
        Registration("sip:ue@ims.test", "r1", "terminated", (_c("1", "terminated", "deactivated"),)),
        Registration("sip:other@ims.test", "r2", "active", (_c("9"),))))
    merged = apply_partial(FULL, partial)
    assert [r.id for r in merged.registrations] == ["r1", "r2"]
    r1 = merged.registration(id="r1")
    assert r1.state == "terminated"
    assert [(c.id, c.state) for c in r1.contacts] == [("1", "terminated"), ("2", "active")]


def test_a_full_document_replaces_the_state():
    fresh = RegInfo(5, "full", (Registration("sip:ue@ims.test", "r1", "active", (_c("7"),)),))
    assert apply_partial(FULL, fresh) == fresh


@pytest.mark.parametrize("version", [4, 3, 6, 0])
def test_a_version_other_than_one_more_is_a_state_error(version):
    with pytest.raises(StateError, match=f"reginfo version {version} received, 5 expected"):
        apply_partial(FULL, RegInfo(version, "partial"))
    assert issubclass(StateError, ParseError)


def test_a_registration_id_changing_its_aor_is_a_state_error():
    partial = RegInfo(5, "partial", (Registration("sip:else@ims.test", "r1", "active"),))
    with pytest.raises(StateError, match='id="r1"> was aor "sip:ue@ims.test", now "sip:else@ims.test"'):
        apply_partial(FULL, partial)
