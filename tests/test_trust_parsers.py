"""Issue 13, item 5: the Sony reply parser stays linear on crafted datagrams, and an mDNS A
record never attaches evidence to an address other than the responder's."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSService, DNSText, const

from camscan.discovery.vendors import sony
from camscan.passive.extract import Extractor
from camscan.passive.fastpath import FastPath
from camscan.passive.mdnsread import mdns_services

# -- Sony: a value padded with a long run of blanks ------------------------------------------


def crafted_sony(n: int) -> bytes:
    """A full-size frame (the parser reads 8 KiB of it): one MODEL line whose value is `x`, a
    run of blanks and a distinct last character. The old pattern `\\s*(.*?)\\s*$` tried every
    split of the run against the rest: ~0.4 s per datagram, quadratic in its length."""
    return b"\x02MAC: 08:00:46:00:00:01\r\nMODEL: x" + b" " * 8100 + b"%d\x03" % (n % 10)


@pytest.mark.timeout(30)  # the old parser needed over a minute for these 300 datagrams
def test_sony_parser_reads_crafted_datagrams_in_linear_time() -> None:
    for n in range(300):
        reply = sony.parse(crafted_sony(n))
        pairs = dict(reply.pairs)
        assert pairs["mac"] == "08:00:46:00:00:01"
        assert pairs["model"].startswith("x") and pairs["model"].endswith(str(n % 10))


def test_sony_parser_still_reads_plain_lines() -> None:
    data = b"\x02MAC:08:00:46:12:34:56\r\n MODEL = SNC-EM632R \r\nSERIAL:123\r\nbogus\r\n\x03"
    pairs = dict(sony.parse(data).pairs)
    assert (pairs["mac"], pairs["model"], pairs["serial"]) == (
        "08:00:46:12:34:56",
        "SNC-EM632R",
        "123",
    )


# -- mDNS: an A record naming another address -----------------------------------------------

RESPONDER = "198.18.0.66"  # the host that sends the answer
VICTIM = "198.18.0.10"  # the address its A record names
RESPONDER_MAC = "02:00:00:00:00:66"
INSTANCE = "AXIS M3045-V - ACCC8E000041._axis-video._tcp.local."


def answer_naming(address: str) -> bytes:
    host = "axis-accc8e000041.local."
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    unique = const._CLASS_IN | const._CLASS_UNIQUE
    out.add_answer_at_time(
        DNSPointer("_axis-video._tcp.local.", const._TYPE_PTR, const._CLASS_IN, 4500, INSTANCE),
        0,
    )
    out.add_answer_at_time(DNSService(INSTANCE, const._TYPE_SRV, unique, 120, 0, 0, 80, host), 0)
    out.add_answer_at_time(
        DNSText(INSTANCE, const._TYPE_TXT, unique, 4500, b"\x17macaddress=ACCC8E000041"), 0
    )
    raw = socket.inet_aton(address)
    out.add_answer_at_time(DNSAddress(host, const._TYPE_A, unique, 120, raw), 0)
    return out.packets()[0]


def passive_evidence(payload: bytes, src: str) -> list:  # type: ignore[type-arg]
    frame = (
        Ether(src=RESPONDER_MAC, dst="01:00:5e:00:00:fb")
        / IP(src=src, dst="224.0.0.251")
        / UDP(sport=5353, dport=5353)
        / Raw(payload)
    )
    warnings: list[str] = []
    ex = Extractor(warnings.append)
    FastPath(ex, warnings.append).feed(1, 1.0, 1, bytes(frame))
    ex.finish()
    return [e for e in ex.out if e.protocol.startswith("mdns")]


def test_an_mdns_a_record_does_not_move_evidence_to_another_address() -> None:
    evidence = passive_evidence(answer_naming(VICTIM), RESPONDER)
    assert {e.protocol for e in evidence} == {"mdns_service", "mdns_txt"}
    assert {e.ip for e in evidence} == {RESPONDER}


def test_an_mdns_a_record_naming_the_responder_itself_is_kept() -> None:
    evidence = passive_evidence(answer_naming(RESPONDER), RESPONDER)
    assert {e.ip for e in evidence} == {RESPONDER}
    (svc,) = mdns_services(answer_naming(RESPONDER), source=RESPONDER)
    assert svc.addresses == [RESPONDER]
    (svc,) = mdns_services(answer_naming(VICTIM), source=RESPONDER)
    assert svc.addresses == []
