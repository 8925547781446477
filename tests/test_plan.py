"""The replacement plan: grouping, counts per priority, locations, the price list and budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from camscan.errors import UsageError
from camscan.policy import build_plan, load_prices


def dev(ip: str | None, prio: int | None, model: str | None = "M", **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "ip": ip,
        "mac": None,
        "manufacturer": kw.get("manufacturer", "Hikvision"),
        "brand": kw.get("brand"),
        "model": model,
        "device_type": kw.get("device_type", "camera"),
        "is_surveillance": True,
        "restricted_by": [],
        "replacement": None
        if prio is None
        else {"priority": prio, "reasons": kw.get("reasons", [f"r{prio}"])},
    }
    if "location" in kw:
        d["location"] = kw["location"]
    return d


def sample() -> list[dict[str, Any]]:
    return [
        dev("10.0.0.11", 1, "DS-2CD2142F-I", reasons=["made by Hikvision", "CVE"]),
        dev("10.0.0.12", 1, "DS-2CD2142F-I", reasons=["made by Hikvision", "CVE"]),
        dev("10.0.0.13", 2, "DS-2CD2142F-I"),
        dev("10.0.1.21", 2, "IPC-HFW3441T", manufacturer="Dahua"),
        dev("10.0.1.22", 2, "NVR5216", manufacturer="Dahua", device_type="nvr"),
        dev("10.0.2.51", 3, "NHD-887MSB", manufacturer=None, brand="Swann"),
        dev("10.0.2.52", 4, "IPC322LB", manufacturer="Uniview"),
        dev("10.0.2.41", 5, "P3245-LV", manufacturer="Axis"),
        dev("10.0.2.71", None, "LaserJet", manufacturer="HP", device_type="other"),
        dev(None, 3, None, manufacturer=None, location="Lobby"),
    ]


def test_counts_groups_and_locations() -> None:
    plan = build_plan(sample())
    assert plan.counts == {1: 2, 2: 3, 3: 2, 4: 1, 5: 1}
    assert not plan.priced and plan.budget == {}
    first = plan.rows[0]
    assert (first.priority, first.manufacturer, first.model, first.count) == (
        1,
        "Hikvision",
        "DS-2CD2142F-I",
        2,
    )
    assert first.ips == ["10.0.0.11", "10.0.0.12"]
    assert first.reasons == ["made by Hikvision", "CVE"]  # distinct reasons, in order
    assert [r.priority for r in plan.rows] == sorted(r.priority for r in plan.rows)
    assert sum(r.count for r in plan.rows) == 9  # the printer has no plan entry
    locs = {loc.location: loc.counts for loc in plan.locations}
    assert locs == {
        "10.0.0.0/24": {1: 2, 2: 1},
        "10.0.1.0/24": {2: 2},
        "10.0.2.0/24": {3: 1, 4: 1, 5: 1},
        "Lobby": {3: 1},
    }
    assert plan.locations[0].location == "10.0.0.0/24"  # the most urgent first
    js = plan.to_json()
    assert js["counts"] == {"1": 2, "2": 3, "3": 2, "4": 1, "5": 1} and js["budget"] is None


def test_budget_from_prices(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("model,unit_cost\nDS-2CD2142F-I,180\ncamera,250.50\n# comment\n\nnvr,900\n")
    prices = load_prices(str(path))
    assert prices == {"ds-2cd2142f-i": 180.0, "camera": 250.5, "nvr": 900.0}
    plan = build_plan(sample(), prices)
    assert plan.priced
    # P1: 2 x 180 (model price beats the device-type price); P2: 180 + 250.5 + 900
    assert plan.budget[1] == 360.0
    assert plan.budget[2] == pytest.approx(1330.5)
    assert plan.required_total == pytest.approx(1690.5)
    # P3: the Swann camera is priced as a camera, the lobby device has no model and type camera
    assert plan.budget[3] == pytest.approx(501.0)
    assert plan.contingent_total == pytest.approx(501.0 + 250.5)
    assert plan.unpriced == {}
    assert plan.rows[0].cost == 360.0 and plan.rows[0].unit_cost == 180.0


def test_unpriced_devices_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("device_type,unit_cost\nnvr,900\n")
    plan = build_plan(sample(), load_prices(str(path)))
    assert plan.budget == {2: 900.0}
    assert plan.unpriced == {1: 2, 2: 2, 3: 2, 4: 1, 5: 1}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty price list"),
        ("name,price\na,1\n", ":1: header must be"),
        ("model,unit_cost\nDS-1,abc\n", ":2: unit_cost 'abc' is not a number"),
        ("model,unit_cost\nDS-1,10\n\nDS-2\n", ":4: expected 2 columns, got 1"),
        ("model,unit_cost\nDS-1,-5\n", ":2: unit_cost must be a finite number >= 0"),
        ("model,unit_cost\nDS-1,nan\n", ":2: unit_cost must be a finite number"),
        ("model,unit_cost\nDS-1,1\nds-1,2\n", ":3: 'ds-1' is priced twice"),
        ("model,unit_cost\n,1\n", ":2: empty model or device type"),
    ],
)
def test_bad_price_files(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(text)
    with pytest.raises(UsageError) as exc:
        load_prices(str(path))
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith(str(path))


def test_price_file_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_prices(str(tmp_path / "missing.csv"))
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"model,unit_cost\n\xe9t\xe9,1\n")
    with pytest.raises(UsageError, match="not a UTF-8 CSV"):
        load_prices(str(bad))
