"""The reference CSCF's request handling, sans-IO (h11 style: bytes or a Request in, a Response
out, time passed in as ``now``).

:class:`Registrar` is the UAS core plus the bit of the transaction layer a registrar needs:

* requests that cannot be answered (no parseable Via: RFC 3261 section 18.2.2 has nowhere to
  send a response) are dropped, and so is ACK (there are no INVITE transactions here);
* retransmissions are matched (RFC 3261 section 17.2.3) and answered from the cache for
  Timer J (section 17.2.2) without being processed again;
* a malformed request gets 400 with a Warning naming the problem (RFC 3261 section 8.2,
  section 18.3 for a short body), and nothing raises out of :meth:`Registrar.handle`;
* Require is checked for every method (section 8.2.2.3, and section 10.3 step 2 for REGISTER);
* REGISTER goes to :mod:`.register`; OPTIONS gets 200 (section 11.2); other methods get 501
  until terminating routing is added (it will use :meth:`Registrar.lookup`).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from email.utils import formatdate

from ...sip.errors import ParseError
from ...sip.headers import Via, parse_cseq, parse_name_addr, parse_option_tags, parse_uri, \
    parse_vias
from ...sip.message import Request, Response, parse_message
from ..common.responses import basic_problem, build_response
from ..common.routing import canonical_aor
from ..config import SutConfig
from ..flow import FlowInfo
from .bindings import Binding, BindingTable
from .digestauth import DigestAuthenticator
from .gruu import GruuRegistry
from .register import Reject, RegisterProcessor
from .transactions import TransactionCache, transaction_key

log = logging.getLogger(__name__)

ALLOWED_METHODS = ("REGISTER", "OPTIONS")


@dataclass
class Handled:
    """One entry of :attr:`Registrar.log`."""

    now: float
    flow: FlowInfo
    request: str
    response: str | None
    note: str = ""


class Registrar:
    """Registrar (S-CSCF role) of the reference CSCF; see the module docstring."""

    def __init__(self, config: SutConfig | None = None, *, tag_secret: str | None = None,
                 log_size: int = 1000):
        self.config = config or SutConfig()
        self.table = BindingTable(self.config.max_bindings, self.config.max_bindings_per_aor)
        self.transactions = TransactionCache(self.config.transaction_cache_size)
        self.tag_secret = tag_secret if tag_secret is not None else secrets.token_hex(8)
        self.log: list[Handled] = []
        self.log_size = log_size
        self.gruu = GruuRegistry(self.config) if self.config.gruu_on else None   # RFC 5627
        self.auth = None
        if self.config.digest_auth is not None:
            self.auth = DigestAuthenticator(self.config.domain, self.config.digest_auth,
                                            accept_bad=self.config.has_fault("accept-bad-credentials"))

    @property
    def server_header(self) -> str:
        return f"{self.config.server_name} ({self.config.mode})"

    # -- public API --------------------------------------------------------------------------
    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Current bindings of an AOR (given as a URI string; it is made canonical)."""
        try:
            key = canonical_aor(parse_uri(aor))
        except ParseError:
            return []
        return self.table.bindings(key, now)

    def flow_closed(self, flow: FlowInfo) -> list[Binding]:
        """Tell the registrar a flow is gone (RFC 5626 section 7); returns the dropped bindings."""
        return self.table.drop_flow(flow)

    def handle_bytes(self, data: bytes, flow: FlowInfo, now: float,
                     wall: float | None = None) -> Response | None:
        """Parse one message and handle it.  A message that does not parse is answered with 400
        when its head still yields an addressable request, otherwise dropped."""
        try:
            message = parse_message(data)
        except ParseError as exc:
            salvaged = _salvage(data)
            if salvaged is None:
                self._note(now, flow, repr(data[:60]), None, f"dropped: {exc.reason}")
                return None
            return self.handle(salvaged, flow, now, wall, problem=f"malformed message: {exc.reason}")
        if not isinstance(message, Request):
            self._note(now, flow, message.summary(), None, "response dropped (we are a UAS)")
            return None
        return self.handle(message, flow, now, wall)

    def handle(self, request: Request, flow: FlowInfo, now: float, wall: float | None = None,
               *, problem: str | None = None) -> Response | None:
        """Answer one request.  Returns ``None`` when no response can or should be sent.

        ``wall`` is the wall-clock time for the Date header (RFC 3261 section 10.3 step 8 says
        SHOULD); without it no Date is sent.  ``problem`` forces a 400 with that warning.
        """
        try:
            response = self._handle(request, flow, now, wall, problem)
        except Exception as exc:  # noqa: BLE001 - the contract: nothing escapes handle()
            log.exception("internal error while handling %s", getattr(request, "method", "?"))
            try:
                response = self._reply(request, None, flow, 500, warning=f"internal error: {exc!r}")
            except Exception:  # noqa: BLE001
                response = None
        self._note(now, flow, request.summary() if isinstance(request, Request) else "?",
                   response.summary() if response is not None else None)
        return response

    # -- internals ---------------------------------------------------------------------------
    def _handle(self, request: Request, flow: FlowInfo, now: float, wall: float | None,
                problem: str | None) -> Response | None:
        if not isinstance(request, Request):
            return None
        try:
            vias = parse_vias(request)
        except ParseError:
            vias = []
        if not vias:
            return None                    # RFC 3261 section 18.2.2: no Via, no way back
        if request.method == "ACK":
            return None                    # no INVITE server transactions exist here
        top = vias[0]
        key = transaction_key(request, top.branch, (top.host, top.port))
        cached = self.transactions.get(key, now)
        if cached is not None:
            return cached                  # RFC 3261 section 17.2.2: resend, do not reprocess
        response = self._process(request, vias, flow, now, wall, problem)
        self.transactions.put(key, response, now)
        return response

    def _process(self, request: Request, vias: list[Via], flow: FlowInfo, now: float,
                 wall: float | None, problem: str | None) -> Response:
        top = vias[0]
        if problem:
            return self._reply(request, top, flow, 400, warning=problem)
        bad = basic_problem(request, vias)
        if bad:
            return self._reply(request, top, flow, 400, warning=bad)
        if request.method != "CANCEL":
            # RFC 3261 section 8.2.2.3 (and 10.3 step 2): unknown option tags in Require -> 420.
            try:
                required = parse_option_tags(request.values("Require"))
            except ParseError as exc:
                return self._reply(request, top, flow, 400, warning=f"malformed Require: {exc.reason}")
            unknown = [t for t in required if t not in self.config.understood_tags]
            if unknown:
                return self._reply(request, top, flow, 420, headers=[("Unsupported", ", ".join(unknown))],
                                   warning=f"unsupported option tag(s) in Require: {', '.join(unknown)}")
        if request.method == "REGISTER":
            refused = self._authenticate(request, now)
            if refused is not None:
                return self._reply(request, top, flow, refused.status, headers=refused.headers,
                                   warning=refused.warning)
            try:
                headers = RegisterProcessor(self.config, self.table, request, vias, flow, now,
                                            gruu=self.gruu).run()
            except Reject as rej:
                return self._reply(request, top, flow, rej.status, headers=rej.headers,
                                   warning=rej.warning, reason=rej.reason)
            if wall is not None:
                headers.append(("Date", formatdate(wall, usegmt=True)))
            return self._reply(request, top, flow, 200, headers=headers)
        if request.method == "OPTIONS":
            return self._reply(request, top, flow, 200, headers=[("Allow", ", ".join(ALLOWED_METHODS))])
        if request.method == "CANCEL":
            # RFC 3261 section 9.2: no matching transaction to cancel.
            return self._reply(request, top, flow, 481)
        # Terminating routing (RFC 5626 section 7) will use self.lookup(); until then, 501.
        return self._reply(request, top, flow, 501, headers=[("Allow", ", ".join(ALLOWED_METHODS))],
                           warning=f"{request.method} is not handled by this reference yet")

    def _authenticate(self, request: Request, now: float):
        """RFC 3261 §22 / §10.3 steps 3-4 when digest_auth is on: None, or the refusal."""
        if self.auth is None:
            return None
        try:
            aor = canonical_aor(parse_name_addr(request.get("To") or "").uri)
        except (ParseError, AttributeError):
            return None                    # RegisterProcessor answers the malformed To
        outcome = self.auth.check(request, aor, now)
        return None if outcome.ok else outcome

    def _reply(self, request: Request, top: Via | None, flow: FlowInfo, status: int, *,
               headers: list[tuple[str, str]] | None = None, warning: str | None = None,
               reason: str | None = None) -> Response:
        extra = list(headers or [])
        extra.append(("Supported", ", ".join(self.config.supported_tags)))
        return build_response(request, status, flow, top_via=top, tag_secret=self.tag_secret,
                              server=self.server_header, headers=extra, warning=warning,
                              reason=reason, warn_agent=self.config.server_name)

    def _note(self, now: float, flow: FlowInfo, request: str, response: str | None,
              note: str = "") -> None:
        self.log.append(Handled(now, flow, request, response, note))
        if len(self.log) > self.log_size:
            del self.log[: len(self.log) - self.log_size]


def _salvage(data: bytes) -> Request | None:
    """The head of an unparseable message, re-parsed without body or Content-Length, so that a
    400 can still be addressed (RFC 3261 section 18.3: a short body deserves a 400)."""
    if not isinstance(data, (bytes, bytearray)):
        return None
    head = re.split(rb"\r?\n\r?\n", bytes(data).lstrip(b"\r\n"), maxsplit=1)[0]
    lines = [ln for ln in re.split(rb"\r?\n", head)
             if not re.match(rb"^\s*(content-length|l)\s*:", ln, re.I)]
    try:
        message = parse_message(b"\r\n".join(lines) + b"\r\n\r\n")
    except ParseError:
        return None
    return message if isinstance(message, Request) else None


__all__ = ["ALLOWED_METHODS", "Handled", "Registrar"]
