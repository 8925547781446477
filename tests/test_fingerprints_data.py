"""The fingerprint data in fingerprints/: every example passes, the mission's makers and labels
are covered, decoys stay out of the surveillance class, and relabels resolve to their maker."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.fingerprint.engine import Engine, best_claim
from camscan.fingerprint.rules import default_fingerprint_dir
from camscan.fingerprint.selftest import run_selftest
from camscan.protocols import PROTOCOLS

MIN_RULES = 300
MIN_EXAMPLES = 450

REQUIRED_MANUFACTURERS = (
    "Hikvision", "Dahua", "Uniview", "Hytera", "Axis", "Hanwha Vision", "Bosch", "Vivotek",
    "Reolink", "Ubiquiti", "Mobotix", "i-PRO", "Avigilon", "Honeywell", "Foscam", "TP-Link",
    "Milesight", "Tiandy", "Geovision", "Sony", "Canon", "Pelco", "Verkada",
)  # fmt: skip

RELABELS = {
    "EZVIZ": "Hikvision",
    "HiLook": "Hikvision",
    "HiWatch": "Hikvision",
    "LTS": "Hikvision",
    "Annke": "Hikvision",
    "Amcrest": "Dahua",
    "Lorex": "Dahua",
    "Imou": "Dahua",
}

# (protocol, value) that a scan of a non-camera really shows
DECOYS = [
    ("html_title", "Welcome to nginx!"),
    ("html_title", "Apache2 Debian Default Page: It works"),
    ("html_title", "HP LaserJet Pro M404dn NPI3A2B1C"),
    ("http_server", "HP HTTP Server; HP LaserJet Pro M404dn - W1A53A; Serial Number: PHBQJ12345"),
    ("snmp_sysdescr", "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI23900011"),
    ("mdns_service", "HP LaserJet Pro M404dn [3A2B1C]._ipp._tcp.local."),
    ("rtsp_server", "Wowza Streaming Engine 4.8.20+1 build20220919153905"),
    ("rtsp_server", "GStreamer RTSP server"),
    ("rtsp_server", "Flussonic/23.04"),
    ("html_title", "Cisco TelePresence SX20"),
    ("snmp_sysdescr", "Cisco TelePresence Codec SX80 ce9.15.0"),
    ("html_title", "Polycom RealPresence Group 500"),
    ("html_title", "Synology DiskStation"),
    ("mdns_txt", "vendor=Synology\nmodel=DS220+\nsecure_admin_port=5001"),
    ("upnp_manufacturer", "AVM Berlin"),
    ("upnp_model", "FRITZ!Box 7590"),
    (
        "upnp_device",
        "friendlyName=FRITZ!Box 7590\nmanufacturer=AVM Berlin\nmodelName=FRITZ!Box 7590\n"
        "deviceType=urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    ),
    ("http_wwwauth", 'Digest realm="TiVo DVR", nonce="1", qop="auth"'),
    ("ftp_banner", "220 AXIS 5600+ FTP Network Print Server V7.10 Jan 21 2004 ready."),
    ("html_title", "Room Alert 3E"),
    ("ssh_banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"),
    ("vendor_discovery", "vendor=Ubiquiti\nmodel=USW-24-POE\nfirmware=US.bcm5334x.v6.5.59"),
]


@lru_cache(maxsize=1)
def engine() -> Engine:
    return Engine.load()


def test_selftest_has_no_failures_and_enough_rules() -> None:
    report = run_selftest(engine())
    assert [str(f) for f in report.failures] == []
    assert report.rules >= MIN_RULES
    assert report.examples >= MIN_EXAMPLES


def test_rule_ids_follow_their_file_and_carry_a_source() -> None:
    for rule in engine().rules:
        stem = Path(rule.file).stem
        assert rule.id.startswith(f"{stem}.{rule.protocol}."), rule.id
        assert rule.description.strip(), rule.id
        assert rule.source.strip(), rule.id


def test_every_rule_file_is_listed_under_fingerprints() -> None:
    names = {p.name for p in default_fingerprint_dir().glob("*.yaml")}
    assert {"vendors.yaml", "generic.yaml", "not_cameras.yaml", "hikvision.yaml"} <= names
    vendor_tables = {n for n in names if n == "vendors.yaml" or n.startswith("vendors-")}
    assert {Path(r.file).name for r in engine().rules} == names - vendor_tables


@pytest.mark.parametrize("name", REQUIRED_MANUFACTURERS)
def test_required_manufacturer_has_rules(name: str) -> None:
    eng = engine()
    assert name in eng.vendors.manufacturers
    named = [
        r
        for r in eng.rules
        if r.claims.get("manufacturer") == name or r.claims.get("brand") == name
    ]
    assert named, f"no rule names {name}"


@pytest.mark.parametrize(("brand", "maker"), sorted(RELABELS.items()))
def test_relabel_resolves_to_its_maker(brand: str, maker: str) -> None:
    vendors = engine().vendors
    canonical = vendors.canonical_brand(brand.upper())
    assert canonical == brand
    info = vendors.brands[canonical]
    assert info.manufacturer == maker
    assert 0 < info.confidence <= 1
    assert info.source.startswith("http")
    assert any(r.claims.get("brand") == brand for r in engine().rules), f"no rule names {brand}"


def test_brand_table_is_complete_and_honest() -> None:
    vendors = engine().vendors
    for info in vendors.brands.values():
        assert info.source.startswith("http"), info.brand
        assert info.relation, info.brand
        if info.manufacturer is None:
            assert info.varies_by_model, f"{info.brand}: unknown maker must say varies_by_model"
    assert vendors.brands["Swann"].varies_by_model
    assert vendors.brands["Swann"].manufacturer is None


@pytest.mark.parametrize(("protocol", "value"), DECOYS, ids=lambda x: str(x)[:40])
def test_decoys_are_not_surveillance(protocol: str, value: str) -> None:
    best = best_claim(engine().match_value(protocol, value))
    assert best is None or best.is_surveillance is not True, best
    if best is not None and best.device_type is not None:
        assert best.device_type == "other", best


@pytest.mark.parametrize(
    ("protocol", "value", "manufacturer", "brand"),
    [
        ("sadp", "DeviceDescription=CMIP7442NW-28M\nOEMInfo=LTS", "Hikvision", "LTS"),
        ("sadp", "DeviceDescription=I91BN\nOEMInfo=ANNKE", "Hikvision", "Annke"),
        ("sadp", "DeviceDescription=CS-C6N-A0-1C2WFR", "Hikvision", "EZVIZ"),
        ("dahua_discovery", "DeviceType=IP5M-T1179EW\nVendor=Amcrest", "Dahua", "Amcrest"),
        ("dahua_discovery", "DeviceClass=NVR\nDeviceType=N862A63B\nVendor=Lorex", "Dahua", "Lorex"),
        ("mac", "64:f2:fb:30:17:17", "Hikvision", "EZVIZ"),
    ],
)  # fmt: skip
def test_firmware_evidence_names_maker_and_label(
    protocol: str, value: str, manufacturer: str, brand: str
) -> None:
    claims = engine().match_value(protocol, value)
    assert any(c.manufacturer == manufacturer and c.brand == brand for c in claims), claims


def test_generic_rules_never_name_a_maker() -> None:
    for rule in engine().rules:
        if rule.file == "generic.yaml":
            assert "manufacturer" not in rule.claims and "brand" not in rule.claims, rule.id
            assert rule.confidence <= 0.85, rule.id


def test_decoy_rules_outrank_generic_surveillance_rules_on_their_examples() -> None:
    eng = engine()
    for rule in eng.rules:
        if rule.file != "not_cameras.yaml" or rule.claims.get("is_surveillance") is not False:
            continue
        for example in rule.examples:
            claims = eng.match_value(rule.protocol, example.value, example.host or None)
            generic = [c for c in claims if c.rule.startswith("generic.") and c.is_surveillance]
            for claim in generic:
                assert claim.confidence < rule.confidence, (rule.id, claim.rule)


def test_locally_administered_mac_names_nobody() -> None:
    assert engine().match_value("mac", "02:1a:7c:33:29:29") == []


def test_hikvision_webs_rule_is_not_goahead() -> None:
    claims = engine().match_value("http_server", "GoAhead-Webs", [("http_location", "/index.asp")])
    assert not any(c.manufacturer == "Hikvision" for c in claims)


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
_KV = st.lists(
    st.tuples(
        st.sampled_from(
            ["Manufacturer", "Model", "DeviceDescription", "vendor", "model", "Vendor"]
        ),
        _TEXT,
    ),
    max_size=6,
).map(lambda pairs: "\n".join(f"{k}={v}" for k, v in pairs))


@settings(max_examples=150, deadline=None)
@given(protocol=st.sampled_from(sorted(PROTOCOLS)), value=st.one_of(_TEXT, _KV))
def test_any_text_yields_only_canonical_names(protocol: str, value: str) -> None:
    eng = engine()
    for claim in eng.match_value(protocol, value):
        # Known makers in the table's spelling; a maker field naming nobody the lexicons know
        # is reported as the device wrote it (lexicon.as_written), and only then.
        if claim.rule == "lexicon.as_written":
            assert claim.manufacturer is not None and claim.manufacturer in value
            assert claim.confidence < 0.5
        else:
            assert claim.manufacturer is None or claim.manufacturer in eng.vendors.manufacturers
        # A known brand in the table's spelling; an unknown OEM label is kept as written.
        assert claim.brand is None or eng.vendors.canonical_brand(claim.brand) in (
            claim.brand,
            None,
        )
        assert 0 < claim.confidence <= 1


def test_regexes_stay_fast_on_hostile_input() -> None:
    hostile = [
        "a" * 20000,
        "AXIS " * 4000,
        'realm="' + "a" * 20000,
        "\n".join(["model=UAP"] * 3000),
    ]
    hostile.append("vendor=Ubiquiti\n" + "\n".join(["firmware=a b"] * 3000))
    for rule in engine().rules:
        patterns = [p for _, p in rule.extract]
        if rule.matcher.regex is not None:
            patterns.append(rule.matcher.regex)
        for pattern in patterns:
            for text in hostile:
                assert isinstance(pattern, re.Pattern)
                pattern.search(text)  # a catastrophic pattern would hang here (pytest-timeout)
