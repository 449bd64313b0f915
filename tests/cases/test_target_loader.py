"""Target profiles: valid ones become Target objects; broken ones name file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.yamlio.errors import CaseError, TargetError
from conformance.targets.loader import KNOWN_CAPABILITIES, load_target, target_from_dict
from conformance.targets.model import EmbeddedSut, Identities, ManagedSut, Target, Timers

ROOT = Path(__file__).resolve().parents[2]

PROFILE = """\
name: kamailio-5.6
description: Kamailio 5.6.6, outbound_mode 2
role: registrar
host: 127.0.0.1
port: 5070
transports: [udp, tcp]
domain: ims.test
capabilities: [outbound, path, flow-timer]
ue_addresses: [127.0.0.11, 127.0.0.12, 127.0.0.13]
identities:
  impu: "sip:{user}@{domain}"
  impi: "{user}@{domain}"
  user: "ue-{case}-{ue}-{run}"
timers: {t1: 0.5, t2: 4, response: 8, connect: 1}
strict: true
managed:
  start: [./kamailio.sh, start]
  stop: [./kamailio.sh, stop]
  ready_timeout: 30
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "target.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def target_error(tmp_path: Path, text: str) -> TargetError:
    p = write(tmp_path, text)
    with pytest.raises(TargetError) as info:
        load_target(p)
    assert info.value.file == str(p)
    return info.value


def test_full_profile(tmp_path):
    p = write(tmp_path, PROFILE)
    t = load_target(p)
    assert t == Target(
        name="kamailio-5.6", description="Kamailio 5.6.6, outbound_mode 2", role="registrar",
        host="127.0.0.1", port=5070, transports=["udp", "tcp"], domain="ims.test",
        capabilities=["outbound", "path", "flow-timer"],
        ue_addresses=["127.0.0.11", "127.0.0.12", "127.0.0.13"],
        identities=Identities(), timers=Timers(t1=0.5, t2=4.0, response=8.0, connect=1.0), strict=True,
        managed=ManagedSut(start=["./kamailio.sh", "start"], stop=["./kamailio.sh", "stop"], ready_timeout=30.0),
        path=str(p),
    )
    assert t.declares("outbound") and not t.declares("gruu")
    assert type(t.capabilities) is list and type(t.timers.t2) is float


def test_minimal_profile_gets_model_defaults(tmp_path):
    t = load_target(write(tmp_path, "name: local\n"))
    assert t == Target(name="local", path=str(tmp_path / "target.yaml"))


def test_embedded_profile(tmp_path):
    t = load_target(write(tmp_path, """\
        name: embedded-rel7
        port: 0
        capabilities: [rel7-legacy]
        embedded: {mode: rel7, faults: [no-require], flow_timer: null, min_expires: 60}
        """))
    assert t.port == 0 and t.managed is None
    assert t.embedded == EmbeddedSut(mode="rel7", faults=["no-require"], flow_timer=None, min_expires=60)
    t = load_target(write(tmp_path, """\
        name: embedded-ft
        port: 0
        embedded: {topology: core, flow_timer: 2, flow_grace: 0.5}
        """))
    assert (t.embedded.flow_timer, t.embedded.flow_grace) == (2, 0.5)


def test_ipv6_profile(tmp_path):
    t = load_target(write(tmp_path, 'name: v6\nhost: "::1"\nue_addresses: ["::1"]\n'))
    assert t.host == "::1"


def test_target_from_dict():
    t = target_from_dict({"name": "x", "embedded": {"mode": "rel8"}, "port": 0, "timers": {"response": 1}})
    assert t.embedded == EmbeddedSut() and t.timers.response == 1.0 and t.path == ""
    with pytest.raises(TargetError) as info:
        target_from_dict({"name": "x", "hots": "127.0.0.1"}, source="fixture")
    err = info.value
    assert (err.file, err.line, err.key) == ("fixture", 0, "hots")
    assert str(err) == "fixture: hots: unknown key 'hots' (did you mean 'host'?)"


def test_target_error_is_a_case_error():
    assert issubclass(TargetError, CaseError)


@pytest.mark.parametrize("old, new, line, key, message", [
    ("host: 127.0.0.1", "hots: 127.0.0.1", 4, "hots", "unknown key 'hots' (did you mean 'host'?)"),
    ("  impi:", "  impii: x\n  impi:", 12, "identities.impii", "unknown key 'impii' (did you mean 'impi'?)"),
    ("  ready_timeout: 30", "  ready_timout: 30", 19, "managed.ready_timout",
     "unknown key 'ready_timout' (did you mean 'ready_timeout'?)"),
    ("port: 5070", "port: fivethousand", 5, "port", "expected an integer, got 'fivethousand'"),
    ("port: 5070", "port: 70000", 5, "port", "must be at most 65535, got 70000"),
    ("strict: true", "strict: sometimes", 15, "strict", "expected true or false, got 'sometimes'"),
    ("t1: 0.5", "t1: 0", 14, "timers.t1", "must be more than 0, got 0"),
    ("role: registrar", "role: pcscf", 3, "role", "expected registrar, edge, core or ue, got 'pcscf'"),
    ("transports: [udp, tcp]", "transports: [udp, sctp]", 6, "transports[1]",
     "expected udp, tcp, tls, ws or wss, got 'sctp'"),
    ("  start: [./kamailio.sh, start]", "  start: ./kamailio.sh start", 17, "managed.start",
     "expected a command as a list of arguments, e.g. [./start.sh, --foreground], got './kamailio.sh start'"),
    ("name: kamailio-5.6\n", "", 1, "name", "missing required key 'name'"),
    ("  start: [./kamailio.sh, start]\n", "", 16, "managed.start", "missing required key 'start'"),
])
def test_schema_errors(tmp_path, old, new, line, key, message):
    assert old in PROFILE
    err = target_error(tmp_path, PROFILE.replace(old, new))
    assert (err.line, err.key, err.message) == (line, key, message)


@pytest.mark.parametrize("old, new, line, key, fragment", [
    ("host: 127.0.0.1", "host: cscf.example.com", 4, "host",
     "expected an IP address literal (such as 127.0.0.1 or ::1), got 'cscf.example.com'"),
    ("127.0.0.12,", "127.0.0.300,", 9, "ue_addresses[1]", "expected an IP address literal"),
    ("127.0.0.12,", '"::2",', 9, "ue_addresses[1]", "::2 is IPv6 but host 127.0.0.1 is IPv4"),
    ("[outbound, path", "[outbond, path", 8, "capabilities[0]", "unknown capability 'outbond' (did you mean 'outbound'?)"),
    ('  impu: "sip:{user}@{domain}"', '  impu: "sip:{usr}@{domain}"', 11, "identities.impu",
     "unknown placeholder {usr} (did you mean 'user'?); impu may use {user}, {domain}"),
    ('  user: "ue-{case}-{ue}-{run}"', '  user: "ue-{case}-{ue}-{run"', 13, "identities.user", "not a valid template"),
    ("t2: 4", "t2: 0.25", 14, "timers.t2", "t2 (0.25) must not be smaller than t1 (0.5)"),
    ("strict: true", "strict: true\nembedded: {mode: rel8}", 17, "managed", "embedded and managed exclude each other"),
    ("port: 5070", "port: 0", 5, "port", "port 0 (pick a free port) works only with an embedded SUT"),
])
def test_semantic_errors(tmp_path, old, new, line, key, fragment):
    assert old in PROFILE
    err = target_error(tmp_path, PROFILE.replace(old, new))
    assert (err.line, err.key) == (line, key)
    assert fragment in err.message


def test_yaml_syntax_error(tmp_path):
    err = target_error(tmp_path, PROFILE.replace("transports: [udp, tcp]", "transports: [udp, tcp"))
    assert err.line == 7 and err.key == "" and err.message.startswith("invalid YAML")


def test_duplicate_key(tmp_path):
    err = target_error(tmp_path, PROFILE.replace("port: 5070", "port: 5070\nport: 5080"))
    assert (err.line, err.key) == (6, "port")
    assert err.message == "duplicate key 'port': first written on line 5, again on line 6"


def test_one_profile_per_file(tmp_path):
    err = target_error(tmp_path, PROFILE + "---\nname: other\n")
    assert err.line == 21 and "one profile" in err.message
    err = target_error(tmp_path, "# empty\n")
    assert "no target profile" in err.message


def test_error_text_has_excerpt(tmp_path):
    err = target_error(tmp_path, PROFILE.replace("host: 127.0.0.1", "host: cscf.example.com"))
    lines = str(err).splitlines()
    assert lines[0] == (f"{err.file}:4: host: expected an IP address literal (such as 127.0.0.1 or ::1), "
                        "got 'cscf.example.com'")
    assert "> 4 | host: cscf.example.com" in lines


def test_every_schema_property_has_a_description():
    from conformance.targets.loader import _validator

    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                missing.append(f"{where}: open object")
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{where}.{name}")
            for k, v in node.items():
                walk(v, f"{where}.{k}")

    walk(_validator().schema, "schema")
    assert missing == []


def test_docs_list_every_capability():
    text = (ROOT / "docs" / "targets.md").read_text(encoding="utf-8")
    assert [c for c in KNOWN_CAPABILITIES if f"`{c}`" not in text] == []


def test_profiles_in_the_repository_load():
    for p in sorted((ROOT / "targets").glob("*.yaml")) if (ROOT / "targets").is_dir() else []:
        assert isinstance(load_target(p), Target)


def test_digest_auth_profile(tmp_path):
    t = load_target(write(tmp_path, "name: a\ncapabilities: [outbound, digest-auth]\n"
                                    "auth:\n  password: 'pw-{impi}'\n  credentials: {bob@ims.test: hunter2}\n"
                                    "port: 0\nembedded: {mode: rel8, digest_auth: true}\n"))
    assert t.declares("digest-auth") and t.embedded.digest_auth
    assert t.auth.password_for("ue-1@ims.test") == "pw-ue-1@ims.test"
    assert t.auth.password_for("bob@ims.test") == "hunter2"
    assert load_target(write(tmp_path, "name: b\n")).auth.password_for("u") == "secret-u"


def test_digest_password_template_allows_only_impi(tmp_path):
    with pytest.raises(TargetError) as e:
        load_target(write(tmp_path, "name: a\nauth:\n  password: 'pw-{user}'\n"))
    assert "{impi}" in str(e.value) and ":3" in str(e.value)


def test_max_flows_is_declared_with_its_limit_and_configures_the_embedded_policy(tmp_path):
    t = load_target(write(tmp_path, """\
        name: policy
        port: 0
        capabilities: [outbound, max-flows, reject-non-outbound]
        max_flows: 2
        embedded: {max_flows: 2, reject_non_outbound: true}
        """))
    assert t.max_flows == 2 and t.declares("max-flows")
    assert (t.embedded.max_flows, t.embedded.reject_non_outbound) == (2, True)
    with pytest.raises(TargetError) as info:
        load_target(write(tmp_path, "name: x\ncapabilities: [outbound, max-flows]\n"))
    assert "max_flows" in str(info.value)
