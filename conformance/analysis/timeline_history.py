"""A binding's history in the offline timeline (timeline.py), packed: packet numbers and times
in arrays, the texts shared.  A capture of a registration load holds a history per binding, each
up to MAX_HISTORY events long, almost all of them the same few words ("refreshed"): as tuples of
objects that is some 110 bytes an event, packed about 25."""

from __future__ import annotations

from array import array
from typing import Iterator

_WORDS: dict[str, str] = {}  # the texts of events, one object each (bounded)


class History:
    """A list of (packet, time, what), oldest first; the first event is kept when it is full."""

    __slots__ = ("packets", "times", "whats")

    def __init__(self) -> None:
        self.packets = array("q")
        self.times = array("d")
        self.whats: list[str] = []

    def add(self, packet: int, time: float, what: str, cap: int) -> None:
        word = _WORDS.get(what)
        if word is None:
            if len(_WORDS) >= 1024:
                _WORDS.clear()
            word = _WORDS[what] = what
        self.packets.append(packet)
        self.times.append(time)
        self.whats.append(word)
        if len(self.whats) > cap:  # the first (creation) is kept, the oldest after it goes
            del self.packets[1], self.times[1], self.whats[1]

    def __len__(self) -> int:
        return len(self.whats)

    def __iter__(self) -> Iterator[tuple[int, float, str]]:
        return zip(self.packets, self.times, self.whats)

    def __getitem__(self, i):
        return list(self)[i]

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"History({list(self)!r})"

    def __getstate__(self):
        return self.packets, self.times, self.whats

    def __setstate__(self, state) -> None:
        self.packets, self.times, self.whats = state


class _Unkept(History):
    """The history of a binding the report cannot list (timeline.AorState.unlisted): nothing
    is kept."""

    __slots__ = ()

    def add(self, packet: int, time: float, what: str, cap: int) -> None:
        pass


UNKEPT = _Unkept()  # shared: it stays empty
