"""One TLS connection as a sans-IO object: ciphertext in, plaintext out, and back.

:class:`ssl.SSLObject` does the protocol over two :class:`ssl.MemoryBIO`; this class only moves
bytes between them and says what happened (handshake done, peer closed, handshake failed).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

__all__ = ["TlsLayer", "TlsOutput"]


@dataclass
class TlsOutput:
    send: bytes = b""          # ciphertext to write to the socket
    data: bytes = b""          # plaintext received
    ready: bool = False        # the handshake finished during this call
    closed: str | None = None  # the peer ended the session
    error: str | None = None   # the handshake or a record failed


@dataclass
class TlsLayer:
    context: ssl.SSLContext
    server_side: bool
    server_name: str | None = None
    _in: ssl.MemoryBIO = field(default_factory=ssl.MemoryBIO)
    _out: ssl.MemoryBIO = field(default_factory=ssl.MemoryBIO)
    ready: bool = False
    closed: bool = False

    def __post_init__(self) -> None:
        # An IP address is checked against the certificate's IP SANs and not sent as SNI
        # (RFC 6066 §3): the ssl module does both when given it as server_hostname.
        hostname = None if self.server_side else self.server_name
        self.obj = self.context.wrap_bio(self._in, self._out, server_side=self.server_side,
                                         server_hostname=hostname)

    # -- the handshake ----------------------------------------------------------------------
    def start(self) -> bytes:
        """The client's first flight (ClientHello); b"" for a server."""
        if self.server_side:
            return b""
        return self._step(TlsOutput()).send

    def _step(self, out: TlsOutput) -> TlsOutput:
        if not self.ready and out.error is None:
            try:
                self.obj.do_handshake()
                self.ready = out.ready = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as exc:
                out.error = f"certificate verify failed: {exc.verify_message}"
            except ssl.SSLError as exc:
                out.error = f"TLS handshake failed: {exc.reason or exc}"
            except OSError as exc:  # EOF in the middle of the handshake
                out.error = f"TLS handshake failed: {exc}"
        out.send += self._out.read()
        return out

    # -- data ---------------------------------------------------------------------------------
    def receive(self, ciphertext: bytes) -> TlsOutput:
        """Bytes read from the socket (b"": the socket reached EOF)."""
        out = TlsOutput()
        if ciphertext:
            self._in.write(ciphertext)
        else:
            self._in.write_eof()
        self._step(out)
        if out.error:
            return out
        if self.ready:
            chunks = []
            while True:
                try:
                    chunk = self.obj.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    out.closed = "close_notify"
                    break
                except ssl.SSLEOFError:
                    out.closed = "EOF without close_notify"
                    break
                except ssl.SSLError as exc:
                    out.error = f"TLS record error: {exc.reason or exc}"
                    break
                if not chunk:
                    out.closed = out.closed or "close_notify"
                    break
                chunks.append(chunk)
            out.data = b"".join(chunks)
            out.send += self._out.read()   # post-handshake messages (TLS 1.3 tickets, alerts)
        if not ciphertext and out.closed is None and out.error is None:
            out.closed = "EOF without close_notify" if self.ready else None
            if not self.ready:
                out.error = "connection closed during the TLS handshake"
        if out.closed:
            self.closed = True
        return out

    def send(self, plaintext: bytes) -> bytes:
        if not self.ready:
            raise ssl.SSLError("TLS handshake not finished")
        self.obj.write(plaintext)
        return self._out.read()

    def close(self) -> bytes:
        """close_notify (the caller may then close the socket without waiting for the reply)."""
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError, ValueError, OSError):
            pass
        self.closed = True
        return self._out.read()

    def peer_certificate(self) -> dict | None:
        try:
            return self.obj.getpeercert()
        except (ValueError, ssl.SSLError):
            return None

    @property
    def version(self) -> str | None:
        return self.obj.version()

    @property
    def cipher(self) -> str | None:
        c = self.obj.cipher()
        return c[0] if c else None
