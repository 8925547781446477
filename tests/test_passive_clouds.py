"""Passive mode reports the lookups of every vendor cloud the lexicon knows (not only a fixed
list), and they name the camera; other lookups stay none of camscan's business."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from camscan.cli import main
from camscan.fingerprint.engine import Engine
from camscan.fusion import fuse
from camscan.passive import passive_evidence

RESOLVER = "198.18.0.1"


def _query(mac: str, ip: str, name: str, sport: int) -> object:
    return (
        Ether(src=mac, dst="02:00:00:00:00:01")
        / IP(src=ip, dst=RESOLVER)
        / UDP(sport=sport, dport=53)
        / DNS(rd=1, qd=DNSQR(qname=name))
    )


def test_camera_clouds_of_the_lexicon_name_their_devices(tmp_path: Path) -> None:
    pcap = tmp_path / "clouds.pcap"
    wrpcap(
        str(pcap),
        [
            _query("02:00:00:00:00:21", "198.18.0.21", "rest-prod.immedia-semi.com", 40001),
            _query("02:00:00:00:00:22", "198.18.0.22", "pnp.microseven.com", 40002),
            _query("02:00:00:00:00:23", "198.18.0.23", "www.example.com", 40003),
        ],
    )
    evidence = list(passive_evidence([str(pcap)]))
    names = sorted(e.value for e in evidence if e.protocol == "dns_query")
    assert names == ["pnp.microseven.com", "rest-prod.immedia-semi.com"]
    devices = {d.ip: d for d in fuse(evidence, Engine.load())}
    blink = devices["198.18.0.21"]
    assert (blink.brand, blink.device_type, blink.is_surveillance) == ("Blink", "camera", True)
    assert devices["198.18.0.22"].manufacturer == "Microseven"
    other = devices.get("198.18.0.23")
    assert other is None or not other.is_surveillance


def test_a_cloud_in_a_users_fingerprint_folder_is_heard_in_passive_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adding a vendor touches data only: a cloud in the user's folder (its lexicon/) makes
    `camscan passive --fingerprints DIR` report and use the lookups of that cloud too."""
    folder = tmp_path / "mine"
    (folder / "lexicon").mkdir(parents=True)
    (folder / "vendors.yaml").write_text(
        'manufacturers:\n  - {name: Acme, legal_name: "Acme Corp.", country: US, parent: null}\n'
    )
    (folder / "lexicon" / "clouds.yaml").write_text(
        "clouds:\n"
        "  - domains: [acmecam-p2p.example]\n"
        "    maker: Acme\n"
        "    camera_only: true\n"
        '    source: "Acme camera manual"\n'
        "    examples: ['relay.acmecam-p2p.example']\n"
    )
    pcap = tmp_path / "acme.pcap"
    wrpcap(
        str(pcap), [_query("02:00:00:00:00:31", "198.18.0.31", "relay.acmecam-p2p.example", 40004)]
    )
    with pytest.raises(SystemExit) as exc:
        main(["passive", str(pcap), "--fingerprints", str(folder), "-o", "-", "-q"])
    assert exc.value.code in (0, None)
    doc = json.loads(capsys.readouterr().out)
    acme = next(d for d in doc["devices"] if d["ip"] == "198.18.0.31")
    assert (acme["manufacturer"], acme["device_type"], acme["is_surveillance"]) == (
        "Acme",
        "camera",
        True,
    )
    # without the folder the lookup is none of camscan's business
    assert [e for e in passive_evidence([str(pcap)]) if e.protocol == "dns_query"] == []
