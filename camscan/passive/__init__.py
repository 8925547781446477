"""Passive mode: the device evidence in a capture file (or live traffic), without sending a
single packet.

    read_records (pcapread)  ->  FastPath (fastpath)  ->  Extractor (extract)  ->  Evidence
    records of the file          headers by hand,         the discovery parsers
                                 interesting ports only   camscan.discovery.* reuse

`passive_evidence(paths)` streams the evidence of one or more capture files; the device list
is then built by fusion like an active scan's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from camscan.model import Evidence
from camscan.passive.extract import Extractor
from camscan.passive.fastpath import FastPath
from camscan.passive.pcapread import read_records

__all__ = ["PassiveStats", "check_captures", "passive_evidence"]

MAX_WARNINGS = 200


@dataclass(slots=True)
class PassiveStats:
    """What a passive run read: shown to the user, warnings go into the device list."""

    files: int = 0
    packets: int = 0
    evidence: int = 0
    elapsed: float = 0.0
    truncated: bool = False  # a file ended early (damaged or still being written)
    interrupted: bool = False  # a live capture ended by a signal (Ctrl-C), not by its duration
    warnings: list[str] = field(default_factory=list)
    parse_errors: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # ip -> what it sent wrong

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS and message not in self.warnings:
            self.warnings.append(message)

    @property
    def rate(self) -> float:
        return self.packets / self.elapsed if self.elapsed > 0 else 0.0


def check_captures(paths: Iterable[str]) -> None:
    """Fail before reading anything when a path is missing, unreadable or not a capture
    (one-line CaptureError)."""
    for path in paths:
        records = read_records(path, lambda _message: None)
        try:
            next(records, None)  # reads the file header: a cut-off one fails here
        finally:
            records.close()


def passive_evidence(
    paths: Iterable[str],
    *,
    stats: PassiveStats | None = None,
    on_warning: Callable[[str], None] | None = None,
    domains: frozenset[str] | None = None,
) -> Iterator[Evidence]:
    """Evidence from the packets of capture files (pcap or pcapng), in order, each item once.

    Packet numbers count from 1 in each file (as Wireshark shows them). A file that is not a
    capture raises CaptureError; damage inside a file is a warning and the run goes on with
    what was read. MAC bindings, vendor lookups and unfinished TCP answers are reported after
    the last file. `domains`: the vendor-cloud names whose lookups are reported (default:
    camscan's own lexicon; passive.dns.cloud_domains for an engine's).
    """
    st = stats if stats is not None else PassiveStats()

    def warn(message: str) -> None:
        if "truncated" in message:
            st.truncated = True
        st.warn(message)
        if on_warning is not None:
            on_warning(message)

    started = time.perf_counter()
    extractor = Extractor(warn, domains=domains)
    out = extractor.out
    try:
        for path in paths:
            st.files += 1
            extractor.set_source(path)
            feed = FastPath(extractor, lambda m, p=path: warn(f"{p}: {m}")).feed
            number = 0
            for number, ts, linktype, data, _orig in read_records(path, warn):
                feed(number, ts, linktype, data)
                if out:
                    yield from out
                    out.clear()
            st.packets += number
        extractor.finish()
        yield from out
        out.clear()
    finally:
        st.elapsed = time.perf_counter() - started
        st.evidence = extractor.stats.evidence
        st.parse_errors = dict(extractor.stats.parse_errors)
        st.notes = extractor.stats.notes
