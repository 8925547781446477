"""What every discovery module does with one answer datagram: stay in scope, skip inquiries,
parse, cap answers per host, note lies, emit evidence — never raise for what a device sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from camscan.discovery.base import ScanContext
from camscan.discovery.udp import Datagram
from camscan.errors import ParseError
from camscan.model import Evidence

MAX_REPLIES_PER_IP = 4  # different answers kept from one address (a flood keeps its first few)


class _Reply(Protocol):
    ipv4: str | None


def answer_handler(
    ctx: ScanContext,
    module: str,
    label: str,
    *,
    skip: Callable[[bytes], bool],
    parse: Callable[[bytes], Any],
    to_evidence: Callable[[Any, str, float], Iterable[Evidence]],
    detail_prefix: str | None = None,
) -> Callable[[Datagram], None]:
    """A datagram callback for send_and_collect. `label` names the protocol in notes
    ("SADP", "Dahua discovery"); with `detail_prefix` set, a parse error's text (minus that
    prefix) is added to the note."""
    per_ip: dict[str, int] = {}

    def handle(dgram: Datagram) -> None:
        ip = dgram.addr[0]
        if not ctx.in_scope(ip) or skip(dgram.data):
            return
        try:
            reply: _Reply = parse(dgram.data)
        except ParseError as exc:
            ctx.warn(module, f"unreadable answer from {ip}: {exc}")
            why = f" ({str(exc).removeprefix(detail_prefix)})" if detail_prefix is not None else ""
            ctx.note(ip, f"unreadable {label} answer{why}")
            return
        per_ip[ip] = per_ip.get(ip, 0) + 1
        if per_ip[ip] > MAX_REPLIES_PER_IP:
            ctx.warn(module, f"{ip} sent more than {MAX_REPLIES_PER_IP} different answers; "
                     "ignoring the rest")  # fmt: skip
            ctx.note(ip, f"{label}: more than {MAX_REPLIES_PER_IP} different answers, "
                     f"kept {MAX_REPLIES_PER_IP}")  # fmt: skip
            return
        if reply.ipv4 and reply.ipv4 != ip:
            ctx.note(ip, f"{label} answer states address {reply.ipv4}")
        for ev in to_evidence(reply, ip, dgram.at):
            ctx.emit(ev)

    return handle
