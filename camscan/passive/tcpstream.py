"""Just enough TCP reassembly to read the start of a server's answer.

A stream starts at a server segment whose payload opens an answer camscan reads (HTTP or RTSP
status line, TLS handshake record). Segments are placed by sequence number (retransmissions
and overlaps trimmed, a few out-of-order segments held back) into a buffer capped at
`max_bytes`. A stream ends when the caller says its content is complete, at the cap, at
FIN/RST, when evicted (least recently used, beyond `max_flows` streams or `max_total` bytes
held) or at the end of the capture; then `on_done` gets it. Memory stays bounded whatever
the capture.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

FlowKey = tuple[bytes, bytes, int, int]  # server ip, client ip, server port, client port
_FIN_RST = 0x05
_MAX_PENDING = 16
_WRAP = 1 << 32


@dataclass(slots=True)
class Stream:
    kind: str  # "http" | "rtsp" | "tls"
    key: FlowKey
    isn: int  # sequence number of the first byte kept
    number: int  # packet number of the first segment
    ts: float
    head_only: bool = False  # the answer to a HEAD request: no body follows
    buf: bytearray = field(default_factory=bytearray)
    pending: dict[int, bytes] = field(default_factory=dict)
    size: int = 0  # bytes held: buffer plus pending segments


class StreamTable:
    def __init__(
        self,
        *,
        complete: Callable[[Stream], bool],
        on_done: Callable[[Stream], None],
        max_flows: int = 10_000,
        max_bytes: int = 16 * 1024,
        max_total: int = 32 * 1024 * 1024,
    ) -> None:
        self._complete = complete
        self._on_done = on_done
        self.max_flows = max_flows
        self.max_bytes = max_bytes
        self.max_total = max_total
        self.held = 0  # bytes held by all open streams
        self._flows: OrderedDict[FlowKey, Stream] = OrderedDict()

    def __len__(self) -> int:
        return len(self._flows)

    def __contains__(self, key: FlowKey) -> bool:
        return key in self._flows

    def start(
        self,
        key: FlowKey,
        kind: str,
        seq: int,
        payload: bytes,
        number: int,
        ts: float,
        head_only: bool = False,
    ) -> None:
        """A new answer begins in this segment (an older one on the flow is finished first)."""
        old = self._flows.get(key)
        if old is not None:
            self._finish(old)
        stream = Stream(kind, key, seq, number, ts, head_only)
        self._flows[key] = stream
        self._append(stream, seq, payload, 0)
        self._evict()

    def segment(self, key: FlowKey, seq: int, flags: int, payload: bytes) -> bool:
        """Add a segment to the flow's stream; False when no stream is open on the flow."""
        stream = self._flows.get(key)
        if stream is None:
            return False
        self._flows.move_to_end(key)
        if payload:
            self._append(stream, seq, payload, flags)
            if key not in self._flows:
                return True
            self._evict()
        if flags & _FIN_RST:
            self._finish(stream)
        return True

    def flush(self) -> None:
        """The capture ended: every open stream is done with what it has."""
        while self._flows:
            self._finish(next(iter(self._flows.values())))

    def _evict(self) -> None:
        while self._flows and (len(self._flows) > self.max_flows or self.held > self.max_total):
            self._finish(next(iter(self._flows.values())))

    def _append(self, stream: Stream, seq: int, payload: bytes, flags: int) -> None:
        off = (seq - stream.isn) % _WRAP
        if off >= _WRAP // 2:
            return  # before the start: a retransmission of what we never wanted
        buf = stream.buf
        cap = self.max_bytes
        if off <= len(buf):
            skip = len(buf) - off
            if skip < len(payload):
                buf += payload[skip : skip + cap - len(buf)]
                self._drain(stream)
        elif off < cap and len(stream.pending) < _MAX_PENDING:
            stream.pending[off] = payload[: cap - off]
        size = len(buf) + (sum(map(len, stream.pending.values())) if stream.pending else 0)
        self.held += size - stream.size
        stream.size = size
        if len(buf) >= cap or self._complete(stream):
            self._finish(stream)

    def _drain(self, stream: Stream) -> None:
        buf, pending = stream.buf, stream.pending
        while pending:
            ready = [o for o in pending if o <= len(buf)]
            if not ready:
                return
            for o in sorted(ready):
                data = pending.pop(o)
                skip = len(buf) - o
                if 0 <= skip < len(data):
                    buf += data[skip : skip + self.max_bytes - len(buf)]

    def _finish(self, stream: Stream) -> None:
        if self._flows.get(stream.key) is stream:
            del self._flows[stream.key]
            self.held -= stream.size
            self._on_done(stream)
