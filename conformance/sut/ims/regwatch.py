"""The P-CSCF's own subscription to the reg event of the UEs it registered (TS 24.229 5.2.3),
sans-IO.

After the 2xx to a REGISTER that left a contact bound, the P-CSCF subscribes to the ``reg``
event of the registered public user identity at the S-CSCF (TS 24.229 5.2.3: "Upon receipt of
the 200 (OK) response to the initial REGISTER request, the P-CSCF shall subscribe to the reg
event package"; the spec text is [M] here: not in the spec folder).  One subscription per
IMPU: ``SUBSCRIBE <impu>`` from :data:`watcher_uri` (``sip:pcscf@<domain>``, which the
reference S-CSCF trusts as a watcher of every AOR), ``Event: reg``, ``Expires: 600000`` (TS
24.229's value), ``P-Asserted-Identity`` of the P-CSCF.  Each NOTIFY of that dialog is answered
200 (RFC 6665 section 4.1.3) and its ``<contact state="terminated">`` URIs are handed to the
P-CSCF, which forgets those contacts and deletes an SA set left without one (TS 24.229
5.2.3's "remove all stored information for these contacts").  A NOTIFY ending the subscription
(``Subscription-State: terminated``) or a failed SUBSCRIBE forgets the IMPU, so the next
registration subscribes again.  No refresh: 600000 s outlive any lab run.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass

from ...sip.errors import ParseError
from ...sip.headers import parse_name_addr, parse_vias
from ...sip.message import Request, Response
from ...sip.reginfo import parse_reginfo
from ..common.routing import bracket, via_value

EXPIRES = 600000
MAX_WATCHED = 4096


def watcher_uri(domain: str) -> str:
    return f"sip:pcscf@{domain}"


@dataclass
class _Watch:
    impu: str
    call_id: str
    tag: str
    branch: str
    remote_tag: str | None = None


class RegWatcher:
    """The P-CSCF's reg event subscriptions; see the module docstring."""

    def __init__(self, domain: str):
        self.domain = domain
        self.watches: dict[str, _Watch] = {}           # IMPU -> its subscription
        self._ids = itertools.count(1)

    def subscribe(self, impu: str, address: tuple[str, int], transport: str) -> bytes | None:
        """The SUBSCRIBE for ``impu`` if none is running, else None."""
        if impu in self.watches:
            return None
        while len(self.watches) >= MAX_WATCHED:
            self.watches.pop(next(iter(self.watches)))
        n = next(self._ids)
        watch = _Watch(impu, f"pcscf-reg-{n}-{secrets.token_hex(6)}", secrets.token_hex(4),
                       f"z9hG4bK-pw{n}{secrets.token_hex(4)}")
        self.watches[impu] = watch
        me = watcher_uri(self.domain)
        contact = f"<sip:{bracket(address[0])}:{address[1]};transport={transport}>"
        headers = [("Via", via_value(transport, address, watch.branch)), ("Max-Forwards", "70"),
                   ("From", f"<{me}>;tag={watch.tag}"), ("To", f"<{impu}>"),
                   ("Call-ID", watch.call_id), ("CSeq", "1 SUBSCRIBE"),
                   ("P-Asserted-Identity", f"<{me}>"), ("Event", "reg"),
                   ("Accept", "application/reginfo+xml"), ("Expires", str(EXPIRES)),
                   ("Contact", contact)]
        return bytes(Request(method="SUBSCRIBE", uri=impu, headers=headers))

    # -- the answer to our SUBSCRIBE --------------------------------------------------------------
    def owns_response(self, response: Response) -> bool:
        try:
            branch = parse_vias(response)[0].branch
        except (ParseError, IndexError):
            return False
        return any(w.branch == branch for w in self.watches.values())

    def on_response(self, response: Response) -> None:
        branch = parse_vias(response)[0].branch
        watch = next(w for w in self.watches.values() if w.branch == branch)
        if response.status < 200:
            return
        if response.status >= 300:
            self.watches.pop(watch.impu, None)         # subscribe again on the next REGISTER
            return
        try:
            watch.remote_tag = parse_name_addr(response.get("To") or "").tag
        except ParseError:
            pass

    # -- NOTIFY -------------------------------------------------------------------------------------
    def _watch_of(self, request: Request) -> _Watch | None:
        try:
            to_tag = parse_name_addr(request.get("To") or "").tag
        except ParseError:
            return None
        return next((w for w in self.watches.values()
                     if w.call_id == request.call_id and w.tag == to_tag), None)

    def owns_request(self, request: Request) -> bool:
        return request.method == "NOTIFY" and self._watch_of(request) is not None

    def on_notify(self, request: Request) -> tuple[int, list[str]]:
        """(status of our answer, Contact URIs shown terminated, lower case)."""
        watch = self._watch_of(request)
        if watch is None:
            return 481, []
        gone: list[str] = []
        if request.body:
            try:
                info = parse_reginfo(request.body)
            except ParseError:
                return 400, []
            gone = [c.uri.lower() for r in info.registrations for c in r.contacts
                    if c.state == "terminated"]
        state = (request.get("Subscription-State") or "").split(";", 1)[0].strip().lower()
        if state == "terminated":
            self.watches.pop(watch.impu, None)
        return 200, gone


__all__ = ["EXPIRES", "RegWatcher", "watcher_uri"]
