"""Passive mode where nobody asks: every lab device announces itself once (ARP announcement,
DHCPREQUEST where it has a DHCP identity, WS-Discovery Hello, SSDP NOTIFY, mDNS), nothing
probes, and a capture of just that names the same manufacturers as the active scan.

Two captures run in the scanner namespace: `camscan passive --interface` without --duration
(Office.listen: stopped with SIGINT once the round's end marker has arrived; it reads what its
socket had queued before it ends, so nothing of the round is lost), and a scapy recorder
writing a pcap, as tcpdump would, that stops on the marker; the pcap is read afterwards."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from camscan.lab.devsim.announce import marker_payload
from tests.conftest import assert_schema_valid
from tests.test_e2e_passive import _wait_for, read_capture

pytestmark = pytest.mark.lab

RECORDER = """
import sys
from scapy.sendrecv import sniff
from scapy.utils import wrpcap
marker = sys.argv[2].encode()
pkts = sniff(iface=sys.argv[1], timeout=float(sys.argv[4]),
             started_callback=lambda: print("STARTED", flush=True),
             stop_filter=lambda p: bytes(p).endswith(marker))
wrpcap(sys.argv[3], pkts, linktype=1)
sys.exit(0 if pkts and bytes(pkts[-1]).endswith(marker) else 3)
"""
SAFETY_TIMEOUT = 120.0  # only if the marker never comes: then the test fails


def hear(office: Any) -> dict[str, Any]:
    """The devices announce themselves once: the live capture's list (Office.listen) and the
    list from a pcap an independent recorder wrote meanwhile."""
    pcap = office.workdir / f"announce-{office.announce_rounds + 1}.pcap"
    recorder = subprocess.Popen(
        office.lab.netns_argv(
            office.lab.scanner_ns,
            [
                sys.executable,
                "-c",
                RECORDER,
                office.lab.scanner_if,
                marker_payload(office.announce_rounds + 1).decode(),
                str(pcap),
                str(SAFETY_TIMEOUT),
            ],
        ),  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(recorder, recorder.stdout, b"STARTED", 30)
        live = office.listen()
        _, err = recorder.communicate(timeout=SAFETY_TIMEOUT + 30)
        assert recorder.returncode == 0, f"the recorder missed the end-of-round marker: {err!r}"
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    return {"live": live, "file": read_capture(pcap)}


@pytest.fixture(scope="module")
def heard(office: Any, office_scan: dict[str, Any]) -> dict[str, Any]:
    return {"active": office_scan, "scanner_ip": office.lab.scanner_ip, **hear(office)}


def _same_maker(passive: dict[str, Any] | None, active: dict[str, Any]) -> bool:
    """The same manufacturer; or none yet where the announcement shows only the label and the
    label's maker varies by model (a Lorex OUI: the device list says "verify")."""
    if passive is None:
        return False
    if passive["manufacturer"] == active["manufacturer"]:
        return True
    return (
        passive["manufacturer"] is None
        and passive["brand"] is not None
        and passive["brand"] == active["brand"]
        and any("verify" in note for note in passive["notes"])
    )


@pytest.mark.parametrize("kind", ["live", "file"])
def test_announcements_name_the_same_makers_as_the_scan(heard, kind):
    doc = heard[kind]
    assert_schema_valid(doc)
    assert doc["scan"]["mode"] == "passive" and not doc["scan"]["partial"]
    active = {d["ip"]: d for d in heard["active"]["devices"]}
    passive = {d["ip"]: d for d in doc["devices"]}
    # nothing made up, nobody on the wrong address; the scanner's own host may show itself
    # (its kernel still tidies up after the scan: ARP, resets)
    assert set(passive) <= set(active) | {heard["scanner_ip"]}
    differ = {
        ip: (passive[ip]["manufacturer"] if ip in passive else "not heard", d["manufacturer"])
        for ip, d in active.items()
        if not _same_maker(passive.get(ip), d)
    }
    assert differ == {}
    for ip, d in passive.items():  # announcements never make a decoy a camera
        if ip not in active or not active[ip]["is_surveillance"]:
            assert not d["is_surveillance"], ip


def test_announcements_carry_what_a_scan_would_ask_for(heard):
    """The passive list is built from the announcements themselves, not from MACs alone."""
    doc = heard["file"]
    protocols = {e["protocol"] for d in doc["devices"] for e in d["evidence"]}
    assert {
        "wsd_scopes",
        "ssdp_server",
        "mdns_txt",
        "dhcp_vendor_class",
        "dhcp_hostname",
    } <= protocols
    axis = next(d for d in doc["devices"] if d["manufacturer"] == "Axis")
    assert (axis["model"], axis["firmware"]) == ("M3106-L Mk II", "10.12.240")  # DHCP option 60
    relabel = next(d for d in doc["devices"] if d["brand"] == "LTS")  # WS-Discovery Hello scopes
    assert relabel["manufacturer"] == "Hikvision"


@pytest.fixture(scope="module")
def heard_hostile(hostile_office: Any, heard: dict[str, Any]) -> dict[str, Any]:
    return {"scanner_ip": hostile_office.lab.scanner_ip, **hear(hostile_office)}


COMPARED = ("mac", "manufacturer", "brand", "model", "firmware", "device_type", "is_surveillance")


@pytest.mark.parametrize("kind", ["live", "file"])
def test_hostile_announcements_change_nothing_else(heard, heard_hostile, kind):
    """XML bombs and garbage in Hellos and NOTIFYs, a device announcing every vendor: the good
    devices read exactly as in the plain office, and every hostile device is listed once."""
    from camscan.lab.personas import HOSTILE_PERSONAS, load_personas

    plain = {d["ip"]: d for d in heard[kind]["devices"] if d["ip"] != heard["scanner_ip"]}
    mixed = {d["ip"]: d for d in heard_hostile[kind]["devices"]}
    assert_schema_valid(heard_hostile[kind])
    for ip, d in plain.items():
        assert {k: mixed[ip][k] for k in COMPARED} == {k: d[k] for k in COMPARED}, ip
    hostile = {p.name: p.ip for p in load_personas(HOSTILE_PERSONAS)}
    assert set(hostile.values()) <= set(mixed)
    for name in ("xml-bomb", "xml-xxe", "garbage"):  # their Hellos were refused, and said so
        notes = mixed[hostile[name]]["notes"]
        assert any(n.startswith("unreadable WS-Discovery message (") for n in notes), name
    ips = [d["ip"] for d in heard_hostile[kind]["devices"]]
    assert len(ips) == len(set(ips))
