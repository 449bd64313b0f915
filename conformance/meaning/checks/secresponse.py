"""``sec_response``: what a response to a sec-agree REGISTER carries (TP_SEC_002, 009, 018,
019, 020, 021).  One question per check entry, so that each is graded by its own sentence:

* ``keys_hidden``: WWW-Authenticate has no ``ck``/``ik`` (TS 33.203 7.2 [M], TP_SEC_002);
* ``q_values``: Security-Server's mechanisms each have a q, all different, each a qvalue, when
  there are several (RFC 3329 §2.2 "All the security mechanisms MUST have different "q"
  values"); a single one without q passes;
* ``no_security_server``: the response has no Security-Server (RFC 3329 §2.3.2: a server that
  is not the first hop "MUST NOT use this mechanism");
* ``supported_only``: a Security-Server, if any, offers only ipsec-3gpp (alg, ealg) pairs that
  exist (TP_SEC_020: never an unknown algorithm taken from garbage);
* ``no_sa_offered``: no 401 with Security-Server, i.e. no SA set agreed for the stimulus
  (TP_SEC_020: nothing set up from invalid SPI or port values);
* ``static``: the mechanisms of this Security-Server (names, alg, ealg, prot, mod) equal the
  flow's previous one (RFC 3329 §2.3.1 "The server's list MUST NOT depend on the contents of
  the client's list"; TP_SEC_021);
* ``authentication_info``: ``present`` (RFC 3261 §20.6: a UAS MAY include it), ``directives``
  (if present: rspauth, cnonce and nc present and the request's, RFC 2617 §3.2.3 MUST; absent
  passes), ``rspauth`` (if present: the value computed with XRES = the UE's RES as password,
  RFC 3310 §3.5; absent passes).
"""

from __future__ import annotations

from ...ims.digest import rspauth
from ...ims.secagree import ALG_PAIRS, q_problems
from ...sip.errors import ParseError
from ...sip.headers import SecurityMechanism, parse_auth, parse_security
from .context import CheckContext, Observation
from .kind import CheckKind

QUESTIONS = ("keys_hidden", "q_values", "no_security_server", "supported_only", "no_sa_offered",
             "static", "authentication_info")


_REFS = {
    "q_values": "RFC 3329 §2.2",
    "no_security_server": "RFC 3329 §2.3.2",
    "supported_only": "robustness criterion (TP_SEC_020: nothing set up from garbage)",
    "no_sa_offered": "robustness criterion (TP_SEC_020: nothing set up from garbage)",
    "static": "RFC 3329 §2.3.1 (static list)",
}


def sec_response_ref(args: dict) -> str | None:
    """The default clause of the question asked (MUST ones); the others need an explicit ref."""
    if not isinstance(args, dict):
        return None
    if args.get("authentication_info") == "directives":
        return "RFC 2617 §3.2.3"
    return next((ref for q, ref in _REFS.items() if args.get(q)), None)


def _server(r) -> list[SecurityMechanism] | None:
    values = r.values("Security-Server")
    if not values:
        return []
    try:
        return parse_security(values)
    except ParseError:
        return None


def _shape(mechs: list[SecurityMechanism]) -> list[tuple]:
    """What a static list keeps (RFC 3329 §2.1): names and algorithms, not per-UE SPIs/ports."""
    keep = ("alg", "ealg", "prot", "mod")
    return [(m.name.lower(), tuple((k, (m.params.get(k) or "").lower()) for k in keep)) for m in mechs]


def sec_response_check(args: dict, ctx: CheckContext) -> list[Observation]:
    asked = [q for q in QUESTIONS if args.get(q)]
    if len(asked) != 1:
        raise ValueError(f"sec_response asks one of {', '.join(QUESTIONS)}")
    question = asked[0]
    r = ctx.response
    if r is None and question in ("no_security_server", "no_sa_offered"):
        # a discarded request offered nothing
        return [Observation(question.replace("_", " "), True, "no Security-Server / no SA set offered",
                            f"no response ({ctx.no_response_reason})")]
    if r is None:
        return [Observation(question.replace("_", " "), None, "a final response", ctx.no_response_reason)]
    shown = f"{r.status} {r.reason}"
    if question == "keys_hidden":
        value = r.get("WWW-Authenticate")
        try:
            params = parse_auth(value).params if value else {}
        except ParseError:
            params = {}
        found = [k for k in ("ck", "ik") if k in params]
        return [Observation("no CK/IK towards the UE", not found, "WWW-Authenticate without ck/ik",
                            f"{shown} with {' and '.join(found)}" if found else f"{shown}, no ck/ik")]
    if question == "authentication_info":
        return _authentication_info(args["authentication_info"], ctx, shown)
    mechs = _server(r)
    if mechs is None:
        return [Observation("Security-Server", False, "a parseable Security-Server", "unparseable")]
    listed = "; ".join(f"{m.name};" + ";".join(f"{k}={v}" if v is not None else k
                                                for k, v in m.params.items()) for m in mechs)
    if question == "no_security_server":
        return [Observation("no Security-Server", not mechs, "no Security-Server (not the first hop)",
                            f"{shown} with Security-Server {listed}" if mechs else f"{shown}, none")]
    if question == "no_sa_offered":
        offered = r.status == 401 and bool(mechs)
        return [Observation("no SA set offered", not offered,
                            "no 401 with Security-Server for the invalid values",
                            f"{shown} with Security-Server {listed}" if offered else shown)]
    if question == "q_values":
        if not mechs:
            return [Observation("q values", None, "a Security-Server", f"{shown} without Security-Server")]
        problems = q_problems(mechs)
        return [Observation("distinct q values", not problems,
                            "with several mechanisms, a qvalue on each, all different (RFC 3329 §2.2)",
                            "; ".join(problems) or f"{len(mechs)} mechanism(s): {listed}")]
    if question == "supported_only":
        bad = []
        for m in mechs:
            pair = ((m.params.get("alg") or "").lower(), (m.params.get("ealg") or "null").lower())
            if m.name.lower() != "ipsec-3gpp" or pair not in ALG_PAIRS:
                bad.append(f"{m.name} {pair[0]}/{pair[1]}")
        return [Observation("only supported mechanisms offered", not bad,
                            "Security-Server, if any, with known ipsec-3gpp alg/ealg pairs only",
                            ("offered " + ", ".join(bad)) if bad else (f"{shown}: {listed}" if mechs else shown))]
    # static
    history = ctx.sec.get("servers") or []
    if len(history) < 2 or not mechs:
        return [Observation("Security-Server independent of Security-Client", None,
                            "two Security-Server lists on the flow", f"{len(history)} seen")]
    try:
        before = parse_security([history[-2]])
    except ParseError:
        before = []
    same = _shape(before) == _shape(mechs)
    return [Observation("Security-Server independent of Security-Client", same,
                        "the same mechanisms and algorithms as the previous Security-Server",
                        f"before: {history[-2]}; now: {history[-1]}")]


def _authentication_info(which: str, ctx: CheckContext, shown: str) -> list[Observation]:
    r = ctx.response
    value = r.get("Authentication-Info")
    if which == "present":
        return [Observation("Authentication-Info", value is not None, "Authentication-Info in the 2xx",
                            f"{shown}: {value}" if value else f"{shown} without Authentication-Info")]
    if value is None:
        return [Observation(f"Authentication-Info {which}", True, "if present, complete and correct",
                            f"{shown} without Authentication-Info")]
    try:
        info = parse_auth("Digest " + value).params
        creds = parse_auth(ctx.request.get("Authorization") or "").params if ctx.request is not None else {}
    except ParseError as exc:
        return [Observation(f"Authentication-Info {which}", False, "parseable Authentication-Info", str(exc))]
    if which == "directives":
        wrong = []
        if creds.get("qop"):
            for name in ("rspauth", "cnonce", "nc"):
                if not info.get(name):
                    wrong.append(f"no {name}")
            for name in ("cnonce", "nc"):
                if info.get(name) and info.get(name) != creds.get(name):
                    wrong.append(f"{name}={info.get(name)} (the request's: {creds.get(name)})")
        return [Observation("Authentication-Info directives", not wrong,
                            "rspauth, cnonce and nc, those of the request (RFC 2617 §3.2.3)",
                            "; ".join(wrong) or value)]
    res = ctx.sec.get("res")
    if not res or not creds or not info.get("rspauth"):
        return [Observation("Authentication-Info rspauth", None, "rspauth and the UE's RES",
                            "no rspauth" if not info.get("rspauth") else "no RES or credentials at the UE")]
    want = rspauth(username=creds.get("username") or "", realm=creds.get("realm") or "",
                   password=bytes.fromhex(res), uri=creds.get("uri") or "", nonce=creds.get("nonce") or "",
                   qop=info.get("qop") or creds.get("qop"), nc=info.get("nc"), cnonce=info.get("cnonce"))
    return [Observation("Authentication-Info rspauth", info.get("rspauth") == want,
                        f"rspauth={want} (XRES as password, RFC 3310 §3.5)", f"rspauth={info.get('rspauth')}")]


KIND = CheckKind(
    name="sec_response",
    summary=(
        "One question on a response to a sec-agree REGISTER (checks/secresponse.py): keys_hidden (no ck/ik "
        "in WWW-Authenticate), q_values (RFC 3329 §2.2), no_security_server, supported_only (known alg/ealg "
        "only), no_sa_offered (no 401 with Security-Server), static (the same mechanisms as the flow's "
        "previous Security-Server), authentication_info: present | directives | rspauth."
    ),
    handler=sec_response_check,
    level="MUST",
    ref=sec_response_ref,
    order=200,
    args_doc=(
        "one question on a response to a sec-agree REGISTER: `{keys_hidden: true}` no ck/ik in "
        "WWW-Authenticate; `{q_values: true}` several mechanisms each with a distinct qvalue; "
        "`{no_security_server: true}`; `{supported_only: true}` only known ipsec-3gpp alg/ealg pairs; "
        "`{no_sa_offered: true}` no 401 with Security-Server; `{static: true}` the same mechanisms and "
        "algorithms as the flow's previous Security-Server; `{authentication_info: "
        "present\\|directives\\|rspauth}` (directives and rspauth pass when it is absent)"
    ),
    clause_doc=(
        "by question (RFC 3329 §2.2, §2.3.2, §2.3.1, RFC 2617 §3.2.3, the robustness criterion), else an "
        "explicit `ref:`"
    ),
    schema={
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            "keys_hidden": {
                "description": "WWW-Authenticate without ck and ik (TP_SEC_002).",
                "const": True,
            },
            "q_values": {
                "description": "Several mechanisms: a qvalue on each, all different (RFC 3329 §2.2).",
                "const": True,
            },
            "no_security_server": {
                "description": "No Security-Server in the response (RFC 3329 §2.3.2).",
                "const": True,
            },
            "supported_only": {
                "description": "A Security-Server, if any, offers only known ipsec-3gpp alg/ealg pairs.",
                "const": True,
            },
            "no_sa_offered": {
                "description": "No 401 with Security-Server (no SA set agreed).",
                "const": True,
            },
            "static": {
                "description": (
                    "The same mechanisms, alg, ealg, prot and mod as the flow's previous Security-Server "
                    "(RFC 3329 §2.3.1)."
                ),
                "const": True,
            },
            "authentication_info": {
                "description": (
                    "present: the 2xx has Authentication-Info; directives: if present, rspauth, cnonce and "
                    "nc are there and the request's (RFC 2617 §3.2.3); rspauth: if present, its value with "
                    "the UE's RES as password (RFC 3310 §3.5)."
                ),
                "enum": ["present", "directives", "rspauth"],
            },
        },
    },
)
