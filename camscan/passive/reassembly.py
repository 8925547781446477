"""IP fragment reassembly for the fast path, bounded: large discovery answers (WS-Discovery
ProbeMatches, UPnP and mDNS answers) can arrive as IPv4 fragments or IPv6 fragment headers.

Only the fast path's UDP datagrams come here; what it holds is capped in every direction:
at most `max_datagrams` incomplete datagrams and `max_bytes` held in all, at most `max_size`
bytes each (64 KiB: what an IP length field can say), and an entry is dropped once
`max_packets` packets or `max_age` seconds of capture time have passed since its first
fragment (RFC 791 and RFC 8200 leave the timer to the receiver; Linux waits 30 s of wall
time, a capture has no wall time). When a cap is reached the oldest entry goes.

Overlapping fragments discard the whole datagram, as RFC 5722 requires for IPv6 and current
stacks do for IPv4 too (overlaps are how filters are evaded, never how a device talks); an
exact duplicate (a capture that saw a fragment twice) is ignored. A fragment that ends past
the datagram's known end, a non-final fragment whose size is not a multiple of 8, or a
datagram over `max_size` discards the datagram as well. A discarded datagram leaves a
tombstone until it expires, so its remaining fragments are dropped at once instead of
starting a new entry.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_DATAGRAMS = 1024
MAX_SIZE = 65535
MAX_BYTES = 16 << 20
MAX_PACKETS = 100_000
MAX_AGE = 10.0  # seconds of capture time
MAX_FRAGMENTS = 256  # per datagram: 64 KiB in 1280-byte IPv6 fragments is 52


@dataclass(slots=True)
class _Partial:
    number: int  # packet number and time of the first fragment seen
    ts: float
    starts: list[int] = field(default_factory=list)  # sorted fragment offsets
    parts: list[bytes] = field(default_factory=list)  # the fragments, in offset order
    held: int = 0  # bytes in parts
    total: int | None = None  # the datagram's length, once its last fragment is seen
    dead: bool = False  # a tombstone: discarded, later fragments are dropped


@dataclass(slots=True)
class ReassemblyStats:
    completed: int = 0
    discarded: int = 0  # overlapping, oversized or otherwise bad datagrams
    expired: int = 0  # incomplete ones dropped by age or for room


class Reassembler:
    """Collects fragments by key (the caller's: addresses, protocol and identification);
    add() returns the whole payload when a datagram completes."""

    def __init__(
        self,
        *,
        max_datagrams: int = MAX_DATAGRAMS,
        max_size: int = MAX_SIZE,
        max_bytes: int = MAX_BYTES,
        max_packets: int = MAX_PACKETS,
        max_age: float = MAX_AGE,
        max_fragments: int = MAX_FRAGMENTS,
    ) -> None:
        self.max_datagrams = max_datagrams
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.max_packets = max_packets
        self.max_age = max_age
        self.max_fragments = max_fragments
        self.stats = ReassemblyStats()
        self._table: OrderedDict[bytes, _Partial] = OrderedDict()  # oldest first
        self._held = 0

    def __len__(self) -> int:
        return len(self._table)

    @property
    def held(self) -> int:
        """Bytes held in incomplete datagrams."""
        return self._held

    def add(
        self, key: bytes, offset: int, more: bool, data: bytes, number: int, ts: float
    ) -> bytes | None:
        """One fragment: `offset` in bytes, `more` its more-fragments flag. Returns the
        reassembled payload when this fragment completes its datagram, else None."""
        self._expire(number, ts)
        entry = self._table.get(key)
        if entry is None:
            entry = self._new(key, number, ts)
        elif entry.dead:
            return None
        end = offset + len(data)
        if (
            end > self.max_size
            or (more and (len(data) & 7 or not data))
            or (not more and entry.total is not None and entry.total != end)
            or (entry.total is not None and end > entry.total)
            or (not more and entry.held and entry.starts[-1] + len(entry.parts[-1]) > end)
        ):
            self._kill(entry)
            return None
        starts, parts = entry.starts, entry.parts
        i = bisect_left(starts, offset)
        if i < len(starts) and starts[i] == offset and parts[i] == data:
            return None  # the same fragment again
        if (i < len(starts) and starts[i] < end) or (
            i and starts[i - 1] + len(parts[i - 1]) > offset
        ):
            self._kill(entry)  # overlaps a neighbour
            return None
        if len(starts) >= self.max_fragments:
            self._kill(entry)
            return None
        starts.insert(i, offset)
        parts.insert(i, data)
        entry.held += len(data)
        self._held += len(data)
        if not more:
            entry.total = end
        if entry.total is not None and entry.held == entry.total:
            # no overlaps and nothing past the end: held == total means no holes either
            del self._table[key]
            self._held -= entry.held
            self.stats.completed += 1
            return b"".join(parts)
        while self._held > self.max_bytes and self._table:
            self._evict()
        return None

    def discard(self, key: bytes, number: int, ts: float) -> None:
        """The caller does not want this datagram (its first fragment showed uninteresting
        ports): drop what is held and the fragments still to come."""
        entry = self._table.get(key)
        if entry is None:
            self._expire(number, ts)
            entry = self._new(key, number, ts)
        if not entry.dead:
            self._kill(entry, counted=False)

    def _new(self, key: bytes, number: int, ts: float) -> _Partial:
        while len(self._table) >= self.max_datagrams:
            self._evict()
        entry = self._table[key] = _Partial(number, ts)
        return entry

    def _kill(self, entry: _Partial, *, counted: bool = True) -> None:
        self._held -= entry.held
        entry.starts, entry.parts, entry.held, entry.dead = [], [], 0, True
        if counted:
            self.stats.discarded += 1

    def _evict(self) -> None:
        _, entry = self._table.popitem(last=False)
        self._held -= entry.held
        if not entry.dead:
            self.stats.expired += 1

    def _expire(self, number: int, ts: float) -> None:
        table = self._table
        while table:
            entry = next(iter(table.values()))
            if number - entry.number <= self.max_packets and abs(ts - entry.ts) <= self.max_age:
                return
            self._evict()
