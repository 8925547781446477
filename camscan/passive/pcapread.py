"""Streaming reader for pcap and pcapng files: records out, nothing kept.

The file is read in large chunks and records are cut out of the chunk with struct; no packet
is dissected here. A file that is not a capture at all raises CaptureError before the first
record; damage later on (a truncated tail, a corrupt record length) ends the file with a
warning naming the packet number, and what was read before it stays valid.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from camscan.errors import CaptureError

CHUNK = 1 << 20
MAX_RECORD = 1 << 18  # a record claiming more than 256 KiB is corruption, not a packet

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
_IDB, _PB, _SPB, _EPB = 1, 2, 3, 6

# (number, timestamp, link type, captured bytes, original length)
Record = tuple[int, float, int, bytes, int]
Warn = Callable[[str], None]


@dataclass(slots=True)
class _Interface:
    linktype: int
    tsdiv: float  # timestamp units per second
    tsoffset: int


class _Chunked:
    """A forward-only window over a file: peek/take without reading the file whole."""

    __slots__ = ("fh", "buf", "pos", "eof")

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.eof = False

    def ensure(self, n: int) -> bool:
        """Make n bytes available at pos; False when the file ends first."""
        while len(self.buf) - self.pos < n:
            if self.eof:
                return False
            more = self.fh.read(max(CHUNK, n))
            if not more:
                self.eof = True
                return False
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
        return True


def _sniff_magic(path: str, head: bytes) -> str:
    if len(head) >= 4:
        if struct.unpack("<I", head[:4])[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or struct.unpack(
            ">I", head[:4]
        )[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            return "pcap"
        if head[:4] == b"\x0a\x0d\x0d\x0a":
            return "pcapng"
    raise CaptureError(f"{path}: not a pcap or pcapng capture")


def open_capture(path: str) -> BinaryIO:
    """Open path and check it is a capture: every failure is a one-line CaptureError."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        head = fh.read(4)
    except OSError as exc:
        fh.close()
        raise CaptureError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        _sniff_magic(path, head)
    except CaptureError:
        fh.close()
        raise
    fh.seek(0)
    return fh


def read_records(path: str, warn: Warn, start: int = 1) -> Generator[Record, None, None]:
    """Every packet record of the capture at path, numbered from `start`."""
    fh = open_capture(path)
    with fh:
        src = _Chunked(fh)
        try:
            src.ensure(4)
            kind = _sniff_magic(path, src.buf[:4])
            if kind == "pcap":
                yield from _pcap(path, src, warn, start)
            else:
                yield from _pcapng(path, src, warn, start)
        except OSError as exc:
            warn(f"{path}: read error: {exc.strerror or exc}; stopped")


def _pcap(path: str, src: _Chunked, warn: Warn, number: int) -> Iterator[Record]:
    if not src.ensure(24):
        raise CaptureError(f"{path}: truncated pcap header")
    magic_le = struct.unpack_from("<I", src.buf, 0)[0]
    endian = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    magic, _vmaj, _vmin, _zone, _sig, _snaplen, network = struct.unpack_from(
        endian + "IHHiIII", src.buf, 0
    )
    div = 1e9 if magic == PCAP_MAGIC_NS else 1e6
    linktype = network & 0x0FFFFFFF
    src.pos = 24
    rec = struct.Struct(endian + "IIII")
    unpack = rec.unpack_from
    while True:
        buf, pos = src.buf, src.pos
        if len(buf) - pos < 16:
            if not src.ensure(16):
                if len(src.buf) - src.pos:
                    warn(f"{path}: truncated record header at packet {number}; stopped")
                return
            buf, pos = src.buf, src.pos
        sec, frac, caplen, origlen = unpack(buf, pos)
        if caplen > MAX_RECORD:
            warn(f"{path}: corrupt record length {caplen} at packet {number}; stopped")
            return
        end = pos + 16 + caplen
        if end > len(buf):
            if not src.ensure(16 + caplen):
                warn(f"{path}: truncated packet {number}; stopped")
                return
            buf, pos = src.buf, src.pos
            end = pos + 16 + caplen
        yield number, sec + frac / div, linktype, buf[pos + 16 : end], origlen
        src.pos = end
        number += 1


def _tsdiv(opts: bytes, endian: str) -> tuple[float, int]:
    """if_tsresol and if_tsoffset from an IDB's options."""
    div, offset, i = 1e6, 0, 0
    while i + 4 <= len(opts):
        code, length = struct.unpack_from(endian + "HH", opts, i)
        value = opts[i + 4 : i + 4 + length]
        if code == 0:
            break
        if code == 9 and length >= 1:
            res = value[0]
            div = float(2 ** (res & 0x7F)) if res & 0x80 else float(10 ** min(res, 18))
        elif code == 14 and length >= 8:
            offset = struct.unpack_from(endian + "q", value, 0)[0]
        i += 4 + ((length + 3) & ~3)
    return div, offset


def _pcapng(path: str, src: _Chunked, warn: Warn, number: int) -> Iterator[Record]:
    endian = "<"
    ifaces: list[_Interface] = []
    first = True
    warned_iface = False
    last_ts = 0.0  # simple packet blocks carry no timestamp: reuse the previous one
    while True:
        if not src.ensure(12):
            if first:
                raise CaptureError(f"{path}: truncated pcapng header")
            if len(src.buf) - src.pos:
                warn(f"{path}: truncated block before packet {number}; stopped")
            return
        buf, pos = src.buf, src.pos
        if buf[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
            bom = buf[pos + 8 : pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                if first:
                    raise CaptureError(f"{path}: not a pcap or pcapng capture (bad byte order)")
                warn(f"{path}: corrupt section header before packet {number}; stopped")
                return
            ifaces = []  # interface ids are per section
        elif first:
            raise CaptureError(f"{path}: not a pcapng capture")
        first = False
        btype, blen = struct.unpack_from(endian + "II", buf, pos)
        if blen < 12 or blen % 4 or blen > MAX_RECORD + 64:
            warn(f"{path}: corrupt block length {blen} before packet {number}; stopped")
            return
        if not src.ensure(blen):
            warn(f"{path}: truncated block at packet {number}; stopped")
            return
        buf, pos = src.buf, src.pos
        body = pos + 8
        bend = pos + blen - 4
        src.pos = pos + blen
        if btype == _EPB:
            if bend - body < 20:
                warn(f"{path}: short packet block at packet {number}; skipped")
                number += 1
                continue
            iface, hi, lo, caplen, origlen = struct.unpack_from(endian + "IIIII", buf, body)
            data = buf[body + 20 : min(body + 20 + caplen, bend)]
            ts_raw = (hi << 32) | lo
        elif btype == _SPB:
            if bend - body < 4:
                number += 1
                continue
            iface, ts_raw = 0, -1
            origlen = struct.unpack_from(endian + "I", buf, body)[0]
            data = buf[body + 4 : min(body + 4 + origlen, bend)]
        elif btype == _PB:
            if bend - body < 20:
                number += 1
                continue
            iface, _drops, hi, lo, caplen, origlen = struct.unpack_from(
                endian + "HHIIII", buf, body
            )
            data = buf[body + 20 : min(body + 20 + caplen, bend)]
            ts_raw = (hi << 32) | lo
        elif btype == _IDB:
            if bend - body >= 8:
                linktype = struct.unpack_from(endian + "H", buf, body)[0]
                div, offset = _tsdiv(buf[body + 8 : bend], endian)
                ifaces.append(_Interface(linktype, div, offset))
            continue
        else:
            continue  # SHB, name resolution, statistics, custom blocks...
        if iface >= len(ifaces):
            if not warned_iface:
                warn(f"{path}: packet {number} names undeclared interface {iface}; skipped")
                warned_iface = True
            number += 1
            continue
        idb = ifaces[iface]
        if ts_raw >= 0:
            last_ts = ts_raw / idb.tsdiv + idb.tsoffset
        yield number, last_ts, idb.linktype, data, origlen
        number += 1
