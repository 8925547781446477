"""Making device-supplied text safe to show. Every string in a device list came from a device
or a packet and may carry terminal escapes, bidi overrides, rich markup, HTML or Markdown.

`visible()` turns control and invisible formatting characters into printable escapes (so an
ESC byte shows as `\\x1b` instead of repainting the terminal); the per-format escapers build on
it. Rich markup is never parsed from device text: the table renderer only ever hands rich
`Text` objects, and this module's `rich_text()` makes them.
"""

from __future__ import annotations

import html
import re

from rich.text import Text

# C0 controls, DEL, C1 controls, and the invisible format characters that reorder or hide
# text (bidi embeddings/overrides/isolates, marks, zero-width joiners, BOM).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
MAX_CELL = 400


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: object, limit: int = MAX_CELL, newlines: bool = False) -> str:
    """Printable text: controls escaped, long values cut with an ellipsis. Single-line unless
    `newlines` lets line feeds through (for multi-line evidence shown in a <pre>-like cell)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit * 2:
        text = text[: limit * 2]
    if newlines:
        text = "\n".join(_UNSAFE.sub(_escape_char, line) for line in text.split("\n"))
    else:
        text = _UNSAFE.sub(_escape_char, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rich_text(value: object, style: str = "", limit: int = MAX_CELL) -> Text:
    """A rich Text that renders the value literally (no markup, no emoji codes)."""
    return Text(visible(value, limit), style=style)


def html_text(value: object, limit: int = MAX_CELL, newlines: bool = False) -> str:
    return html.escape(visible(value, limit, newlines), quote=True)


# Inline Markdown only: the values go in table cells and list items, never at a line start.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")


def md_text(value: object, limit: int = MAX_CELL) -> str:
    """Markdown-inert text: HTML-escaped (raw HTML passes through Markdown) and the inline
    Markdown punctuation backslash-escaped."""
    text = visible(value, limit)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace('"', "&quot;")
    return _MD_SPECIAL.sub(r"\\\1", text)
