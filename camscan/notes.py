"""Notes per host: what was wrong with what a host sent (an XML bomb refused, a body cut at
the cap, a port that never answered). Shown in that device's `notes`; the active scan
(ScanContext.note) and passive mode keep them the same way."""

from __future__ import annotations

MAX_HOSTS = 65536
MAX_PER_HOST = 16
MAX_LENGTH = 300


def add_note(notes: dict[str, list[str]], ip: str, text: str) -> None:
    """Keep `text` once for `ip`, at most MAX_PER_HOST per host, control characters made
    visible (a note can quote device bytes)."""
    kept = notes.get(ip)
    if kept is None:
        if len(notes) >= MAX_HOSTS:
            return
        kept = notes[ip] = []
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:MAX_LENGTH])
    if text not in kept and len(kept) < MAX_PER_HOST:
        kept.append(text)
