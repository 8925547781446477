"""Text-protocol framing shared by the HTTP and RTSP servers: request heads in, responses out.
Pure functions; a malformed head raises ParseError."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

from camscan.errors import ParseError

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024

REASONS = {
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    455: "Method Not Valid in This State",
    500: "Internal Server Error",
    501: "Not Implemented",
}


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0].split("#", 1)[0] or "/"

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def content_length(self) -> int:
        raw = self.header("content-length", "0").strip() or "0"
        if not raw.isdigit():
            raise ParseError(f"bad Content-Length {raw[:20]!r}")
        return int(raw)


def parse_request_head(head: bytes, versions: tuple[str, ...]) -> Request:
    if len(head) > MAX_HEAD:
        raise ParseError("request head too large")
    try:
        text = head.decode("iso-8859-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise ParseError("undecodable head") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in versions or not parts[0].isalpha():
        raise ParseError(f"bad request line {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ParseError(f"bad header line {line[:60]!r}")
        headers[name.lower()] = value.strip()
    return Request(parts[0].upper(), parts[1], parts[2], headers)


def render_response(
    version: str,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    head_only: bool = False,
    content_length: bool = True,
) -> bytes:
    lines = [f"{version} {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1", "replace")
    return out if head_only else out + body


def http_date() -> str:
    return email.utils.formatdate(usegmt=True)
