"""Batched UDP system calls for the load generator: sendmmsg(2) and recvmmsg(2) through ctypes
on the C library (Linux), so that a turn's datagrams leave in one call and the responses come in
a few calls, not one call each.

``Batch(sock)`` holds preallocated ``mmsghdr`` / ``iovec`` arrays and buffers, reused every turn:
``send(datas, start)`` copies ``datas[start:start + SEND_SLOTS]`` into one buffer (a join and
one copy), points the iovecs at their places (offsets from ``itertools.accumulate``) and sends
them in one call on the connected socket; ``recv()`` returns the datagrams waiting, up to
``RECV_SLOTS`` per call, each a slice of the receive buffer (one bytes object a datagram).  The
C functions are called without ``argtypes``: the arguments are C ints and pointers made once
(``ctypes.c_void_p``), so ctypes converts nothing on each call.  ``batch_for(sock)`` is None where
the platform has no such calls (not Linux, no ctypes, no symbols): the generator then sends one
datagram at a time and reads through ``Single``, which has ``Batch.recv``'s interface."""

from __future__ import annotations

import ctypes
import errno
import mmap
import struct
import sys
from itertools import accumulate

SEND_SLOTS = 512  # datagrams per sendmmsg call (a turn's batch is smaller: ``SEND_BATCH``)
RECV_SLOTS = 64  # datagrams per recvmmsg call
RECV_SLOT = 65536  # bytes per received datagram (the largest a UDP datagram can be)
_MSG_DONTWAIT = 0x40
_IOV = 16  # sizeof(struct iovec) on 64-bit Linux
_MMSG = 64  # sizeof(struct mmsghdr): a 56-byte msghdr, msg_len, padding


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def _libc():
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    if ctypes.sizeof(_Mmsghdr) != _MMSG or _Mmsghdr.len.offset != 56 or _Msghdr.iov.offset != 16:
        return None
    try:
        lib = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: the C library's (no ctypes.util)
        send, recv = lib.sendmmsg, lib.recvmmsg
    except (OSError, AttributeError):
        return None
    # no argtypes: every call passes Python ints that fit a C int (descriptor, count, flags)
    # and the prebuilt c_void_p of its header array (or None: NULL)
    send.argtypes = recv.argtypes = None
    send.restype = recv.restype = ctypes.c_int
    return send, recv


_CALLS = _libc()


def _address(buf) -> int:
    return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))


# struct mmsghdr: msg_name, msg_namelen, msg_iov, msg_iovlen, msg_control, msg_controllen, msg_flags,
# then msg_len (x86-64 / aarch64 layout, checked against ctypes' own in ``_libc``)
_MMSGHDR = struct.Struct("=QI4xQQQQi4xI4x")


def _headers(n: int, iov_at: int) -> tuple[bytearray, int]:
    """n mmsghdr entries, entry i pointing at the i-th iovec from ``iov_at`` (no address: the
    socket is connected)."""
    pack = _MMSGHDR.pack
    buf = bytearray(b"".join(pack(0, 0, iov_at + _IOV * i, 1, 0, 0, 0, 0) for i in range(n)))
    return buf, _address(buf)


class Batch:
    """sendmmsg / recvmmsg on one connected, non-blocking UDP socket."""

    __slots__ = ("fd", "_send", "_recv", "_s_iov", "_s_hdr", "_s_hdr_at", "_s_data", "_s_data_at", "_s_pack",
                 "_r_iov", "_r_hdr", "_r_hdr_at", "_r_buf", "_r_slots", "_r_lens", "_sock")

    def __init__(self, sock, calls=None):
        self._sock = sock  # kept alive with its descriptor
        self.fd = sock.fileno()
        self._send, self._recv = calls or _CALLS
        self._s_iov = bytearray(_IOV * SEND_SLOTS)
        iov_at = _address(self._s_iov)
        self._s_hdr, at = _headers(SEND_SLOTS, iov_at)
        self._s_hdr_at = ctypes.c_void_p(at)
        self._s_data = bytearray(1 << 16)  # grown when a turn needs more
        self._s_data_at = _address(self._s_data)
        self._s_pack: dict = {}  # k -> pack_into of k iovecs, made when first needed
        # receiving: RECV_SLOTS iovecs over one buffer, set once
        self._r_buf = mmap.mmap(-1, RECV_SLOTS * RECV_SLOT)  # pages given when first written
        base = _address(self._r_buf)
        self._r_iov = bytearray(_IOV * RECV_SLOTS)
        struct.pack_into(f"={2 * RECV_SLOTS}Q", self._r_iov, 0,
                         *[v for i in range(RECV_SLOTS) for v in (base + i * RECV_SLOT, RECV_SLOT)])
        self._r_hdr, at = _headers(RECV_SLOTS, _address(self._r_iov))
        self._r_hdr_at = ctypes.c_void_p(at)
        self._r_lens = memoryview(self._r_hdr).cast("I")  # msg_len of entry i at [16 * i + 14]
        self._r_slots = [(i * RECV_SLOT, 16 * i + 14) for i in range(RECV_SLOTS)]  # (offset, its length's index)

    def send(self, datas: list, start: int = 0) -> tuple[int, int]:
        """Send ``datas[start:]`` (at most SEND_SLOTS of them) in one call: (how many left, the
        errno that stopped the call or 0)."""
        chunk = datas[start:start + SEND_SLOTS] if start or len(datas) > SEND_SLOTS else datas
        k = len(chunk)
        if not k:
            return 0, 0
        joined = b"".join(chunk)
        if len(joined) > len(self._s_data):
            self._grow(len(joined))
        self._s_data[:len(joined)] = joined
        lens = list(map(len, chunk))
        vals = [0] * (2 * k)
        vals[0::2] = accumulate(lens[:-1], initial=self._s_data_at)
        vals[1::2] = lens
        pack = self._s_pack.get(k)
        if pack is None:
            pack = self._s_pack[k] = struct.Struct(f"={2 * k}Q").pack_into
        pack(self._s_iov, 0, *vals)
        n = self._send(self.fd, self._s_hdr_at, k, 0)
        if n < 0:
            return 0, ctypes.get_errno() or errno.EIO
        return n, 0

    def _grow(self, size: int) -> None:
        self._s_data = bytearray(max(size, 2 * len(self._s_data)))
        self._s_data_at = _address(self._s_data)

    def recv(self) -> tuple[list, int]:
        """The datagrams waiting (at most RECV_SLOTS), and the errno when there were none (EAGAIN:
        nothing waiting)."""
        n = self._recv(self.fd, self._r_hdr_at, RECV_SLOTS, _MSG_DONTWAIT, None)
        if n <= 0:
            return [], (ctypes.get_errno() or errno.EAGAIN) if n < 0 else errno.EAGAIN
        lens, buf = self._r_lens, self._r_buf
        return [buf[at:at + lens[k]] for at, k in self._r_slots[:n]], 0


class Single:
    """``Batch.recv``'s interface over one ``recv`` call per datagram (where there is no
    recvmmsg, or with ``--udp-unbatched``): the datagrams waiting, at most RECV_SLOTS, and the
    errno when there were none.  An ICMP error (ECONNREFUSED) met after some datagrams is
    returned by the next call, alone, as recvmmsg does."""

    __slots__ = ("_recv", "_pending")

    def __init__(self, sock):
        self._recv = sock.recv
        self._pending = 0

    def recv(self) -> tuple[list, int]:
        if self._pending:
            err, self._pending = self._pending, 0
            return [], err
        recv, out = self._recv, []
        for _ in range(RECV_SLOTS):
            try:
                out.append(recv(65535))
            except BlockingIOError:
                break
            except OSError as exc:
                if not out:
                    return out, exc.errno or errno.EIO
                self._pending = exc.errno or errno.EIO
                break
        return out, 0 if out else errno.EAGAIN


def batch_for(sock) -> Batch | None:
    """A Batch for a connected UDP socket, or None where the calls are not available."""
    if _CALLS is None:
        return None
    try:
        return Batch(sock)
    except (OSError, ValueError, TypeError):
        return None
