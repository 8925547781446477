"""Firmware version parsing and known-exploited-firmware matching from version strings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camscan.errors import DataError, ParseError
from camscan.model import Device
from camscan.policy.versions import in_range, parse_dahua, parse_hikvision
from camscan.policy.vulns import load_vulns, match_vulns


@pytest.fixture(scope="module")
def rules():
    return load_vulns()


def check(rules, **kw):
    kw.setdefault("device_type", "camera")
    kw.setdefault("is_surveillance", True)
    device = Device("10.0.0.1", **kw)
    vulns, notes = match_vulns(device, rules)
    return {v.id: v for v in vulns}, notes


# -- version strings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version", "build"),
    [
        ("V5.4.5 build 170124", (5, 4, 5), dt.date(2017, 1, 24)),
        ("V5.5.800build 210628", (5, 5, 800), dt.date(2021, 6, 28)),
        ("V5.5.800_210628", (5, 5, 800), dt.date(2021, 6, 28)),
        ("V3.5.38build 191215", (3, 5, 38), dt.date(2019, 12, 15)),
        ("SoftwareVersion=V5.4.0 build 160401", (5, 4, 0), dt.date(2016, 4, 1)),
        ("v5.7.3 Build 220112", (5, 7, 3), dt.date(2022, 1, 12)),
        ("V5.4.5", (5, 4, 5), None),
    ],
)
def test_parse_hikvision(text: str, version: tuple[int, ...], build: dt.date | None) -> None:
    fw = parse_hikvision(text)
    assert (fw.version, fw.build) == (version, build)


@pytest.mark.parametrize(
    ("text", "version", "build"),
    [
        ("2.800.0000000.16.R, Build Date: 2019-12-04", "2.800.0000000.16.R", dt.date(2019, 12, 4)),
        ("V2.800.0000000.16.R,build:2019-12-04", "2.800.0000000.16.R", dt.date(2019, 12, 4)),
        ("build:2024-01-16", "", dt.date(2024, 1, 16)),
        ("3.140.0000000.10.R,build:2024-01-16", "3.140.0000000.10.R", dt.date(2024, 1, 16)),
        (
            "version=2.800.0000000.16.R\nbuildDate=2019-12-04",
            "2.800.0000000.16.R",
            dt.date(2019, 12, 4),
        ),
    ],
)
def test_parse_dahua(text: str, version: str, build: dt.date) -> None:
    fw = parse_dahua(text)
    assert (fw.version_text, fw.build) == (version, build)


@pytest.mark.parametrize(
    "text", ["", "garbage", "192.168.1.10", "V5.4.0 build 161340", "build 999999", "x" * 100_000]
)
def test_unparseable_hikvision(text: str) -> None:
    with pytest.raises(ParseError):
        parse_hikvision(text)


@pytest.mark.parametrize("text", ["", "2.800.0000000.16.R", "build:2019-13-45", "Build Date: soon"])
def test_unparseable_dahua(text: str) -> None:
    with pytest.raises(ParseError):
        parse_dahua(text)


@given(st.text(max_size=300))
def test_parsers_never_raise_anything_else(text: str) -> None:
    for parse in (parse_hikvision, parse_dahua):
        try:
            fw = parse(text)
        except ParseError:
            continue
        assert fw.vendor in ("hikvision", "dahua")


@given(st.binary(max_size=200))
def test_parsers_on_decoded_bytes(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for parse in (parse_hikvision, parse_dahua):
        try:
            parse(text)
        except ParseError:
            pass


def test_in_range_without_build() -> None:
    lo, hi = parse_hikvision("V5.2.0 build 140721"), parse_hikvision("V5.4.0 build 160530")
    assert in_range(parse_hikvision("V5.3.0"), lo, hi) is True
    assert in_range(parse_hikvision("V5.4.0"), lo, hi) is None  # boundary: cannot tell
    assert in_range(parse_hikvision("V5.5.0"), lo, hi) is False


# -- Hikvision --------------------------------------------------------------------------------


def test_cve_2017_7921_and_36260_affected(rules) -> None:
    found, notes = check(
        rules, manufacturer="Hikvision", model="DS-2CD2142F-I", firmware="V5.4.0 build 160401"
    )
    assert set(found) == {"CVE-2017-7921", "CVE-2021-36260"}
    assert found["CVE-2017-7921"].status == "affected"
    assert "V5.2.0 build 140721 - V5.4.0 build 160530" in found["CVE-2017-7921"].reason
    assert "KEV" in found["CVE-2017-7921"].reason
    assert found["CVE-2021-36260"].status == "affected"  # 160401 <= 180112: every platform
    assert notes == []


def test_hikvision_ranges(rules) -> None:
    # past the 7921 range, before every 36260 fix
    found, _ = check(
        rules, manufacturer="Hikvision", model="DS-2CD2142F-I", firmware="V5.4.1 build 160601"
    )
    assert set(found) == {"CVE-2021-36260"}
    # between the earliest last-vulnerable build (180112) and the first fixes (210628): heuristic
    found, _ = check(
        rules, manufacturer="Hikvision", model="DS-2CD2143G0-I", firmware="V5.5.0 build 190101"
    )
    assert found["CVE-2021-36260"].status == "possibly-affected"
    assert "heuristic" in found["CVE-2021-36260"].reason
    # fixed
    found, notes = check(
        rules, manufacturer="Hikvision", model="DS-2CD2143G0-I", firmware="V5.5.800 build 210628"
    )
    assert found == {} and notes == []
    # DS-2CD2xx0F-I has its own upper bound (160401)
    found, _ = check(
        rules, manufacturer="Hikvision", model="DS-2CD2120F-I", firmware="V5.4.0 build 160420"
    )
    assert "CVE-2017-7921" not in found
    found, _ = check(
        rules, manufacturer="Hikvision", model="DS-2DF8236IV-AEL", firmware="V5.4.5 build 160928"
    )
    assert found["CVE-2017-7921"].status == "affected"
    # no build number, on a range boundary: possibly
    found, _ = check(rules, manufacturer="Hikvision", model="DS-2CD2142F-I", firmware="V5.4.0")
    assert found["CVE-2017-7921"].status == "possibly-affected"
    assert "CVE-2021-36260" not in found


def test_relabel_is_only_possibly_affected(rules) -> None:
    found, _ = check(
        rules,
        manufacturer="Hikvision",
        brand="LTS",
        model="CMIP3042-28",
        firmware="V5.4.0 build 160401",
    )
    assert {v.status for v in found.values()} == {"possibly-affected"}
    assert set(found) == {"CVE-2017-7921", "CVE-2021-36260"}
    assert "relabel firmware has no published range; verify" in found["CVE-2017-7921"].reason
    # even when the relabel reports the OEM model
    found, _ = check(
        rules,
        manufacturer="Hikvision",
        brand="HiWatch",
        model="DS-2CD2142F-I",
        firmware="V5.4.0 build 160401",
    )
    assert found["CVE-2017-7921"].status == "possibly-affected"


def test_builds_after_the_range_are_not_in_it_whatever_the_version(rules) -> None:
    # EZVIZ numbers its versions its own way: V5.3.6 of 2022 is not 2016's V5.3.x.
    found, _ = check(
        rules,
        manufacturer="Hikvision",
        brand="EZVIZ",
        model="CS-C6N-A0-1C2WFR",
        firmware="V5.3.6 build 220408",
    )
    assert "CVE-2017-7921" not in found


def test_firmware_unknown_is_a_note_not_a_vulnerability(rules) -> None:
    found, notes = check(rules, manufacturer="Hikvision", model="DS-2CD2142F-I")
    assert found == {}
    assert notes == [
        "firmware unknown: cannot check CVE-2017-7921",
        "firmware unknown: cannot check CVE-2021-36260",
    ]
    found, notes = check(rules, manufacturer="Hikvision", model="DS-2CD2142F-I", firmware="unknown")
    assert found == {} and all("not understood" in n for n in notes)


def test_models_outside_the_published_families(rules) -> None:
    # an NVR model that no family lists: nothing, and no note
    found, notes = check(
        rules,
        manufacturer="Hikvision",
        model="DS-7608NI-K2",
        device_type="nvr",
        firmware="V4.22.005 build 190101",
    )
    assert found == {} and notes == []
    # another maker with a Hikvision-like string: nothing
    found, notes = check(
        rules, manufacturer="Axis", model="DS-2CD2142F-I", firmware="V5.4.0 build 160401"
    )
    assert found == {} and notes == []


# -- Dahua -------------------------------------------------------------------------------------


def test_dahua_33044_and_33045(rules) -> None:
    found, _ = check(
        rules,
        manufacturer="Dahua",
        model="IPC-HFW3441T-ZS",
        firmware="V2.800.0000000.16.R,build:2019-12-04",
    )
    assert set(found) == {"CVE-2021-33044", "CVE-2021-33045"}
    assert {v.status for v in found.values()} == {"affected"}
    found, _ = check(
        rules,
        manufacturer="Dahua",
        model="DH-IPC-HDBW5442R-ASE",
        firmware="2.800.0000000.16.R, Build Date: 2020-06-01",
    )
    assert set(found) == {"CVE-2021-33044"}  # 33045's camera cut-off is May 2020
    found, _ = check(
        rules, manufacturer="Dahua", model="IPC-HFW3441T-ZS", firmware="build:2021-07-01"
    )
    assert found == {}


def test_dahua_nvr_and_doorbell(rules) -> None:
    found, _ = check(
        rules,
        manufacturer="Dahua",
        model="DHI-NVR5216-4KS2",
        device_type="nvr",
        firmware="V4.001.0000000.1.R,build:2019-11-01",
    )
    assert set(found) == {"CVE-2021-33045"}
    found, _ = check(
        rules,
        manufacturer="Dahua",
        model="VTO6521F",
        device_type="doorbell",
        firmware="build:2020-01-01",
    )
    assert set(found) == {"CVE-2021-33044"}  # door stations: 33045 only before December 2019


def test_dahua_two_series_is_not_in_the_published_lists(rules) -> None:
    """IPC-HFW2431S is a 2-series camera; the records list IPC-HX3XXX/HX5XXX/HUM7XXX only, so
    camscan does not flag it (it would be a guess beyond the published ranges)."""
    found, notes = check(
        rules,
        manufacturer="Dahua",
        model="IPC-HFW2431S-S-S2",
        firmware="V2.800.0000000.16.R,build:2019-12-04",
    )
    assert found == {} and notes == []


def test_amcrest_relabel_possibly_affected(rules) -> None:
    found, _ = check(
        rules,
        manufacturer="Dahua",
        brand="Amcrest",
        model="IP8M-2496EB",
        firmware="V2.800.0000000.16.R,build:2019-12-04",
    )
    assert set(found) == {"CVE-2021-33044", "CVE-2021-33045"}
    assert {v.status for v in found.values()} == {"possibly-affected"}


def test_dahua_firmware_without_build_date(rules) -> None:
    found, notes = check(
        rules, manufacturer="Dahua", model="IPC-HFW3441T-ZS", firmware="2.800.0000000.16.R"
    )
    assert found == {}
    why = "(firmware '2.800.0000000.16.R' not understood)"
    assert notes == [
        f"firmware unknown: cannot check CVE-2021-33044 {why}",
        f"firmware unknown: cannot check CVE-2021-33045 {why}",
    ]


# -- the data file ----------------------------------------------------------------------------


def test_bundled_data(rules) -> None:
    ids = [r.id for r in rules]
    assert ids == ["CVE-2017-7921", "CVE-2021-36260", "CVE-2021-33044", "CVE-2021-33045"]
    kev = {r.id: r.kev_added for r in rules}
    assert kev == {
        "CVE-2017-7921": "2026-03-05",
        "CVE-2021-36260": "2022-01-10",
        "CVE-2021-33044": "2024-08-21",
        "CVE-2021-33045": "2024-08-21",
    }
    assert all(r.sources for r in rules)
    assert "heuristic" in next(r for r in rules if r.id == "CVE-2021-36260").note.lower()


BAD_BASE = """vulnerabilities:
  - id: CVE-0000-0001
    title: t
    manufacturer: Hikvision
    firmware_format: hikvision
    device_types: [camera]
    sources: [https://example.invalid]
    families:
      - name: F
        model: 'DS-'
        affected: {from: "V5.2.0 build 140721", through: "V5.4.0 build 160530"}
"""


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace("'DS-'", "'DS-('"), "CVE-0000-0001 family F: bad model regex"),
        (lambda t: t.replace("V5.4.0 build 160530", "V5.1.0 build 160530"), "from <= through"),
        (lambda t: t.replace("build 140721", "build 141350"), "not a YYMMDD date"),
        (
            lambda t: t.replace("firmware_format: hikvision", "firmware_format: axis"),
            "firmware_format",
        ),
        (lambda t: t.replace("[camera]", "[phone]"), "device_types"),
        (lambda t: t.replace("affected: {from", "affected: {since"), "affected must be"),
    ],
)
def test_bad_vuln_files(tmp_path: Path, edit, needle: str) -> None:
    path = tmp_path / "vulns.yaml"
    path.write_text(BAD_BASE, encoding="utf-8")
    assert [r.id for r in load_vulns(path)] == ["CVE-0000-0001"]
    path.write_text(edit(BAD_BASE), encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_vulns(path)
    assert needle in str(exc.value) and str(exc.value).startswith("vulns.yaml: ")
