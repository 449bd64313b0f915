"""Network-namespace test topologies, as data (sans-IO): which namespaces, links, addresses,
routes, NAT rules and conntrack timeouts a topology needs.  ``netns.py`` carries the plan out.

The picture (every address from 198.18.0.0/15 and 2001:db8::/32, the benchmarking and
documentation ranges)::

    UE ns                      NAT ns                           SUT ns
    up0 198.18.1.2  ------- in0 198.18.1.1   out0 198.18.2.1 ------- dn0 198.18.2.2 (SUT)
        2001:db8:1::2           2001:db8:1::1     2001:db8:2::1            2001:db8:2::2
                                                                           198.18.2.30, 2001:db8:2::30 (PEER)
    dir0 198.18.3.2  ------------------------- (direct, no NAT) -------- dir0 198.18.3.1
         2001:db8:3::2                                                       2001:db8:3::1

* ``nat``: the NAT44 in the NAT namespace on ``out0``: ``port-preserving`` (masquerade, the
  kernel keeps the source port when it can), ``random-port`` (masquerade to ports
  20000-29999, never the UE's own port), ``endpoint-dependent`` (masquerade ``fully-random``
  to 30000-39999: every new destination gets its own mapping), or ``none`` (routed).
* ``nat66``: IPv6 is masqueraded too (NAT66) instead of routed.
* ``direct``: the UE namespace has a second access, a link straight to the SUT namespace
  (source-based routing: what is sent from 198.18.3.2 leaves over ``dir0``).
* ``shared``: a second UE namespace behind the same NAT with the same private addresses
  (198.18.1.2 / 2001:db8:1::2), told apart by conntrack zones (RFC 5626 §3: two UAs behind one
  NAT with the same private address and port).
* ``timeouts``: conntrack timeouts (seconds) in the NAT namespace, so a mapping expires within
  a case: ``udp`` (nf_conntrack_udp_timeout and _stream), ``tcp`` (tcp_timeout_established).

The SUT has no route to the private 198.18.1.0/24: it can reach the UE only through the NAT's
mapping, as on the Internet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

NAT_MODES = ("none", "port-preserving", "random-port", "endpoint-dependent")

#: What a case may ask of a target's topology (``topology: [nat, direct]`` in a case).
FEATURES = {
    "nat": "a NAT44 between the UE and the SUT",
    "nat-port-preserving": "a NAT44 that keeps the UE's source port",
    "nat-random-port": "a NAT44 that maps to a port other than the UE's",
    "nat-endpoint-dependent": "a NAT44 with endpoint-dependent mapping",
    "nat66": "a NAT66 between the UE and the SUT",
    "direct": "a second UE access straight to the SUT, without NAT",
    "ipv4": "IPv4 between the UE and the SUT",
    "ipv6": "IPv6 between the UE and the SUT",
    "ipv6-only": "IPv6 only: IP1, IP2, IP3 are all IPv6",
    "dual-stack": "IPv4 and IPv6 between the UE and the SUT",
    "shared-private-address": "two UEs behind one NAT with the same private address",
    "namespaces": "any network-namespace topology (the suite can rebind, flush, capture at the NAT)",
}

V4 = {"ue": "198.18.1.2", "ue_b": "198.18.1.3", "nat_in": "198.18.1.1", "nat_out": "198.18.2.1", "nat_out_alt": "198.18.2.3",
      "sut": "198.18.2.2", "peer": "198.18.2.30", "ue_direct": "198.18.3.2", "sut_direct": "198.18.3.1"}
V6 = {"ue": "2001:db8:1::2", "ue_b": "2001:db8:1::3", "nat_in": "2001:db8:1::1", "nat_out": "2001:db8:2::1",
      "nat_out_alt": "2001:db8:2::3", "sut": "2001:db8:2::2", "peer": "2001:db8:2::30",
      "ue_direct": "2001:db8:3::2", "sut_direct": "2001:db8:3::1"}
ALLOWED_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32"))


@dataclass
class Timeouts:
    udp: int = 5
    tcp: int = 6


@dataclass
class TopologySpec:
    name: str = "inline"
    nat: str = "port-preserving"
    nat66: bool = False
    ipv4: bool = True
    ipv6: bool = True
    direct: bool = True
    shared: bool = False
    timeouts: Timeouts = field(default_factory=Timeouts)

    # -- what a case can ask for -----------------------------------------------------------
    def features(self) -> set[str]:
        f = {"namespaces"}
        if self.ipv4:
            f.add("ipv4")
        if self.ipv6:
            f.add("ipv6")
        if self.ipv4 and self.ipv6:
            f.add("dual-stack")
        if self.ipv6 and not self.ipv4:
            f.add("ipv6-only")
        if self.ipv4 and self.nat != "none":
            f |= {"nat", f"nat-{self.nat}"}
        if self.ipv6 and self.nat66:
            f.add("nat66")
        if self.direct:
            f.add("direct")
        if self.shared and (self.nat != "none" or self.nat66):
            f.add("shared-private-address")
        return f

    def missing(self, wanted: list[str]) -> list[str]:
        have = self.features()
        return [w for w in wanted if w not in have]

    # -- the addresses the suite uses -----------------------------------------------------
    def sut_host(self) -> str:
        return V4["sut"] if self.ipv4 else V6["sut"]

    def sut_alt_host(self) -> str | None:
        return V6["sut"] if (self.ipv4 and self.ipv6) else None

    def peer_address(self) -> str:
        return V4["peer"] if self.ipv4 else V6["peer"]

    def ue_addresses(self) -> list[str]:
        """IP1, IP2, ... of the cases: per family (IPv4 first), the address behind the NAT, then
        the direct one: 198.18.1.2, 198.18.3.2, 2001:db8:1::2, 2001:db8:3::2.

        With ``shared``, the second UE namespace has the same addresses; a flow reaches it with
        ``site: 2`` (the address is the same, the namespace differs)."""
        out: list[str] = []
        for fam, on in ((V4, self.ipv4), (V6, self.ipv6)):
            if on:
                out.append(fam["ue"])
                if self.direct:
                    out.append(fam["ue_direct"])
        for fam, on in ((V4, self.ipv4), (V6, self.ipv6)):
            if on:
                out.append(fam["ue_b"])  # a further address behind the NAT (IP5/IP6, or IP3)
        return out

    def role_of(self, ip: str) -> str:
        """Which namespace an address of the plan lives in: ``ue``, ``sut`` or ``nat``."""
        for fam in (V4, V6):
            for key, value in fam.items():
                if value == ip:
                    return {"ue": "ue", "ue_b": "ue", "ue_direct": "ue", "sut": "sut", "peer": "sut", "sut_direct": "sut"}.get(key, "nat")
        raise KeyError(ip)

    def behind_nat(self, ip: str) -> bool:
        if ip in (V4["ue"], V4["ue_b"]):
            return self.nat != "none"
        if ip in (V6["ue"], V6["ue_b"]):
            return self.nat66
        return False

    # -- the plan ----------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        return ["ue", "nat", "sut"] + (["ue2"] if self.shared else [])

    def links(self) -> list[tuple[str, str, str, str]]:
        """Veth pairs: (namespace, interface, peer namespace, peer interface)."""
        out = [("ue", "up0", "nat", "in0"), ("nat", "out0", "sut", "dn0")]
        if self.direct:
            out.append(("ue", "dir0", "sut", "dir0"))
        if self.shared:
            out.append(("ue2", "up0", "nat", "in1"))
        return out

    def addresses(self) -> list[tuple[str, str, str]]:
        """(namespace, interface, address/prefix)."""
        out: list[tuple[str, str, str]] = []
        for fam, on, plen in ((V4, self.ipv4, 24), (V6, self.ipv6, 64)):
            if not on:
                continue
            out += [("ue", "up0", f"{fam['ue']}/{plen}"), ("ue", "up0", f"{fam['ue_b']}/{plen}"), ("nat", "in0", f"{fam['nat_in']}/{plen}"),
                    ("nat", "out0", f"{fam['nat_out']}/{plen}"), ("sut", "dn0", f"{fam['sut']}/{plen}"),
                    ("sut", "dn0", f"{fam['peer']}/{plen}")]
            if self.direct:
                out += [("ue", "dir0", f"{fam['ue_direct']}/{plen}"), ("sut", "dir0", f"{fam['sut_direct']}/{plen}")]
            if self.shared:
                out += [("ue2", "up0", f"{fam['ue']}/{plen}"), ("nat", "in1", f"{fam['nat_in']}/{plen}")]
        return out

    def commands(self) -> list[tuple[str, list[str]]]:
        """Routes and sysctls, as (namespace, ``ip``/``sysctl`` argument list) after the links
        and addresses exist."""
        cmds: list[tuple[str, list[str]]] = []
        ues = ["ue"] + (["ue2"] if self.shared else [])
        cmds.append(("nat", ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]))
        for ns in ues:
            if self.ipv4:
                cmds.append((ns, ["ip", "route", "add", "default", "via", V4["nat_in"], "dev", "up0"]))
            if self.ipv6:
                cmds.append((ns, ["ip", "-6", "route", "add", "default", "via", V6["nat_in"], "dev", "up0"]))
        if self.direct:
            for fam, on, flag in ((V4, self.ipv4, "-4"), (V6, self.ipv6, "-6")):
                if on:
                    cmds += [("ue", ["ip", flag, "rule", "add", "from", fam["ue_direct"], "table", "100"]),
                             ("ue", ["ip", flag, "route", "add", "default", "via", fam["sut_direct"],
                                     "dev", "dir0", "table", "100"])]
        if self.ipv6 and not self.nat66:
            # routed IPv6: the SUT reaches the UE's (global) address through the NAT box
            cmds.append(("sut", ["ip", "-6", "route", "add", "2001:db8:1::/64", "via", V6["nat_out"]]))
        if self.ipv4 and self.nat == "none":
            cmds.append(("sut", ["ip", "route", "add", "198.18.1.0/24", "via", V4["nat_out"]]))
        if self.shared:
            # replies to the second UE namespace leave over in1 (the connection's mark says which)
            for flag, on in (("-4", self.ipv4), ("-6", self.ipv6)):
                if on:
                    net = "198.18.1.0/24" if flag == "-4" else "2001:db8:1::/64"
                    cmds += [("nat", ["ip", flag, "rule", "add", "fwmark", "2", "table", "102"]),
                             ("nat", ["ip", flag, "route", "add", net, "dev", "in1", "table", "102"])]
        return cmds

    def sysctls(self) -> list[str]:
        """Conntrack settings of the NAT namespace (after the ruleset has loaded conntrack)."""
        t = self.timeouts
        return [f"net.netfilter.nf_conntrack_udp_timeout={t.udp}",
                f"net.netfilter.nf_conntrack_udp_timeout_stream={t.udp}",
                f"net.netfilter.nf_conntrack_tcp_timeout_established={t.tcp}",
                "net.netfilter.nf_conntrack_tcp_loose=0"]

    def _nat_stmt(self) -> str:
        return {"port-preserving": "masquerade",
                "random-port": "meta l4proto { tcp, udp } masquerade to :20000-29999 random",
                "endpoint-dependent": "meta l4proto { tcp, udp } masquerade to :30000-39999 fully-random"}[self.nat]

    def ruleset(self, table: str) -> str:
        """The nftables ruleset of the NAT namespace (one ``inet`` table)."""
        post: list[str] = []
        if self.ipv4 and self.nat != "none":
            post.append(f'oifname "out0" meta nfproto ipv4 {self._nat_stmt()}')
        if self.ipv6 and self.nat66:
            post.append(f'oifname "out0" meta nfproto ipv6 {self._nat_stmt()}')
        raw: list[str] = []
        pre_mangle: list[str] = []
        if self.shared:
            # Two inside links with the same addresses: the original direction of each is looked
            # up in its own conntrack zone, the replies in the common one, so the NAT gives the
            # second UE a distinct mapping; the ct mark routes the replies back (table 102).
            raw += ['iifname "in0" ct original zone set 1', 'iifname "in1" ct original zone set 2']
            pre_mangle += ['iifname "in1" ct mark set 2', 'ct mark 2 meta mark set 2']
        lines = [f"table inet {table} {{"]
        if raw:
            lines += ["  chain raw { type filter hook prerouting priority raw;"] + \
                     [f"    {r}" for r in raw] + ["  }"]
        if pre_mangle:
            lines += ["  chain mangle { type filter hook prerouting priority mangle;"] + \
                     [f"    {r}" for r in pre_mangle] + ["  }"]
        lines += ["  chain forward { type filter hook forward priority filter; policy accept;",
                  "    ct state invalid drop",
                  # only what the inside started comes back in (a NAT's filtering)
                  '    iifname "out0" oifname { "in0", "in1" } ct state new drop' if (self.nat != "none" or self.nat66)
                  else "    accept",
                  "  }",
                  "  chain post { type nat hook postrouting priority srcnat;"]
        lines += [f"    {p}" for p in post] + ["  }", "}"]
        return "\n".join(lines) + "\n"


PRESETS: dict[str, dict] = {
    # IP1 behind a port-preserving NAT44, IP2 direct IPv4, IP3 IPv6 (routed), IP4 direct IPv6
    "nat-port-preserving": dict(nat="port-preserving"),
    "nat-random-port": dict(nat="random-port"),
    "nat-endpoint-dependent": dict(nat="endpoint-dependent"),
    "nat-shared": dict(nat="port-preserving", shared=True),
    "nat66": dict(nat="port-preserving", nat66=True),
    # IPv6 only, no NAT: the UE's IP1 (2001:db8:1::2, through the router) and IP2 (direct)
    "ipv6-only": dict(nat="none", ipv4=False, ipv6=True),
}
ALIASES = {"nat-udp-port-preserving": "nat-port-preserving", "nat-udp-random-port": "nat-random-port"}


def topology_from(value) -> TopologySpec:
    """A preset name or an inline mapping (``{preset: NAME, nat: MODE, ipv6: true, ...}``)."""
    if isinstance(value, str):
        name = ALIASES.get(value, value)
        if name not in PRESETS:
            raise ValueError(f"unknown topology {value!r}; known: {', '.join(PRESETS)}")
        return TopologySpec(name=name, **PRESETS[name])
    data = dict(value)
    base = dict(PRESETS.get(ALIASES.get(data.get("preset", ""), data.get("preset", "")), {}))
    if "preset" in data and data["preset"] not in PRESETS and data["preset"] not in ALIASES:
        raise ValueError(f"unknown topology preset {data['preset']!r}; known: {', '.join(PRESETS)}")
    name = data.pop("name", data.pop("preset", "inline"))
    t = data.pop("timeouts", {}) or {}
    base.update(data)
    if base.get("nat", "port-preserving") not in NAT_MODES:
        raise ValueError(f"unknown NAT mode {base['nat']!r}; known: {', '.join(NAT_MODES)}")
    spec = TopologySpec(name=name, timeouts=Timeouts(**{k: int(v) for k, v in t.items()}), **base)
    if not (spec.ipv4 or spec.ipv6):
        raise ValueError("a topology needs ipv4 or ipv6")
    return spec


def describe(spec: TopologySpec) -> str:
    parts = []
    if spec.ipv4:
        parts.append(f"IPv4 NAT {spec.nat}" if spec.nat != "none" else "IPv4 routed")
    if spec.ipv6:
        parts.append("IPv6 NAT66" if spec.nat66 else "IPv6 routed")
    if spec.direct:
        parts.append("direct access")
    if spec.shared:
        parts.append("two UEs with one private address")
    return f"{spec.name} ({', '.join(parts)}; conntrack udp {spec.timeouts.udp} s, tcp {spec.timeouts.tcp} s)"
