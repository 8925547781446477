"""The inventory on real SQLite files: joining devices across scans and sites, the same scan
added twice, reports, export, refusal of files it cannot read, and the CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from camscan.inventory import add_document, open_inventory
from camscan.inventory.db import APPLICATION_ID, SCHEMA_VERSION, InventoryError
from camscan.inventory.export import export_document
from camscan.inventory.render import RENDERERS
from camscan.inventory.report import build_report, parse_when
from camscan.inventory.synth import fleet
from camscan.model import Device, Evidence, ScanInfo, ScanResult
from camscan.policy import apply_policy, default_vendors, load_regimes, select_regimes
from camscan.schema import schema_errors

JAN, APR, JUL = 1_735_689_600.0, 1_743_465_600.0, 1_751_328_000.0  # 2025-01/04/07-01


def dev(ip: str, mac: str | None, maker: str | None = "Hikvision", **kw: Any) -> Device:
    d = Device(ip, mac=mac, manufacturer=maker, brand=maker, device_type="camera",
               is_surveillance=maker is not None, **kw)  # fmt: skip
    if mac:
        d.evidence = [(Evidence("arp", "mac", mac, ip=ip, mac=mac, observed_at=JAN), None)]
    return d


def doc(devices: list[Device], when: float, mode: str = "active", **kw: Any) -> dict[str, Any]:
    apply_policy(devices, select_regimes(None, load_regimes()), default_vendors())
    info = ScanInfo(mode, ["10.0.0.0/24"], ["arp"], ["ca-2025"], when, when + 10, **kw)
    return ScanResult(info, devices).to_json()


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camscan", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)  # fmt: skip


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = open_inventory(tmp_path / "inv.db")
    yield c
    c.close()


def count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def test_join_by_mac_serial_and_address(conn: sqlite3.Connection) -> None:
    first = doc([dev("10.0.0.1", "44:19:b6:00:00:01"), dev("10.0.0.2", None, serial="SN-2"),
                 dev("10.0.0.3", None, "Axis")], JAN)  # fmt: skip
    add_document(conn, first, "hq")
    # new address, same MAC; same serial at a new address; same address, no MAC
    second = doc([dev("10.0.0.9", "44:19:b6:00:00:01"), dev("10.0.0.7", None, serial="sn-2 "),
                  dev("10.0.0.3", None, "Axis")], APR)  # fmt: skip
    res = add_document(conn, second, "hq")
    assert res.new_devices == 0
    assert res.matched == {"mac": 1, "serial": 1, "address": 1}
    assert count(conn, "devices") == 3
    ip, first_seen, last_seen = conn.execute(
        "SELECT ip, first_seen, last_seen FROM devices WHERE mac = '44:19:b6:00:00:01'"
    ).fetchone()
    assert (ip, first_seen[:10], last_seen[:10]) == ("10.0.0.9", "2025-01-01", "2025-04-01")


def test_weaker_key_never_joins_what_a_stronger_one_tells_apart(conn: sqlite3.Connection) -> None:
    add_document(conn, doc([dev("10.0.0.1", "44:19:b6:00:00:01")], JAN), "hq")
    # same address, another MAC: a replacement, not the same device
    res = add_document(conn, doc([dev("10.0.0.1", "ac:cc:8e:00:00:01", "Axis")], APR), "hq")
    assert res.new_devices == 1
    # same address at another site: another device
    res = add_document(conn, doc([dev("10.0.0.1", None, "Axis")], APR + 60), "branch")
    assert res.new_devices == 1
    # same address, no MAC, another maker: not joined
    res = add_document(conn, doc([dev("10.0.0.1", None, "Dahua")], JUL), "hq")
    assert res.new_devices == 1
    assert count(conn, "devices") == 4


def test_active_and_passive_runs_are_one_device(conn: sqlite3.Connection) -> None:
    add_document(
        conn, doc([dev("10.0.0.5", "44:19:b6:00:00:05", model="DS-2CD2143G2-I")], JAN), "hq"
    )
    # a capture that heard only ARP: no maker; it does not erase the verdict
    passive = doc([dev("10.0.0.5", "44:19:b6:00:00:05", None)], APR, mode="passive")
    res = add_document(conn, passive, "hq")
    assert (res.new_devices, res.matched) == (0, {"mac": 1})
    row = conn.execute("SELECT manufacturer, model, restricted, last_seen FROM devices").fetchone()
    assert row[:3] == ("Hikvision", "DS-2CD2143G2-I", 1) and row[3].startswith("2025-04-01")
    assert count(conn, "devices") == 1 and count(conn, "sightings") == 2
    sites = conn.execute("SELECT site, scans FROM device_sites").fetchall()
    assert sites == [("hq", 2)]


def test_history_of_firmware_and_restriction(conn: sqlite3.Connection) -> None:
    mac = "44:19:b6:00:00:07"
    add_document(conn, doc([dev("10.0.0.7", mac, firmware="V5.4.0")], JAN), "hq")
    add_document(conn, doc([dev("10.0.0.7", mac, firmware="V5.4.0")], APR), "hq")
    add_document(conn, doc([dev("10.0.0.7", mac, firmware="V5.7.3")], JUL), "hq")
    rows = conn.execute(
        "SELECT field, old_value, new_value, changed_at FROM device_history "
        "WHERE field IN ('firmware', 'manufacturer') ORDER BY changed_at, field"
    ).fetchall()
    assert [(f, o, n) for f, o, n, _ in rows] == [
        ("firmware", None, "V5.4.0"),
        ("manufacturer", None, "Hikvision"),
        ("firmware", "V5.4.0", "V5.7.3"),
    ]
    restricted = conn.execute(
        "SELECT new_value FROM device_history WHERE field = 'restricted_by'"
    ).fetchall()
    assert len(restricted) == 1 and "us-ndaa-889" in restricted[0][0]


def test_the_same_scan_twice_is_counted_once(conn: sqlite3.Connection, tmp_path: Path) -> None:
    d = doc([dev("10.0.0.1", "44:19:b6:00:00:01")], JAN)
    add_document(conn, d, "hq")
    again = add_document(conn, json.loads(json.dumps(d, indent=4)), "hq")
    assert again.duplicate_of is not None
    # the same run written again (finished later, another warning): same started_at + targets
    d2 = json.loads(json.dumps(d))
    d2["scan"]["warnings"] = ["rewritten"]
    assert add_document(conn, d2, "hq").duplicate_of is not None
    assert count(conn, "scans") == 1 and count(conn, "sightings") == 1
    with pytest.raises(InventoryError, match="already in the inventory as scan 1 of site 'hq'"):
        add_document(conn, d, "branch")


def test_report_restricted_replaced_new_stale(conn: sqlite3.Connection) -> None:
    h1, h2, ax = "44:19:b6:00:00:01", "44:19:b6:00:00:02", "ac:cc:8e:00:00:03"
    add_document(conn, doc([dev("10.0.0.1", h1), dev("10.0.0.2", h2),
                            dev("10.0.0.3", ax, "Axis")], JAN), "hq")  # fmt: skip
    add_document(conn, doc([dev("10.0.0.1", h1), dev("10.0.0.2", "ac:cc:8e:00:00:04", "Axis"),
                            dev("10.0.0.3", ax, "Axis"),
                            dev("10.0.0.4", "3c:ef:8c:00:00:05", "Dahua")], APR), "hq")  # fmt: skip
    add_document(conn, doc([dev("10.9.0.1", "44:19:b6:00:00:09")], JAN + 3600), "branch")
    rep = build_report(conn, as_of=parse_when("2025-05-01", "--as-of", True), stale_days=90)
    assert [d.mac for d in rep.restricted_now] == ["44:19:b6:00:00:09", h1, "3c:ef:8c:00:00:05"]
    assert [(d.mac, d.last_seen[:10]) for d in rep.replaced] == [(h2, "2025-01-01")]
    assert [d.mac for d in rep.new_restricted] == ["3c:ef:8c:00:00:05"]  # branch: baseline
    assert [d.mac for d in rep.stale] == ["44:19:b6:00:00:09", h2]
    hq = next(s for s in rep.sites if s.name == "hq")
    assert (hq.devices, hq.restricted_now, hq.replaced, hq.new_restricted) == (4, 2, 1, 1)
    assert [(p.day, p.total) for p in rep.series] == [("2025-01-01", 3), ("2025-04-01", 3)]
    assert rep.series[-1].by_site == {"branch": 1, "hq": 2}
    # --since: new = first seen since; replaced = gone, last seen since
    rep = build_report(conn, since=parse_when("2025-02-01", "--since"), site="hq",
                       as_of=parse_when("2025-05-01", "--as-of", True))  # fmt: skip
    assert [d.mac for d in rep.new_restricted] == ["3c:ef:8c:00:00:05"]
    assert rep.replaced == [] and {d.site for d in rep.restricted_now} == {"hq"}
    # as of March: the second quarter had not happened
    rep = build_report(conn, as_of=parse_when("2025-03-01", "--as-of", True))
    assert rep.overall.restricted_now == 3 and rep.replaced == [] and rep.new_restricted == []
    for fmt, render in RENDERERS.items():
        text = render(rep)
        assert "44:19:b6:00:00:02" in text, fmt


def test_passive_or_partial_runs_do_not_prove_a_device_gone(conn: sqlite3.Connection) -> None:
    a, b = "44:19:b6:00:00:01", "44:19:b6:00:00:02"
    add_document(conn, doc([dev("10.0.0.1", a), dev("10.0.0.2", b)], JAN), "hq")
    add_document(conn, doc([dev("10.0.0.1", a)], APR, mode="passive"), "hq")
    add_document(conn, doc([dev("10.0.0.1", a)], APR + 3600, partial=True), "hq")
    rep = build_report(conn)
    assert rep.replaced == [] and len(rep.restricted_now) == 2


def test_export_is_a_valid_device_list(conn: sqlite3.Connection) -> None:
    for site, docs in fleet(2, 2, 30, seed=3):
        for d in docs:
            add_document(conn, d, site)
    out = export_document(conn)
    assert schema_errors(out) == []
    rep = build_report(conn)
    assert len(out["devices"]) == rep.overall.devices
    assert out["summary"]["restricted"] == rep.overall.restricted_now
    assert all(any(n.startswith("inventory: device") for n in d["notes"]) for d in out["devices"])
    everything = export_document(conn, include_gone=True)
    assert schema_errors(everything) == []
    assert len(everything["devices"]) == count(conn, "devices")
    one = export_document(conn, site="site-001")
    assert 0 < len(one["devices"]) < len(out["devices"])


# -- files it cannot read -----------------------------------------------------------------
def test_refuses_newer_foreign_and_non_sqlite_files(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    open_inventory(newer).close()
    with closing(sqlite3.connect(newer)) as c:
        c.execute("PRAGMA user_version = 99")
    foreign = tmp_path / "foreign.db"
    with closing(sqlite3.connect(foreign)) as c:
        c.execute("CREATE TABLE t (x)")
        c.commit()
    text = tmp_path / "notes.db"
    text.write_text("hello\n" * 10)
    for path, why in ((newer, "written by a newer camscan"), (foreign, "another program"),
                      (text, "not an SQLite file")):  # fmt: skip
        before = path.read_bytes()
        done = cli("inventory", "report", "--db", str(path))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0]
        assert path.read_bytes() == before
    done = cli("inventory", "report", "--db", str(tmp_path / "missing.db"))
    assert done.returncode == 2 and "no inventory here" in done.stderr
    assert not (tmp_path / "missing.db").exists()


def test_an_older_layout_is_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file at version 1 opened by a camscan whose layout has a step 1 -> 2: migrated, in
    one transaction, its data kept."""
    path = tmp_path / "old.db"
    c = open_inventory(path)
    add_document(c, doc([dev("10.0.0.1", "44:19:b6:00:00:01")], JAN), "hq")
    c.close()
    path2 = tmp_path / "old2.db"
    open_inventory(path2).close()
    from camscan.inventory import db as dbmod

    step = "ALTER TABLE devices ADD COLUMN location TEXT;\nCREATE INDEX devices_loc ON devices(location);"
    monkeypatch.setattr(dbmod, "MIGRATIONS", [*dbmod.MIGRATIONS, step])
    monkeypatch.setattr(dbmod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    c = dbmod.open_inventory(path)
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert c.execute("SELECT mac, location FROM devices").fetchall() == [
        ("44:19:b6:00:00:01", None)
    ]
    assert c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    c.close()
    # a broken step leaves the file at its old version
    monkeypatch.setattr(dbmod, "MIGRATIONS", [*dbmod.MIGRATIONS[:1], "ALTER TABLE nope ADD x;"])
    with pytest.raises(InventoryError):
        dbmod.open_inventory(path2)
    with closing(sqlite3.connect(path2)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# -- the CLI ----------------------------------------------------------------------------------
def test_cli_add_report_export_and_gate(tmp_path: Path) -> None:
    h1 = "44:19:b6:00:00:01"
    q1 = tmp_path / "q1.json"
    q2 = tmp_path / "q2.json"
    q1.write_text(
        json.dumps(doc([dev("10.0.0.1", h1), dev("10.0.0.2", "ac:cc:8e:00:00:02", "Axis")], JAN))
    )
    q2.write_text(json.dumps(doc([dev("10.0.0.1", h1), dev("10.0.0.2", "ac:cc:8e:00:00:02", "Axis"),
                                  dev("10.0.0.3", "3c:ef:8c:00:00:03", "Dahua")], APR)))  # fmt: skip
    db = str(tmp_path / "inv.db")
    done = cli("inventory", "add", str(q1), "--site", "hq", "--db", db)
    assert done.returncode == 0, done.stderr
    assert "2 devices, 2 new" in done.stderr
    gate = cli("inventory", "report", "--db", db, "--fail-on-new-restricted", "-f", "json")
    assert gate.returncode == 0, gate.stderr
    done = cli("inventory", "add", str(q2), str(q1), "--site", "hq", "--db", db)
    assert done.returncode == 0 and "nothing added" in done.stderr
    gate = cli("inventory", "report", "--db", db, "--fail-on-new-restricted", "-f", "json")
    assert gate.returncode == 1
    report = json.loads(gate.stdout)
    assert [d["mac"] for d in report["new_restricted"]] == ["3c:ef:8c:00:00:03"]
    for fmt in ("table", "md", "csv", "html"):
        out = tmp_path / f"report.{fmt}"
        done = cli("inventory", "report", "--db", db, "-f", fmt, "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert "3c:ef:8c:00:00:03" in out.read_text()
    exported = tmp_path / "all.json"
    done = cli("inventory", "export", "--db", db, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    report_of_export = cli("report", str(exported), "-f", "md")
    assert report_of_export.returncode == 0 and "Dahua" in report_of_export.stdout
    bad = cli("inventory", "report", "--db", db, "--since", "last tuesday")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    bad = cli("inventory", "report", "--db", db, "--site", "mars")
    assert bad.returncode == 2 and "no site 'mars'" in bad.stderr


def test_hostile_strings_are_inert_in_every_format(conn: sqlite3.Connection) -> None:
    evil = "<script>alert(1)</script>\x1b[31m|=cmd"
    add_document(conn, doc([dev("10.0.0.1", "44:19:b6:00:00:01", model=evil)], JAN), "<b>hq</b>")
    rep = build_report(conn)
    html = RENDERERS["html"](rep)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "\x1b" not in RENDERERS["table"](rep) and "\x1b" not in RENDERERS["md"](rep)
    assert "\x1b" not in RENDERERS["csv"](rep)


def test_passive_adds_its_result_with_db_and_site(tmp_path: Path) -> None:
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import wrpcap

    mac = "44:19:b6:21:12:12"
    pkt = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=mac, psrc="198.18.0.12", pdst="198.18.0.12"
    )
    pkt.time = JAN
    cap = tmp_path / "c.pcap"
    wrpcap(str(cap), [pkt])
    db = tmp_path / "inv.db"
    out = tmp_path / "d.json"
    done = cli("passive", str(cap), "-o", str(out), "-q", "--db", str(db), "--site", "hq")
    assert done.returncode == 0, done.stderr
    assert "site 'hq'" in done.stderr
    with closing(open_inventory(db)) as c:
        assert c.execute("SELECT mac FROM devices").fetchall() == [(mac,)]
    # bad inventory options fail before anything is read
    bad = cli("passive", str(cap), "-q", "--db", str(tmp_path / "nodir" / "x.db"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    bad = cli("passive", str(cap), "-q", "--site", " ")
    assert bad.returncode == 2 and "site needs a name" in bad.stderr
