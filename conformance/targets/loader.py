"""Load target profiles (``targets/*.yaml``) into :class:`~conformance.targets.model.Target`.

Same passes and error quality as the case loader: YAML through the source-mapping loader,
``conformance/schema/target.schema.yaml``, then what a schema cannot express (IP literals,
known capabilities, identity template placeholders, ``embedded`` xor ``managed``, port 0).
Every problem is a :class:`TargetError` naming file, line and key.  See docs/targets.md.
"""

from __future__ import annotations

import ipaddress
import string
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from ..uecert.capabilities import KNOWN_UE_CAPABILITIES
from ..uecert.model import UeProfile, UeTimers
from ..yamlio.errors import TargetError
from ..yamlio.source import did_you_mean, format_path, line_of, load_documents, plain, schema_validator, show, validate
from .model import (DigestAuthProfile, EmbeddedSut, Identities, ManagedSut, MangleSpec, SecAgreeProfile, Target,
                    Timers, TlsProfile, WsProfile)

__all__ = ["KNOWN_CAPABILITIES", "SCHEMA_PATH", "TargetError", "load_target", "target_from_dict"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "target.schema.yaml"

#: Capabilities a target may declare and a case may require in ``applies_to``.  A case whose
#: ``applies_to`` names a capability the target does not declare is "not applicable".
KNOWN_CAPABILITIES: dict[str, str] = {
    "outbound": "RFC 5626 registrar: Supported/Require outbound, bindings keyed on instance + reg-id",
    "path": "RFC 3327 Path: stores the Path and returns it in the 2xx",
    "gruu": "RFC 5627 GRUU: pub-gruu/temp-gruu in the 2xx",
    "flow-timer": "inserts Flow-Timer in the 2xx to an outbound REGISTER and supervises the flow (RFC 5626 sections 4.4.1, 5.4)",
    "edge": "acts as an RFC 5626 edge proxy (flow tokens, Path with ;ob)",
    "ims-pcscf": "acts as an IMS P-CSCF (3GPP TS 24.229)",
    "direct-flow": "the UA can reach the SUT with no proxy in between (first hop)",
    "rel7-legacy": "Rel-7 S-CSCF behaviour: no outbound, a new contact replaces the binding",
    "reg-event": "RFC 3680 reg event package (SUBSCRIBE/NOTIFY)",
    "terminating": "routes requests for a registered AOR to its bindings (RFC 5626 section 7, the authoritative proxy)",
    "keepalive-crlf": "answers a double-CRLF ping with a CRLF pong on TCP (RFC 5626 section 4.4.1)",
    "keepalive-stun": "answers STUN binding requests on its SIP port (RFC 5626 section 8)",
    "reject-non-outbound": "local policy rejects registrations without outbound (RFC 5626 section 6)",
    "max-flows": "enforces a maximum number of flows per (IMPU, IMPI, instance), given in max_flows: N "
                 "(TS 24.229 5.4.1.2.2: 403 beyond it)",
    "path-transform": "may transform the stored Path vector (RFC 3327 section 5.4)",
    "path-support-required": "local policy rejects a REGISTER whose Path comes without Supported: path "
                             "(RFC 3327 section 5.3, the recommended policy: 420 naming path)",
    "sec-agree": "3GPP TS 33.203 security agreement (Security-Client/Server/Verify)",
    "udp-encap": "IMS P-CSCF choosing mod=UDP-enc-tun behind a NAT: ESP in UDP (RFC 3948, TS 33.203 Annex M)",
    "websocket": "SIP over WebSocket (RFC 7118)",
    "ws-auth": "answers the WebSocket upgrade with 401 until it carries credentials (RFC 7118 section 7)",
    "keep": "willing to receive keep-alives negotiated by the Via keep parameter: a bare keep gets keep=<seconds> in the 2xx (RFC 6223)",
    "digest-auth": "requires HTTP Digest authentication of REGISTER (RFC 3261 section 22, RFC 2617 MD5); "
                   "the UEs' credentials are the profile's auth:",
}

#: Placeholders each identity template may use.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "impu": ("user", "domain"),
    "impi": ("user", "domain"),
    "user": ("case", "ue", "run"),
}


def _validator() -> Draft202012Validator:
    # checked against the meta-schema once per schema text, profiles found valid remembered
    # (yamlio/validcache.py)
    return schema_validator(SCHEMA_PATH, TargetError)


def load_target(path: str | Path) -> Target:
    """The target profile in ``path`` (one YAML document)."""
    source, docs = load_documents(path, error_class=TargetError)
    name = str(path)
    if not docs:
        raise TargetError("the file holds no target profile", file=name, line=1, source=source)
    if len(docs) > 1:
        raise TargetError("a target file holds one profile; found another document here",
                          file=name, line=docs[1][0], source=source)
    doc_line, data = docs[0]
    return _build(data, name, source, doc_line)


def target_from_dict(data: Any, source: str = "<dict>") -> Target:
    """A target from plain data (e.g. built in code or a fixture); ``source`` names it in errors."""
    return _build(data, source, None, 0)


def _ue_block(data: dict, error) -> UeProfile | None:
    """The ``ue:`` block of a role ue target (None for a network target), with what a schema
    cannot say: role ue and ue: go together, no embedded/managed SUT, timers in order."""
    role, ue = data.get("role"), data.get("ue")
    if role == "ue" and ue is None:
        raise error("role ue needs a ue: block (driver:, timers:, ...: how the suite drives the UE)",
                    data, "role", ["role"])
    if ue is None:
        return None
    if role != "ue":
        raise error(f"a ue: block belongs to a target with role: ue (this one is {role or 'registrar'})",
                    data, "ue", ["ue"])
    for key in ("embedded", "managed", "mangle", "topology"):
        if key in data:
            raise error(f"{key}: describes a network SUT; a role ue target is the UE (start it "
                        "through ue: driver / managed)", data, key, [key])
    t = ue.get("timers", {})
    timers = UeTimers(**{k: (int(v) if k == "register_expires" else float(v)) for k, v in plain(t).items()})
    for k in ("base_time_all_failed", "base_time_not_all_failed"):
        if getattr(timers, k) > timers.max_time:
            raise error(f"{k} ({getattr(timers, k)}) exceeds max_time ({timers.max_time}); RFC 5626 "
                        "section 4.5 caps every wait at max-time", t, k if k in t else "max_time",
                        ["ue", "timers", k if k in t else "max_time"])
    driver = ue.get("driver", "reference")
    from ..uecert.drivers import DRIVERS

    if driver not in DRIVERS:
        raise error(f"unknown UE driver {show(driver)}{did_you_mean(driver, DRIVERS)}; known: "
                    f"{', '.join(DRIVERS)}", ue, "driver", ["ue", "driver"])
    if "fault" in ue and driver != "reference":
        raise error(f"fault: is a deliberate fault of the reference UE; driver {driver} has none",
                    ue, "fault", ["ue", "fault"])
    return UeProfile(driver=driver, options=plain(ue.get("options", {})), managed=plain(ue.get("managed", {})),
                     timers=timers, instance=ue.get("instance"), fault=ue.get("fault"),
                     start_timeout=float(ue.get("start_timeout", UeProfile.start_timeout)))


def _build(data: Any, file: str, source: str | None, doc_line: int) -> Target:
    def error(message: str, node: Any, key: Any, path: list) -> TargetError:
        line = line_of(node, key, default=0) or line_of(node, default=doc_line)
        return TargetError(message, file=file, line=line, key=format_path(path), source=source or "")

    if not isinstance(data, dict):
        raise TargetError(f"a target profile must be a mapping (name:, host:, ...), got {show(data)}",
                          file=file, line=doc_line, source=source or "")
    validate(data, _validator(), file=file, source=source or "", doc_line=doc_line, error_class=TargetError)

    def ip(value: str, node: Any, key: Any, path: list):
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            raise error(f"expected an IP address literal (such as 127.0.0.1 or ::1), got {show(value)}",
                        node, key, path) from None

    topology = None
    if "topology" in data:
        from ..topology.model import topology_from

        try:
            topology = topology_from(plain(data["topology"]))
        except (ValueError, TypeError) as exc:
            raise error(str(exc), data, "topology", ["topology"]) from None
    host = data.get("host", topology.sut_host() if topology else "127.0.0.1")
    host_ip = ip(host, data, "host", ["host"])
    alt = data.get("alt_host", topology.sut_alt_host() if topology and "host" not in data else None)
    alt_ip = ip(alt, data, "alt_host", ["alt_host"]) if alt is not None else None
    if alt_ip is not None and alt_ip.version == host_ip.version:
        raise error(f"alt_host {alt} is IPv{alt_ip.version} like host {host}; it is the SUT's address "
                    "in the other family", data, "alt_host", ["alt_host"])
    addresses = data.get("ue_addresses")
    if addresses is not None:
        for i, a in enumerate(addresses):
            a_ip = ip(a, addresses, i, ["ue_addresses", i])
            # Dual-stack rule: every UE address needs a SUT address of its family (host or
            # alt_host); without alt_host all must share the host's family.
            if a_ip.version != host_ip.version and (alt_ip is None or a_ip.version != alt_ip.version):
                raise error(f"{a} is IPv{a_ip.version} but host {host} is IPv{host_ip.version}"
                            + ("" if alt_ip is None else f" and alt_host {alt} IPv{alt_ip.version}")
                            + "; the UEs must reach the SUT in the same address family "
                            "(give alt_host, the SUT's address in the other family, for dual-stack)",
                            addresses, i, ["ue_addresses", i])

    ue_profile = _ue_block(data, error)
    known = KNOWN_UE_CAPABILITIES if ue_profile is not None else KNOWN_CAPABILITIES
    for i, cap in enumerate(data.get("capabilities", [])):
        if cap not in known:
            raise error(f"unknown {'UE ' if ue_profile is not None else ''}capability {show(cap)}"
                        f"{did_you_mean(cap, known)}; known: {', '.join(known)}", data["capabilities"], i,
                        ["capabilities", i])

    if "max-flows" in data.get("capabilities", []) and "max_flows" not in data:
        raise error("capability max-flows needs max_flows: N, the operator's limit the SUT enforces "
                    "(flows per IMPU, IMPI and instance, TS 24.229 5.4.1.2.2)", data, "capabilities",
                    ["capabilities"])

    ids = data.get("identities", {})
    for key, template in ids.items():
        allowed = PLACEHOLDERS[key]
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as e:
            raise error(f"not a valid template: {e}", ids, key, ["identities", key]) from None
        for f in fields:
            if f not in allowed:
                hint = did_you_mean(f, allowed)
                raise error(f"unknown placeholder {{{f}}}{hint}; {key} may use "
                            f"{', '.join('{' + a + '}' for a in allowed)}", ids, key, ["identities", key])

    timers = data.get("timers", {})
    t1, t2 = timers.get("t1", Timers.t1), timers.get("t2", Timers.t2)
    if t2 < t1:
        raise error(f"t2 ({t2}) must not be smaller than t1 ({t1})", timers, "t2" if "t2" in timers else "t1",
                    ["timers", "t2" if "t2" in timers else "t1"])

    if "embedded" in data and "managed" in data:
        raise error("embedded and managed exclude each other: the SUT is either run in-process "
                    "or started by a command", data, "managed", ["managed"])
    if data.get("port") == 0 and "embedded" not in data and ue_profile is None:
        raise error("port 0 (pick a free port) works only with an embedded SUT; give the SUT's port",
                    data, "port", ["port"])

    emb = data.get("embedded")
    embedded = None
    if emb is not None:
        embedded = EmbeddedSut(mode=emb.get("mode", "rel8"), faults=list(emb.get("faults", [])),
                               topology=emb.get("topology", "registrar"), edge_mode=emb.get("edge_mode", "rel8"),
                               flow_timer=emb.get("flow_timer"), min_expires=emb.get("min_expires"),
                               flow_grace=emb.get("flow_grace"), ims=bool(emb.get("ims", False)),
                               pcscf_algs=[tuple(p) for p in emb.get("pcscf_algs", [])],
                               digest_auth=bool(emb.get("digest_auth", False)),
                               reject_non_outbound=bool(emb.get("reject_non_outbound", False)),
                               max_flows=emb.get("max_flows"), reg_event=emb.get("reg_event"),
                               gruu=emb.get("gruu"),
                               pcscf_reg_event=bool(emb.get("pcscf_reg_event", False)),
                               ws_auth=emb.get("ws_auth"), tls_keylog=emb.get("tls_keylog"))
        if embedded.ims and embedded.topology == "registrar":
            raise error("ims: true needs topology core or edge (the IMS P-CSCF is the edge)",
                        emb, "ims", ["embedded", "ims"])
    man = data.get("managed")
    managed = None
    if man is not None:
        managed = ManagedSut(start=list(man["start"]),
                             stop=list(man["stop"]) if man.get("stop") is not None else None,
                             ready_timeout=float(man.get("ready_timeout", 20.0)))

    mangle = None
    if "mangle" in data:
        mg = plain(data["mangle"])
        if "host" in mg:
            ip(mg["host"], data["mangle"], "host", ["mangle", "host"])
        mangle = MangleSpec(**mg)

    kwargs: dict[str, Any] = {k: plain(data[k]) for k in
                              ("description", "role", "host", "port", "transports", "domain",
                               "capabilities", "ue_addresses", "strict", "peer_address",
                               "sut_dead_after", "max_flows") if k in data}
    if mangle is not None:
        kwargs["mangle"] = mangle
    if "peer_address" in data:
        ip(data["peer_address"], data, "peer_address", ["peer_address"])
    if "emulated_registrar" in data:
        regt = data["emulated_registrar"]
        if "host" in regt:
            ip(regt["host"], regt, "host", ["emulated_registrar", "host"])
            kwargs["regt_host"] = regt["host"]
        if "port" in regt:
            kwargs["regt_port"] = int(regt["port"])
        if "transport" in regt:
            kwargs["regt_transport"] = regt["transport"]
    if "peer" in data:
        peer = data["peer"]
        if "host" in peer:
            ip(peer["host"], peer, "host", ["peer", "host"])
        kwargs["peer_host"] = peer.get("host")
        kwargs["peer_port"] = int(peer["port"])
    if topology is not None and "embedded" not in data and "managed" not in data:
        raise error("a topology needs the embedded reference (embedded:) or a managed SUT "
                    "(managed:): the SUT runs inside the topology's SUT namespace", data, "topology",
                    ["topology"])
    if topology is not None:
        kwargs.setdefault("host", host)
        kwargs.setdefault("ue_addresses", topology.ue_addresses())
        kwargs.setdefault("peer_address", topology.peer_address())
    if alt is not None:
        kwargs["alt_host"] = alt
    sec = SecAgreeProfile()
    if "sec_agree" in data:
        from ..ims.subscriber import parse_subscribers

        sa_data = data["sec_agree"]
        if "offer" in sa_data:
            sec.offer = [tuple(p) for p in sa_data["offer"]]
        if "subscribers" in sa_data:
            try:
                sec.subscribers = parse_subscribers(plain(sa_data["subscribers"]))
            except ValueError as exc:
                raise error(str(exc), sa_data, "subscribers", ["sec_agree", "subscribers"]) from None
    auth = DigestAuthProfile()
    if "auth" in data:
        au = data["auth"]
        if "password" in au:
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(au["password"]) if f is not None]
            except ValueError as e:
                raise error(f"not a valid template: {e}", au, "password", ["auth", "password"]) from None
            for f in fields:
                if f != "impi":
                    raise error(f"unknown placeholder {{{f}}}; a password template may use {{impi}} only "
                                "(the SUT sees the username, nothing else)", au, "password", ["auth", "password"])
            auth.password = au["password"]
        auth.credentials = {str(k): str(v) for k, v in plain(au.get("credentials", {})).items()}
    if "ports" in data:
        kwargs["ports"] = {str(k): int(v) for k, v in plain(data["ports"]).items()}
        for k in kwargs["ports"]:
            if k not in kwargs.get("transports", ["udp", "tcp"]):
                raise error(f"ports: {k} is given but transports does not list {k}", data["ports"], k,
                            ["ports", k])
    for t in ("ws", "wss"):
        if t in kwargs.get("transports", []) and t not in kwargs.get("ports", {}) and "embedded" not in data:
            raise error(f"transports lists {t} but ports: gives no {t} port (there is no default "
                        f"port for SIP over WebSocket)", data, "transports", ["transports"])
    tls = TlsProfile(**plain(data["tls"])) if "tls" in data else TlsProfile()
    ws = WsProfile(**plain(data["ws"])) if "ws" in data else WsProfile()
    return Target(
        name=data["name"],
        tls=tls,
        ws=ws,
        sec_agree=sec,
        auth=auth,
        identities=Identities(**ids),
        timers=Timers(**{k: float(v) for k, v in timers.items()}),
        embedded=embedded,
        managed=managed,
        topology=topology,
        path=file if source is not None else "",
        ue=ue_profile,
        **kwargs,
    )
