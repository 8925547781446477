"""The capture reader: pcap in both byte orders and resolutions, pcapng (several interfaces,
link types per interface, simple packet blocks), and every kind of damage."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapNgWriter, wrpcap
from test_passive_packets import (
    SADP_REPLY,
    camera_traffic,
    pcapng_epb,
    pcapng_idb,
    pcapng_shb,
    pcapng_spb,
    write_pcap,
)

from camscan.errors import CaptureError
from camscan.passive import PassiveStats, check_captures, passive_evidence
from camscan.passive.pcapread import read_records

HIK = "198.18.0.21"


def _sadp_frame() -> bytes:
    return bytes(
        Ether(src="28:57:be:00:00:21", dst="01:00:5e:7f:ff:fa")
        / IP(src=HIK, dst="239.255.255.250") / UDP(sport=37020, dport=37020) / Raw(SADP_REPLY)
    )  # fmt: skip


def _records(path: Path) -> tuple[list, list[str]]:
    warnings: list[str] = []
    return list(read_records(str(path), warnings.append)), warnings


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, endian: str, nano: bool) -> None:
    frame = _sadp_frame()
    path = write_pcap(
        tmp_path / "c.pcap",
        [(1_700_000_000.25, frame), (1_700_000_001.5, b"x" * 20)],
        endian=endian,
        nano=nano,
    )
    recs, warnings = _records(path)
    assert warnings == []
    assert [(n, lt, data) for n, _, lt, data, _ in recs] == [(1, 1, frame), (2, 1, b"x" * 20)]
    assert recs[0][1] == pytest.approx(1_700_000_000.25)
    assert recs[1][1] == pytest.approx(1_700_000_001.5)
    ev = list(passive_evidence([str(path)]))
    assert [e.protocol for e in ev if e.protocol != "mac"] == ["sadp"]


def test_scapy_written_pcap_and_pcapng_read_the_same(tmp_path: Path) -> None:
    pkts = camera_traffic()
    wrpcap(str(tmp_path / "a.pcap"), pkts)
    with PcapNgWriter(str(tmp_path / "a.pcapng")) as w:
        for p in pkts:
            w.write(p)
    a, wa = _records(tmp_path / "a.pcap")
    b, wb = _records(tmp_path / "a.pcapng")
    assert wa == wb == []
    assert [(r[0], r[2], r[3]) for r in a] == [(r[0], r[2], r[3]) for r in b]
    assert len(a) == len(pkts)


def test_pcapng_two_interfaces_with_different_link_types(tmp_path: Path) -> None:
    eth = _sadp_frame()
    raw_ip = eth[14:]  # the same datagram on a RAW (link type 101) interface
    blob = (
        pcapng_shb() + pcapng_idb(1) + pcapng_idb(101, tsresol=9)
        + pcapng_epb(0, 1_700_000_000_000_000, eth)
        + pcapng_epb(1, 1_700_000_002_000_000_000, raw_ip)
    )  # fmt: skip
    path = tmp_path / "two.pcapng"
    path.write_bytes(blob)
    recs, warnings = _records(path)
    assert warnings == []
    assert [(n, lt) for n, _, lt, _, _ in recs] == [(1, 1), (2, 101)]
    assert recs[0][1] == pytest.approx(1_700_000_000.0)
    assert recs[1][1] == pytest.approx(1_700_000_002.0)
    ev = [e for e in passive_evidence([str(path)]) if e.protocol == "sadp"]
    assert [e.packet for e in ev] == [1]  # the second copy is the same evidence


def test_pcapng_big_endian_section_and_simple_packet_blocks(tmp_path: Path) -> None:
    frame = _sadp_frame()
    blob = pcapng_shb(">") + pcapng_idb(1, endian=">") + pcapng_spb(frame, ">")
    blob += pcapng_shb() + pcapng_idb(113) + pcapng_epb(0, 5, b"\x00" * 16)  # a new section
    path = tmp_path / "be.pcapng"
    path.write_bytes(blob)
    recs, warnings = _records(path)
    assert warnings == []
    assert [(n, lt, d) for n, _, lt, d, _ in recs] == [(1, 1, frame), (2, 113, b"\x00" * 16)]


def test_pcapng_packet_of_an_undeclared_interface_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "bad.pcapng"
    path.write_bytes(
        pcapng_shb() + pcapng_idb(1) + pcapng_epb(3, 0, b"x" * 20) + pcapng_epb(0, 0, b"y" * 20)
    )
    recs, warnings = _records(path)
    assert [(n, d) for n, _, _, d, _ in recs] == [(2, b"y" * 20)]
    assert len(warnings) == 1 and "packet 1" in warnings[0]


def test_truncated_capture_warns_with_the_packet_number_and_keeps_what_was_read(
    tmp_path: Path,
) -> None:
    frame = _sadp_frame()
    path = write_pcap(tmp_path / "t.pcap", [(1.0, frame), (2.0, frame), (3.0, frame)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    stats = PassiveStats()
    ev = list(passive_evidence([str(path)], stats=stats))
    assert [e.packet for e in ev if e.protocol == "sadp"] == [1]
    assert stats.packets == 2 and stats.truncated
    assert stats.warnings == [f"{path}: truncated packet 3; stopped"]


def test_truncated_pcapng(tmp_path: Path) -> None:
    frame = _sadp_frame()
    blob = pcapng_shb() + pcapng_idb(1) + pcapng_epb(0, 0, frame) + pcapng_epb(0, 1, frame)
    path = tmp_path / "t.pcapng"
    path.write_bytes(blob[:-30])
    recs, warnings = _records(path)
    assert [n for n, *_ in recs] == [1]
    assert warnings == [f"{path}: truncated block at packet 2; stopped"]


def test_corrupt_record_length_stops_with_a_warning(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "c.pcap", [(1.0, b"a" * 30)])
    path.write_bytes(path.read_bytes() + struct.pack("<IIII", 2, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"zz")
    recs, warnings = _records(path)
    assert len(recs) == 1
    assert warnings == [f"{path}: corrupt record length 2147483647 at packet 2; stopped"]


def test_snaplen_cut_packets_are_read_as_far_as_they_go(tmp_path: Path) -> None:
    frames = [(float(i), bytes(p)) for i, p in enumerate(camera_traffic())]
    for snaplen in (14, 34, 42, 60, 96, 200):
        path = write_pcap(tmp_path / f"s{snaplen}.pcap", frames, snaplen=snaplen)
        stats = PassiveStats()
        list(passive_evidence([str(path)], stats=stats))
        assert stats.packets == len(frames)
        assert not [w for w in stats.warnings if "parser failed" in w]
    # 96 bytes keep the SYN/ACK and the ARP whole
    ev = list(passive_evidence([str(tmp_path / "s96.pcap")]))
    assert {e.protocol for e in ev} >= {"mac", "open_port"}


def test_not_a_capture_is_one_line_capture_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a capture\n")
    with pytest.raises(CaptureError) as exc:
        list(passive_evidence([str(path)]))
    assert str(exc.value) == f"{path}: not a pcap or pcapng capture"
    with pytest.raises(CaptureError):
        check_captures([str(path)])


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read: No such file or directory"):
        check_captures([str(tmp_path / "nope.pcap")])
    with pytest.raises(CaptureError, match="cannot read"):
        check_captures([str(tmp_path)])  # a directory


def test_header_only_and_empty_files(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "z.pcap", [])
    stats = PassiveStats()
    assert list(passive_evidence([str(path)], stats=stats)) == []
    assert stats.packets == 0 and stats.warnings == []
    (tmp_path / "empty.pcap").write_bytes(b"")
    with pytest.raises(CaptureError, match="not a pcap"):
        list(passive_evidence([str(tmp_path / "empty.pcap")]))
    (tmp_path / "half.pcap").write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    with pytest.raises(CaptureError, match="truncated pcap header"):
        list(passive_evidence([str(tmp_path / "half.pcap")]))


def test_unknown_link_type_warns_once_and_skips(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "u.pcap", [(1.0, b"\x01" * 60)] * 5, linktype=147)
    stats = PassiveStats()
    assert list(passive_evidence([str(path)], stats=stats)) == []
    assert stats.warnings == [f"{path}: link type 147 not supported (first at packet 1); skipped"]


def test_large_packets_across_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import camscan.passive.pcapread as pcapread

    monkeypatch.setattr(pcapread, "CHUNK", 64)  # every record straddles a chunk boundary
    frames = [(float(i), bytes([i]) * (50 + 37 * i)) for i in range(40)]
    path = write_pcap(tmp_path / "big.pcap", frames)
    recs, warnings = _records(path)
    assert warnings == [] and [r[3] for r in recs] == [f for _, f in frames]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    head=st.sampled_from(
        [
            b"",
            b"\xd4\xc3\xb2\xa1",
            b"\xa1\xb2\xc3\xd4",
            b"\x4d\x3c\xb2\xa1",
            b"\x0a\x0d\x0d\x0a",
            b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a",
        ]
    ),
    body=st.binary(max_size=600),
)
def test_random_bytes_are_a_capture_error_or_a_clean_stop(
    tmp_path: Path, head: bytes, body: bytes
) -> None:
    path = tmp_path / "r.bin"
    path.write_bytes(head + body)
    stats = PassiveStats()
    try:
        for ev in passive_evidence([str(path)], stats=stats):
            assert ev.module == "passive"
    except CaptureError as exc:
        assert "\n" not in str(exc)
    assert not [w for w in stats.warnings if "parser failed" in w]


def test_check_captures_reads_the_whole_file_header(tmp_path: Path) -> None:
    good = write_pcap(tmp_path / "ok.pcap", [(1.0, b"x" * 30)])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(good.read_bytes()[:10])
    check_captures([str(good)])
    with pytest.raises(CaptureError, match="truncated pcap header"):
        check_captures([str(good), str(cut)])
