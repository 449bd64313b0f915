"""Security-Client/-Server/-Verify for ``ipsec-3gpp`` (RFC 3329, TS 33.203 Annex H).

Built on :func:`conformance.sip.headers.parse_security` / :class:`SecurityMechanism`.

* :class:`IpsecMechanism`: one ``ipsec-3gpp`` entry with typed TS 33.203 Annex H parameters
  (``alg``, ``ealg``, ``prot``, ``mod``, ``spi-c``, ``spi-s``, ``port-c``, ``port-s``, ``q``).
  The parameter set is Annex H as open-source P-CSCFs use it (Annex H itself is not in rfc/);
  RFC 3329 Appendix A has the older ``spi``/``port1``/``port2`` form, not supported here.
* UE side: :func:`client_mechanisms` (one entry per offered alg/ealg pair, the same SPIs and
  ports in each; no q, RFC 3329 §2.3.1 "SHOULD NOT add preference parameters"),
  :func:`renew_client` (new SPIs and port_uc after a failed challenge, TS 24.229 5.1.1.5.1),
  :func:`choose` (the highest q among known mechanisms, §2.3.1), :func:`mirror` (the
  Security-Verify value).
* P-CSCF side: :func:`server_mechanisms` (IMS: one entry with alg/ealg picked from the UE's
  list; RFC 3329: a static list with distinct q values), :func:`verify_mismatches` (§2.3.1: the
  same mechanisms, in the same order, with the same parameter values).
* Either side: :func:`q_problems` (§2.2 qvalue grammar and distinct values), :func:`new_spi`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from random import SystemRandom
from typing import Callable, Iterable, Sequence

from ..sip.errors import ParseError
from ..sip.headers import SecurityMechanism, parse_security
from .errors import SecAgreeError

__all__ = [
    "IPSEC_3GPP", "AUTH_ALGS", "ENC_ALGS", "ALG_PAIRS", "MODES", "UDP_ENC_TUN", "IpsecMechanism",
    "Mismatch",
    "client_mechanisms", "renew_client", "server_mechanisms", "format_security", "parse_ipsec",
    "choose", "mirror", "verify_mismatches", "q_problems", "new_spi",
]

IPSEC_3GPP = "ipsec-3gpp"
AUTH_ALGS = ("hmac-md5-96", "hmac-sha-1-96")
ENC_ALGS = ("null", "aes-cbc", "des-ede3-cbc")
#: The six (alg, ealg) pairs, in this module's default preference.
ALG_PAIRS = tuple((a, e) for a in ("hmac-sha-1-96", "hmac-md5-96")
                  for e in ("aes-cbc", "des-ede3-cbc", "null"))
_QVALUE = re.compile(r"^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$")   # RFC 3329 §2.2
# secrets.randbits itself (secrets imports hmac, which loads hashlib's OpenSSL library)
_randbits = SystemRandom().getrandbits
_NUMERIC = ("spi-c", "spi-s", "port-c", "port-s")
#: ``mod`` values understood (lower case): transport mode (the default, RFC 3329 Appendix A) and
#: the UDP-encapsulated tunnel mode for NAT traversal (TS 33.203 Annex M, RFC 3948).
MODES = ("trans", "udp-enc-tun")
UDP_ENC_TUN = "UDP-enc-tun"


def new_spi(randbits: Callable[[int], int] = _randbits, avoid: Iterable[int] = ()) -> int:
    """A random SPI in 256..2**32-1 (RFC 4303 §2.1: 0 is reserved, 1-255 reserved by IANA)."""
    avoid = set(avoid)
    while True:
        spi = randbits(32)
        if spi >= 256 and spi not in avoid:
            return spi


@dataclass(frozen=True)
class IpsecMechanism:
    """One ``ipsec-3gpp`` mechanism.  ``extra`` keeps unknown parameters in order."""
    alg: str
    ealg: str
    spi_c: int
    spi_s: int
    port_c: int
    port_s: int
    prot: str | None = None     # "esp" when absent (RFC 3329 Appendix A)
    mod: str | None = None      # "trans" when absent
    q: str | None = None
    extra: tuple[tuple[str, str | None], ...] = ()
    explicit_ealg: bool = True  # False: no ealg written (null assumed)

    @property
    def pair(self) -> tuple[str, str]:
        return self.alg, self.ealg

    @property
    def mode(self) -> str:
        """``trans`` or ``udp-enc-tun`` (lower case; absent ``mod`` is transport mode)."""
        return (self.mod or "trans").lower()

    def to_mechanism(self) -> SecurityMechanism:
        params: dict[str, str | None] = {"alg": self.alg}
        if self.explicit_ealg:
            params["ealg"] = self.ealg
        if self.prot is not None:
            params["prot"] = self.prot
        if self.mod is not None:
            params["mod"] = self.mod
        params.update({"spi-c": str(self.spi_c), "spi-s": str(self.spi_s),
                       "port-c": str(self.port_c), "port-s": str(self.port_s)})
        params.update(dict(self.extra))
        if self.q is not None:
            params["q"] = self.q
        return SecurityMechanism(IPSEC_3GPP, params)

    def __str__(self) -> str:
        return str(self.to_mechanism())

    @classmethod
    def from_mechanism(cls, mech: SecurityMechanism) -> "IpsecMechanism":
        """Typed view of a parsed entry; :class:`SecAgreeError` when it is not usable for the
        four SAs (TS 24.229 5.1.1.5.1: the UE abandons a Security-Server without them)."""
        if mech.name.lower() != IPSEC_3GPP:
            raise SecAgreeError(f"mechanism {mech.name!r} is not {IPSEC_3GPP}")
        if mech.duplicate_params:
            raise SecAgreeError(f"repeated parameters {mech.duplicate_params} in {mech}")
        p = mech.params
        missing = [n for n in ("alg",) + _NUMERIC if p.get(n) in (None, "")]
        if missing:
            raise SecAgreeError(f"{mech} lacks {', '.join(missing)}")
        nums = {}
        for name in _NUMERIC:
            text = p[name]
            if not text.isdigit():
                raise SecAgreeError(f"{name}={text!r} is not a number")
            value = int(text)
            top = 0xFFFFFFFF if name.startswith("spi") else 0xFFFF
            if not 1 <= value <= top:
                raise SecAgreeError(f"{name}={value} is outside 1..{top}")
            nums[name.replace("-", "_")] = value
        alg = p["alg"].lower()
        ealg = (p.get("ealg") or "null").lower()
        if alg not in AUTH_ALGS:
            raise SecAgreeError(f"unknown alg {p['alg']!r}")
        if ealg not in ENC_ALGS:
            raise SecAgreeError(f"unknown ealg {p['ealg']!r}")
        prot, mod = p.get("prot"), p.get("mod")
        if prot is not None and prot.lower() != "esp":
            raise SecAgreeError(f"prot={prot} is not supported (ESP only)")
        if mod is not None and mod.lower() not in MODES:
            raise SecAgreeError(f"mod={mod} is not supported (trans or UDP-enc-tun only)")
        known = {"alg", "ealg", "prot", "mod", "q", *_NUMERIC}
        extra = tuple((k, v) for k, v in p.items() if k not in known)
        return cls(alg, ealg, prot=prot, mod=mod, q=p.get("q"), extra=extra,
                   explicit_ealg="ealg" in p, **nums)


def parse_ipsec(source, name: str | None = None) -> list[IpsecMechanism]:
    """Every ``ipsec-3gpp`` entry of a Security-* header (others are skipped)."""
    try:
        mechs = parse_security(source, name)
    except ParseError as exc:
        raise SecAgreeError(str(exc)) from None
    return [IpsecMechanism.from_mechanism(m) for m in mechs if m.name.lower() == IPSEC_3GPP]


def format_security(mechs: Iterable[IpsecMechanism | SecurityMechanism]) -> str:
    return ", ".join(str(m) for m in mechs)


def client_mechanisms(pairs: Iterable[tuple[str, str]], *, port_c: int, port_s: int,
                      spi_c: int | None = None, spi_s: int | None = None,
                      prot: str | None = None, mod: str | None = None,
                      modes: Sequence[str | None] | None = None,
                      randbits: Callable[[int], int] = _randbits) -> list[IpsecMechanism]:
    """The UE's Security-Client: one entry per (alg, ealg), sharing SPIs and ports.

    SPIs not given are drawn with :func:`new_spi` (distinct from each other); the ports are
    the caller's (the engine owns the sockets).  ``modes`` (e.g. ``["UDP-enc-tun", "trans"]``)
    offers each pair once per mode, in that order (TS 33.203 Annex M: a UE able to traverse a
    NAT offers both and the P-CSCF picks); without it every entry has ``mod``."""
    if spi_c is None:
        spi_c = new_spi(randbits, avoid=() if spi_s is None else (spi_s,))
    if spi_s is None:
        spi_s = new_spi(randbits, avoid=(spi_c,))
    out = []
    for alg, ealg in pairs:
        if alg not in AUTH_ALGS or ealg not in ENC_ALGS:
            raise SecAgreeError(f"unsupported pair {alg}/{ealg}")
        for m in (modes or (mod,)):
            out.append(IpsecMechanism(alg, ealg, spi_c, spi_s, port_c, port_s, prot, m))
    if not out:
        raise SecAgreeError("no algorithms offered")
    return out


def renew_client(client: Sequence[IpsecMechanism], *, port_c: int,
                 randbits: Callable[[int], int] = _randbits) -> list[IpsecMechanism]:
    """A new Security-Client after a failed challenge: "new values for spi_uc, spi_us and
    port_uc" (TS 24.229 5.1.1.5.1), the same algorithms and port_us."""
    old = {client[0].spi_c, client[0].spi_s} if client else set()
    spi_c = new_spi(randbits, avoid=old)
    spi_s = new_spi(randbits, avoid=old | {spi_c})
    return [replace(m, spi_c=spi_c, spi_s=spi_s, port_c=port_c) for m in client]


def server_mechanisms(client: Sequence[IpsecMechanism], *, spi_c: int, spi_s: int,
                      port_c: int, port_s: int, supported: Sequence[tuple[str, str]] = ALG_PAIRS,
                      ims: bool = True, prot: str | None = "esp",
                      mod: str | None = "trans") -> list[IpsecMechanism]:
    """The P-CSCF's Security-Server.

    ``ims=True``: the first pair of ``supported`` that the UE offered, as one entry without q
    (TS 33.203 practice: departs from RFC 3329 §2.3.1 "The server's list MUST NOT depend on the
    contents of the client's list"); :class:`SecAgreeError` when nothing is common.
    ``ims=False``: all of ``supported`` in order with distinct descending q values (§2.2).
    """
    if ims:
        offered = {m.pair for m in client}
        for pair in supported:
            if pair in offered:
                return [IpsecMechanism(*pair, spi_c, spi_s, port_c, port_s, prot, mod)]
        raise SecAgreeError("no algorithm pair in common with the Security-Client")
    n = len(supported)
    return [IpsecMechanism(*pair, spi_c, spi_s, port_c, port_s, prot, mod,
                           q=f"{(n - i) / (n + 1):.3f}".rstrip("0").rstrip("."))
            for i, pair in enumerate(supported)]


def q_problems(mechs: Sequence[SecurityMechanism]) -> list[str]:
    """RFC 3329 §2.2: each q a qvalue, all different; several mechanisms need q (a reading:
    there is no default and §2.3.1 chooses by the highest q).  Empty list: no problem."""
    problems, seen = [], {}
    for i, m in enumerate(mechs):
        q = m.params.get("q")
        if q is None:
            if len(mechs) > 1:
                problems.append(f"mechanism {i + 1} ({m.name}) has no q among {len(mechs)}")
            continue
        if not _QVALUE.match(q):
            problems.append(f"mechanism {i + 1}: q={q!r} is not a qvalue")
            continue
        if float(q) in seen:
            problems.append(f"mechanisms {seen[float(q)] + 1} and {i + 1} share q={q}")
        seen.setdefault(float(q), i)
    return problems


def _known_default(mech: SecurityMechanism) -> bool:
    try:
        IpsecMechanism.from_mechanism(mech)
    except SecAgreeError:
        return False
    return True


def choose(server: Sequence[SecurityMechanism],
           known: Callable[[SecurityMechanism], bool] = _known_default) -> SecurityMechanism:
    """RFC 3329 §2.3.1: the mechanism "in the server's list with the highest "q" value among
    all the mechanisms that are known to the client".  A missing or malformed q ranks below
    every q; ties keep list order (:func:`q_problems` reports both)."""
    def rank(item):
        i, m = item
        q = m.params.get("q")
        return (0 if q is None or not _QVALUE.match(q) else 1,
                float(q) if q and _QVALUE.match(q) else 0.0, -i)
    usable = [(i, m) for i, m in enumerate(server) if known(m)]
    if not usable:
        raise SecAgreeError("no mechanism of the server's list is known to the client")
    return max(usable, key=rank)[1]


def mirror(server: Sequence[SecurityMechanism | IpsecMechanism]) -> str:
    """The Security-Verify value: the server's list as received (RFC 3329 §2.3.1)."""
    return format_security(server)


# -- Security-Verify check (RFC 3329 §2.3.1) --------------------------------------------------
@dataclass(frozen=True)
class Mismatch:
    """One way a Security-Verify differs from the server's list.

    kind: ``absent``, ``order``, ``missing-mechanism``, ``extra-mechanism``, ``mechanism-name``,
    ``param-value``, ``param-missing``, ``param-extra``, ``duplicate-param``.
    """
    kind: str
    detail: str
    index: int | None = None


def _same_value(name: str, a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.startswith('"') or b.startswith('"'):
        return a == b                          # quoted strings compare exactly
    if name in _NUMERIC or name == "q":
        try:
            return float(a) == float(b)
        except ValueError:
            pass
    return a.lower() == b.lower()              # tokens: case-insensitive


def _param_diffs(i: int, s: SecurityMechanism, v: SecurityMechanism) -> list[Mismatch]:
    out = []
    if s.name.lower() != v.name.lower():
        return [Mismatch("mechanism-name", f"{v.name!r} instead of {s.name!r}", i)]
    for name, value in s.params.items():
        if name not in v.params:
            out.append(Mismatch("param-missing", f"{name} missing from {s.name}", i))
        elif not _same_value(name, value, v.params[name]):
            out.append(Mismatch("param-value", f"{name}={v.params[name]} instead of {value}", i))
    for name in v.params:
        if name not in s.params:
            out.append(Mismatch("param-extra", f"{name} added to {s.name}", i))
    return out


def _equal(s: SecurityMechanism, v: SecurityMechanism) -> bool:
    return not _param_diffs(0, s, v)


def verify_mismatches(server: Sequence[SecurityMechanism | IpsecMechanism],
                      verify: Sequence[SecurityMechanism] | None) -> list[Mismatch]:
    """How ``verify`` (parsed Security-Verify; None or [] when absent) departs from
    ``server`` (the list sent to this client).  An empty result: the list was not modified
    and the server "can proceed" (RFC 3329 §2.3.1); anything else calls for a 494 carrying the
    unmodified list.  A missing header is reported as ``absent`` (treating it as a
    modification is a reading: §2.3.1 only says requests MUST contain it)."""
    srv = [m.to_mechanism() if isinstance(m, IpsecMechanism) else m for m in server]
    ver = list(verify or [])
    if not ver:
        return [Mismatch("absent", "no Security-Verify")]
    out = [Mismatch("duplicate-param", f"repeated {m.duplicate_params} in {m.name}", i)
           for i, m in enumerate(ver) if m.duplicate_params]
    if len(srv) == len(ver) and all(_equal(s, v) for s, v in zip(srv, ver)):
        return out
    # the same mechanisms in another order?
    rest = list(ver)
    for s in srv:
        hit = next((k for k, v in enumerate(rest) if _equal(s, v)), None)
        if hit is None:
            break
        rest.pop(hit)
    else:
        if not rest:
            return out + [Mismatch("order", "the same mechanisms in a different order")]
    # a subsequence of the server's list (mechanisms dropped) or a supersequence (added)?
    for small, big, kind in ((ver, srv, "missing-mechanism"), (srv, ver, "extra-mechanism")):
        if len(small) < len(big):
            left, k = [], 0
            for j, m in enumerate(big):
                if k < len(small) and _equal(m, small[k]):
                    k += 1
                else:
                    left.append(j)
            if k == len(small):
                return out + [Mismatch(kind, str(big[j]), j) for j in left]
    for i in range(max(len(srv), len(ver))):
        if i >= len(ver):
            out.append(Mismatch("missing-mechanism", str(srv[i]), i))
        elif i >= len(srv):
            out.append(Mismatch("extra-mechanism", str(ver[i]), i))
        else:
            out.extend(_param_diffs(i, srv[i], ver[i]))
    return out
