"""RTSP/1.0 of a persona (TCP 554 by default), several requests per connection.

OPTIONS -> 200 with the persona's Public list (and its Server header, if any; Hikvision sends
none). DESCRIBE -> 401 with each WWW-Authenticate value of the persona as its own header
line, or, with the lab credentials, 200 and a small SDP (audited as authenticated_read). Every
other method is audited as a write and refused (401 without credentials, 455 with). CSeq is
echoed."""

from __future__ import annotations

import asyncio
from typing import Any

from camscan.errors import ParseError
from camscan.lab.devsim import audit, hostile
from camscan.lab.devsim.auth import check_authorization, fill_nonce
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.wire import MAX_HEAD, Request, parse_request_head, render_response
from camscan.lab.personas import Persona

READ_TIMEOUT = 10.0
MAX_REQUESTS = 32
_VERSIONS = ("RTSP/1.0",)


class RtspService:
    def __init__(self, persona: Persona, ctx: SimContext) -> None:
        self.persona = persona
        self.ctx = ctx
        self.conf: dict[str, Any] = persona.block("rtsp")
        self.port = int(self.conf.get("port", 554))

    async def start(self) -> list[asyncio.AbstractServer]:
        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if not await hostile.take_connection(self.persona, r, w, port=self.port, rtsp=True):
                await self._handle(r, w)

        server = await asyncio.start_server(
            handler, self.persona.ip, self.port, reuse_address=True, limit=MAX_HEAD, backlog=64
        )
        return [server]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            for _ in range(MAX_REQUESTS):
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
                try:
                    req = parse_request_head(head[:-4], _VERSIONS)
                    length = req.content_length
                except ParseError:
                    writer.write(render_response("RTSP/1.0", 400, [("CSeq", "0")]))
                    break
                if length:
                    await asyncio.wait_for(reader.readexactly(min(length, 65536)), READ_TIMEOUT)
                writer.write(self.respond(req, peer))
                await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            ConnectionError,
            OSError,
        ):
            pass
        except Exception as exc:
            self.ctx.warn_once(f"rtsp:{type(exc).__name__}", f"rtsp {self.persona.name}: {exc!r}")
        finally:
            writer.close()

    def respond(self, req: Request, peer: tuple[str, int] | None) -> bytes:
        headers = [("CSeq", req.header("cseq", "0"))]
        if self.conf.get("server"):
            headers.append(("Server", self.conf["server"]))
        authorized = False
        auth_value = req.header("authorization")
        if auth_value:
            verdict = check_authorization(auth_value, req.method, self.persona.credentials)
            authorized = verdict.ok
            if not verdict.ok:
                detail = f"RTSP {verdict.scheme} {req.method} {req.target}"
                self._audit(peer, audit.BAD_CREDENTIALS, detail, username=verdict.username)
        if req.method == "OPTIONS":
            headers.append(("Public", self.conf.get("public", "OPTIONS, DESCRIBE")))
            return render_response("RTSP/1.0", 200, headers, content_length=False)
        if req.method == "DESCRIBE" and authorized:
            self._audit(peer, audit.AUTH_READ, f"RTSP DESCRIBE {req.target}")
            sdp = self._sdp().encode()
            headers += [("Content-Base", req.target), ("Content-Type", "application/sdp")]
            return render_response("RTSP/1.0", 200, headers, sdp)
        if req.method != "DESCRIBE":
            self._audit(peer, audit.WRITE, f"RTSP {req.method} {req.target}")
            if authorized:
                return render_response("RTSP/1.0", 455, headers, content_length=False)
        challenges = self.conf.get("www_authenticate") or ['Basic realm="device"']
        headers += [("WWW-Authenticate", fill_nonce(c)) for c in challenges]
        return render_response("RTSP/1.0", 401, headers, content_length=False)

    def _sdp(self) -> str:
        return (
            "v=0\r\n"
            f"o=- 1 1 IN IP4 {self.persona.ip}\r\n"
            "s=Media Presentation\r\n"
            "c=IN IP4 0.0.0.0\r\nt=0 0\r\n"
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n"
        )

    def _audit(self, peer: tuple[str, int] | None, kind: str, detail: str, **extra: Any) -> None:
        self.ctx.audit.record(self.persona, "rtsp", self.port, peer, kind, detail, **extra)
