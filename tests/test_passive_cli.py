"""`camscan passive FILE ...`: the device list from captures, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_schema_valid
from scapy.utils import wrpcap
from test_passive_packets import AXIS_IP, DAHUA_IP, HIK_IP, camera_traffic, write_pcap

from camscan.cli import main


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


@pytest.fixture()
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "office.pcap"
    wrpcap(str(path), camera_traffic())
    return path


def test_capture_to_device_list(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, csv = tmp_path / "devices.json", tmp_path / "devices.csv"
    assert _run(["passive", str(capture), "-o", str(out), "--csv", str(csv), "-q"]) == 0
    doc = json.loads(out.read_text())
    assert_schema_valid(doc)
    assert doc["scan"]["mode"] == "passive"
    assert doc["scan"]["targets"] == [str(capture)]
    assert doc["scan"]["modules"] == ["passive"]
    devices = {d["ip"]: d for d in doc["devices"]}
    assert {HIK_IP, DAHUA_IP, AXIS_IP} <= set(devices)
    hik = devices[HIK_IP]
    assert hik["manufacturer"] == "Hikvision" and hik["mac"] == "28:57:be:00:00:21"
    assert all(e["module"] == "passive" and e["packet"] >= 1 for e in hik["evidence"])
    assert devices[DAHUA_IP]["manufacturer"] == "Dahua"
    assert devices[AXIS_IP]["manufacturer"] == "Axis"
    assert csv.read_text().startswith("ip,mac,")
    assert capsys.readouterr().out == ""


def test_json_to_stdout(capture: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(["passive", str(capture), "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["scan"]["mode"] == "passive"
    assert "packets in" in captured.err


def test_zero_packets_is_an_empty_valid_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_pcap(tmp_path / "empty.pcap", [])
    assert _run(["passive", str(path), "-o", "-", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert_schema_valid(doc)
    assert doc["devices"] == [] and doc["summary"]["total"] == 0


def test_not_a_capture_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    good = write_pcap(tmp_path / "ok.pcap", [])
    bad = tmp_path / "notes.txt"
    bad.write_text("not a capture")
    out = tmp_path / "devices.json"
    assert _run(["passive", str(good), str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"camscan: {bad}: not a pcap or pcapng capture\n"
    assert not out.exists()  # checked before reading anything


def test_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(["passive", str(tmp_path / "nope.pcap")]) == 2
    assert capsys.readouterr().err.strip().endswith("cannot read: No such file or directory")


def test_truncated_capture_warns_and_goes_on(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = capture.read_bytes()
    capture.write_bytes(data[:-20])
    out = tmp_path / "devices.json"
    assert _run(["passive", str(capture), "-o", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    assert any("truncated packet 18" in w for w in doc["scan"]["warnings"])
    assert HIK_IP in {d["ip"] for d in doc["devices"]}
    assert "truncated packet 18" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["passive"], "give capture files"),
        (["passive", "x.pcap", "--interface", "eth0", "--duration", "1"], "not both"),
        (["passive", "--interface", "eth0", "--duration", "0"], "--duration must be more"),
        (["passive", "--interface", "eth0", "--duration", "-3"], "--duration must be more"),
        (["passive", "x.pcap", "--duration", "5"], "--duration only applies"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_policy_is_applied(capture: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(["passive", str(capture), "-o", "-", "-q", "--policy", "us-ndaa-889"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scan"]["policy"] == ["us-ndaa-889"]
    hik = next(d for d in doc["devices"] if d["ip"] == HIK_IP)
    assert hik["restricted_by"] == ["us-ndaa-889"]


def test_help() -> None:
    assert _run(["passive", "--help"]) == 0


CAM_IP, CAM_MAC = "198.18.0.77", "02:00:00:00:00:77"


def _frames_from_camera(*payloads: tuple[int, int, bytes]) -> list:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    return [
        Ether(src=CAM_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=CAM_IP, dst="239.255.255.250")
        / UDP(sport=sport, dport=dport) / Raw(data)
        for sport, dport, data in payloads
    ]  # fmt: skip


def _camera_as_read(tmp_path: Path, capsys: pytest.CaptureFixture, frames: list) -> dict:
    """The frames written to a pcap, read by `camscan passive`: the camera's device (the whole
    list is checked against the schema)."""
    path = tmp_path / "camera.pcap"
    wrpcap(str(path), frames)
    assert _run(["passive", str(path), "-o", "-", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert_schema_valid(doc)
    return next(d for d in doc["devices"] if d["ip"] == CAM_IP)


def test_an_unreadable_announcement_is_a_note_on_its_sender(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;">]><Envelope>&lol2;</Envelope>'
    )
    frames = _frames_from_camera((3702, 3702, bomb), (37020, 37020, b"\x00\x01garbage"))
    cam = _camera_as_read(tmp_path, capsys, frames)
    assert any(n.startswith("unreadable WS-Discovery message (") for n in cam["notes"])
    assert any(n.startswith("unreadable SADP message (") for n in cam["notes"])
    assert all("\x00" not in n for n in cam["notes"])


def test_a_tls_server_name_of_a_vendor_cloud_counts_like_its_lookup(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A camera (RTSP port open) connecting to Hik-Connect by name, its DNS lookup not seen."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from test_passive_tls_sni import hello

    frames = [
        Ether(src=CAM_MAC, dst="02:00:00:00:00:01") / IP(src=CAM_IP, dst="198.18.0.1")
        / TCP(sport=554, dport=40000, flags="SA"),
        Ether(src=CAM_MAC, dst="02:00:00:00:00:01") / IP(src=CAM_IP, dst="203.0.113.9")
        / TCP(sport=51000, dport=443, flags="PA") / Raw(hello(b"litedev.hik-connect.com")),
    ]  # fmt: skip
    cam = _camera_as_read(tmp_path, capsys, frames)
    assert cam["manufacturer"] == "Hikvision"
    sni = next(e for e in cam["evidence"] if e["protocol"] == "dns_query")
    assert (sni["value"], sni["port"]) == ("litedev.hik-connect.com", 443)


def test_the_hikvision_sdk_greeting_overheard(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Someone connects to a camera's SDK port 8000; the 16-byte greeting names Hikvision."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    cam = Ether(src=CAM_MAC, dst="02:00:00:00:00:01") / IP(src=CAM_IP, dst="198.18.0.1")
    frames = [
        cam / TCP(sport=8000, dport=40000, flags="SA", seq=7),
        cam / TCP(sport=8000, dport=40000, flags="PA", seq=8)
        / Raw(bytes.fromhex("000000100000001e0000001e00000000")),
    ]  # fmt: skip
    dev = _camera_as_read(tmp_path, capsys, frames)
    assert dev["manufacturer"] == "Hikvision"
    assert any(e["protocol"] == "tcp_greeting" for e in dev["evidence"])
