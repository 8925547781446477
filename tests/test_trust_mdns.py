"""Issue 13, item 5: an mDNS A record attached evidence to an address other than the
responder's.

Before the fix the active mDNS module took a service's addresses from zeroconf's ServiceInfo,
which does not say who sent the records: a hostile host could announce a camera service whose
A record names a victim's address, and camscan put the camera on the victim. Now evidence goes
only to the address the answer came from (camscan's own listener on 5353 sees it), and an
answer whose A records name only other addresses is a note on its sender.

The module test runs in a child process alone in a fresh network namespace holding nothing but
`lo` (as in test_discovery_mdns.py): the responders there send from addresses of 127.0.0.0/8.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import httpx
import pytest
from test_discovery_mdns import ISOLATED_LOOPBACK
from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSService, DNSText, const

from camscan.discovery.base import ScanContext

AXIS = "_axis-video._tcp.local."


def answer(
    instance: str,
    host: str,
    addresses: list[str],
    *,
    ptr: bool = True,
    srv: bool = True,
    txt: bytes = b"\x17macaddress=ACCC8E000041",
) -> bytes:
    """One mDNS response: PTR, SRV and TXT of `instance` on `host`, A records for `host`."""
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    unique = const._CLASS_IN | const._CLASS_UNIQUE
    name = f"{instance}.{AXIS}"
    if ptr:
        out.add_answer_at_time(DNSPointer(AXIS, const._TYPE_PTR, const._CLASS_IN, 4500, name), 0)
    if srv:
        out.add_answer_at_time(DNSService(name, const._TYPE_SRV, unique, 120, 0, 0, 80, host), 0)
    if txt:
        out.add_answer_at_time(DNSText(name, const._TYPE_TXT, unique, 4500, txt), 0)
    for ip in addresses:
        raw = socket.inet_aton(ip)
        out.add_answer_at_time(DNSAddress(host, const._TYPE_A, unique, 120, raw), 0)
    return out.packets()[0]


def heard(*datagrams: tuple[bytes, str]) -> ScanContext:
    from camscan.discovery.mdns import Heard  # here: the namespace test imports this module

    ctx = ScanContext(targets=[IPv4Network("10.9.0.0/24")], interface=None, local_ip="10.9.0.1")
    state = Heard(ctx, "mdns")
    for data, ip in datagrams:
        state.received(data, (ip, 5353))
    state.emit()
    return ctx


# -- what one sender's answers give (no sockets) ----------------------------------------------


def test_an_a_record_naming_another_address_gives_that_address_nothing() -> None:
    ctx = heard((answer("AXIS M3045 - ACCC8E000041", "cam.local.", ["10.9.0.99"]), "10.9.0.66"))
    assert ctx.evidence == []
    assert ctx.notes == {
        "10.9.0.66": [
            "mDNS answer states address 10.9.0.99 for "
            "'AXIS M3045 - ACCC8E000041._axis-video._tcp.local.'; not attributed"
        ]
    }


def test_the_sender_gets_its_own_services_across_packets() -> None:
    name = "AXIS M3045 - ACCC8E000041"
    ctx = heard(
        (answer(name, "cam.local.", [], txt=b""), "10.9.0.41"),  # PTR and SRV
        (answer(name, "cam.local.", [], ptr=False, srv=False), "10.9.0.41"),  # TXT
        (answer(name, "cam.local.", ["10.9.0.41"], ptr=False, srv=False, txt=b""), "10.9.0.41"),
        # another host's word about cam.local. changes nothing for 10.9.0.41
        (answer(name, "cam.local.", ["10.9.0.5"], ptr=False, srv=False, txt=b""), "10.9.0.5"),
    )
    got = [(e.protocol, e.value, e.ip, e.source) for e in ctx.evidence]
    assert got == [
        ("mdns_service", f"{name}.{AXIS}", "10.9.0.41", "cam.local."),
        ("mdns_txt", "macaddress=ACCC8E000041", "10.9.0.41", "cam.local."),
    ]
    assert ctx.notes == {}


def test_a_sender_naming_itself_among_others_keeps_its_services_alone() -> None:
    ctx = heard((answer("Cam", "cam.local.", ["10.9.0.99", "10.9.0.41"]), "10.9.0.41"))
    assert {e.ip for e in ctx.evidence} == {"10.9.0.41"} and ctx.notes == {}


def test_senders_outside_the_targets_and_queries_give_nothing() -> None:
    query = DNSOutgoing(const._FLAGS_QR_QUERY).packets()[0]
    ctx = heard(
        (answer("Cam", "cam.local.", ["10.8.0.3"]), "10.8.0.3"),
        (query, "10.8.0.4"),
        (query, "10.9.0.4"),
        (b"\x00\x00\x84\x00garbage", "10.9.0.5"),
    )
    assert ctx.evidence == [] and ctx.notes == {}
    assert ctx.outside == {"mdns": {"10.8.0.3"}}


# -- the module against a hostile responder (an isolated namespace) ---------------------------

CHILD = (
    ISOLATED_LOOPBACK
    + r"""
from ipaddress import IPv4Network
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.mdns import MdnsModule
from test_trust_mdns import answer

GROUP = "224.0.0.251"
# sender -> what it answers to every query it hears
ANSWERS = {
    # the hostile host: a camera whose A record names the victim, 127.0.0.99
    "127.0.0.66": answer("AXIS M3045-V - ACCC8E000099", "victim-cam.local.", ["127.0.0.99"],
                         txt=b"\x17macaddress=ACCC8E000099"),
    # an honest camera on its own address
    "127.0.0.7": answer("AXIS M3106-L - ACCC8E000007", "cam7.local.", ["127.0.0.7"],
                        txt=b"\x17macaddress=ACCC8E000007"),
    # an honest camera outside the targets
    "127.0.0.200": answer("AXIS P1448 - ACCC8E000200", "cam200.local.", ["127.0.0.200"]),
}


def reuse(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


class Responders(asyncio.DatagramProtocol):
    # hears the queries on the group and answers each from every sender (a bounded number)
    def __init__(self):
        self.tx = {}
        for ip in ANSWERS:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            reuse(s)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            s.bind((ip, 5353))
            self.tx[ip] = s
        self.left = 60

    def datagram_received(self, data, addr):
        if len(data) < 12 or data[2] & 0x80 or self.left <= 0:
            return  # an answer, or enough said
        self.left -= 1
        for ip, packet in ANSWERS.items():
            self.tx[ip].sendto(packet, (GROUP, 5353))

    def close(self):
        for s in self.tx.values():
            s.close()


async def main():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reuse(rx)
    rx.bind((GROUP, 5353))
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("127.0.0.1")))
    responders = Responders()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: responders, sock=rx)
    # an honest zeroconf responder on the scanner's own address (as in test_discovery_mdns)
    printer = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    await printer.async_register_service(AsyncServiceInfo(
        "_ipp._tcp.local.", "Office Printer._ipp._tcp.local.",
        addresses=[socket.inet_aton("127.0.0.1")], port=631, properties={"ty": "HP"},
        server="printer.local."))
    ctx = ScanContext(targets=[IPv4Network("127.0.0.0/25")], interface=None,
                      local_ip="127.0.0.1", settings=ScanSettings(listen_window=1.5))
    await MdnsModule().run(ctx)
    await printer.async_close()
    transport.close()
    responders.close()
    print(json.dumps({
        "evidence": [[e.protocol, e.value, e.ip, e.source] for e in ctx.evidence],
        "notes": ctx.notes,
        "outside": {m: sorted(s) for m, s in ctx.outside.items()},
        "warnings": ctx.warnings,
        "queries_answered": 60 - responders.left,
    }))

asyncio.run(main())
"""
)


@pytest.mark.lab
@pytest.mark.timeout(60)
def test_a_hostile_a_record_puts_nothing_on_the_victim() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    assert out["queries_answered"] > 0  # the hostile host did answer the scan's queries
    by_ip: dict[str, set[tuple[str, str]]] = {}
    for protocol, value, ip, _ in out["evidence"]:
        by_ip.setdefault(ip, set()).add((protocol, value))
    # nothing on the victim, nothing from the liar, the honest ones as they said
    assert "127.0.0.99" not in by_ip, by_ip.get("127.0.0.99")
    assert "127.0.0.66" not in by_ip
    assert set(by_ip) == {"127.0.0.1", "127.0.0.7"}
    assert by_ip["127.0.0.7"] == {
        ("mdns_service", "AXIS M3106-L - ACCC8E000007._axis-video._tcp.local."),
        ("mdns_txt", "macaddress=ACCC8E000007"),
    }
    assert ("mdns_txt", "ty=HP") in by_ip["127.0.0.1"]
    # the liar is noted, and the host outside the targets is reported, not believed
    assert out["notes"] == {
        "127.0.0.66": [
            "mDNS answer states address 127.0.0.99 for "
            "'AXIS M3045-V - ACCC8E000099._axis-video._tcp.local.'; not attributed"
        ]
    }
    assert out["outside"] == {"mdns": ["127.0.0.200"]}


# -- issue 13, same item: ssdp.no_connection decided by exception types, not httpcore's words --


def chained(outer: httpx.TransportError, *inner: Exception) -> httpx.TransportError:
    """outer raised from inner[0] raised from ... (as httpx wraps httpcore, which wraps h11)."""
    for exc, cause in zip((outer, *inner), inner, strict=False):
        exc.__cause__ = cause
    return outer


def test_ssdp_no_connection_does_not_read_the_message() -> None:
    import h11
    import httpcore

    from camscan.discovery.ssdp import no_connection

    # the peer closed before a head: whatever httpcore's message says
    for words in ("Server disconnected without sending a response.", "peer went away", ""):
        exc = chained(httpx.RemoteProtocolError(words), httpcore.RemoteProtocolError(words))
        assert no_connection(exc), words
    # a head the parser refused is an answer, whatever the message says
    refused = chained(
        httpx.RemoteProtocolError("disconnected without sending a response"),
        httpcore.RemoteProtocolError("disconnected without sending a response"),
        h11.RemoteProtocolError("illegal status line"),
    )
    assert not no_connection(refused)


async def test_ssdp_no_connection_on_real_connections() -> None:
    import asyncio

    from camscan.discovery.ssdp import no_connection

    async def closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 20")  # half a status line, then gone
        writer.close()

    async def garbles(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"\x00\x01 not http\r\n\r\n")
        writer.close()

    for handler, expected in ((closes, True), (garbles, False)):
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                with pytest.raises(httpx.TransportError) as info:
                    await client.get(f"http://127.0.0.1:{port}/d.xml")
            assert no_connection(info.value) is expected, handler.__name__
        finally:
            server.close()
            await server.wait_closed()
