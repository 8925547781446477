"""The lexicons (fingerprints/lexicon/): names, model families, camera words and clouds looked
for in every field that can carry them, word-bounded, with their exclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

from camscan.errors import FingerprintError
from camscan.fingerprint.engine import Engine
from camscan.fingerprint.lexicon import Lexicon, load_lexicon
from camscan.fingerprint.rules import default_fingerprint_dir, load_vendor_files, vendor_files
from camscan.identify import identify

FIELDS = default_fingerprint_dir() / "lexicon" / "fields.yaml"

TOY = """
names:
  - name: Hikvision
    makes: surveillance
    examples: [{protocol: html_title, value: 'HIKVISION web'}]
  - name: D-Link
    aliases: [DLink]
    makes: mixed
  - name: EZVIZ
    makes: surveillance
  - name: HP
    makes: other
    case_sensitive: true
    not_with: 'HPE'
  - name: Ring
    case_sensitive: true
    protocols: [dhcp_hostname]
families:
  - id: dlink.dcs
    maker: D-Link
    pattern: 'DCS-\\d{3,4}[A-Z]{0,3}\\d?'
    device_type: camera
    examples: ['DCS-935L']
  - id: dlink.dnr
    maker: D-Link
    pattern: 'DNR-\\d{3}[A-Z]{0,2}'
    device_type: nvr
    examples: ['DNR-322L']
words:
  - id: ipcam
    pattern: 'IP ?Camera|Network Camera'
    device_type: camera
    examples: ['IP Camera']
clouds:
  - domains: [easy4ipcloud.com]
    maker: Dahua
    camera_only: true
    examples: [p2p.easy4ipcloud.com]
  - domains: [tplinkcloud.com]
    maker: TP-Link
    camera_only: false
    examples: [eu-wap.tplinkcloud.com]
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Lexicon:
    path = tmp_path_factory.mktemp("lex") / "toy.yaml"
    path.write_text(TOY, encoding="utf-8")
    vendors = load_vendor_files(vendor_files([default_fingerprint_dir()]))
    return load_lexicon([FIELDS, path], vendors)


def rules(lex: Lexicon, protocol: str, value: str) -> dict[str, object]:
    return {c.rule: c for c in lex.claims(protocol, value)}


def test_model_family_in_every_field_that_can_carry_it(toy: Lexicon) -> None:
    for protocol, value in [
        ("mdns_txt", "txtvers=1\nmodel_number=DCS-935L"),
        ("dhcp_hostname", "DCS-935L"),
        ("ssdp_server", "Linux, UPnP/1.0 DCS-935L/1.0"),
        ("http_wwwauth", 'Digest realm="DCS-932LB1_BC"'),
        ("upnp_device", "friendlyName=Office\nmodelName=DCS-935L"),
    ]:
        claim = rules(toy, protocol, value).get("lexicon.family.dlink.dcs")
        assert claim is not None, (protocol, value)
        assert (claim.manufacturer, claim.device_type) == ("D-Link", "camera")
    assert rules(toy, "http_wwwauth", 'Basic realm="DNR-322L"')[
        "lexicon.family.dlink.dnr"
    ].model == ("DNR-322L")


def test_fields_outside_the_list_are_not_read(toy: Lexicon) -> None:
    # A page body may mention any company; an mDNS TXT key outside the list is read (all keys),
    # a Dahua key such as the gateway address is not.
    assert rules(toy, "http_body", "GET / -> 200\nworks with DCS-935L and Hikvision") == {}
    assert rules(toy, "dahua_discovery", "IPv4Address.DefaultGateway=DCS-935L") == {}


def test_word_bounded_and_camel_case(toy: Lexicon) -> None:
    assert "lexicon.word.ipcam" in rules(toy, "mdns_txt", "model=IC-3115WNetworkCamera")
    assert "lexicon.family.dlink.dcs" not in rules(toy, "html_title", "XDCS-935L")
    assert "lexicon.name.hikvision" not in rules(toy, "html_title", "nohikvisionhere")
    assert "lexicon.name.hikvision" in rules(toy, "dhcp_hostname", "hikvision-cam-01")


def test_exclusions_case_and_protocols(toy: Lexicon) -> None:
    assert "lexicon.name.hp" in rules(toy, "html_title", "HP LaserJet")
    assert "lexicon.name.hp" not in rules(toy, "html_title", "hp laserjet")  # case-sensitive
    assert "lexicon.name.hp" not in rules(toy, "snmp_sysdescr", "HPE Comware HP switch")
    assert "lexicon.name.ring" in rules(toy, "dhcp_hostname", "Ring")
    assert "lexicon.name.ring" not in rules(toy, "html_title", "Ring")  # not its protocol


def test_name_kinds(toy: Lexicon) -> None:
    hik = rules(toy, "html_title", "HIKVISION")
    assert hik["lexicon.name.hikvision"].manufacturer == "Hikvision"
    assert hik["lexicon.name.hikvision.type"].is_surveillance is True
    dlink = rules(toy, "html_title", "D-Link")
    assert dlink["lexicon.name.d_link"].manufacturer == "D-Link"
    assert "lexicon.name.d_link.type" not in dlink  # a mixed maker says nothing of the type
    hp = rules(toy, "html_title", "HP Printer")["lexicon.name.hp"]
    assert (hp.manufacturer, hp.is_surveillance) == ("HP", False)


def test_brand_names_resolve_through_the_brand_table(toy: Lexicon) -> None:
    claim = rules(toy, "html_title", "EZVIZ")["lexicon.name.ezviz"]
    assert (claim.manufacturer, claim.brand) == ("Hikvision", "EZVIZ")


def test_maker_field_name_is_also_the_brand(toy: Lexicon) -> None:
    found = rules(toy, "onvif_device_info", "Manufacturer=HIKVISION\nModel=X")
    assert found["lexicon.name.hikvision"].confidence > 0.7
    assert found["lexicon.brand.hikvision"].brand == "Hikvision"
    assert rules(toy, "onvif_device_info", "Manufacturer=General") == {}


def test_clouds_camera_only_and_shared(toy: Lexicon) -> None:
    cam = rules(toy, "dns_query", "p2p.easy4ipcloud.com.")
    (claim,) = cam.values()
    assert (claim.manufacturer, claim.device_type, claim.is_surveillance) == (
        "Dahua",
        "camera",
        True,
    )
    (shared,) = rules(toy, "dns_query", "eu-wap.tplinkcloud.com").values()
    assert shared.device_type is None and shared.confidence < 0.5
    assert rules(toy, "dns_query", "easy4ipcloud.com.evil.example") == {}
    assert rules(toy, "dns_query", "noteasy4ipcloud.com") == {}


def test_bad_lexicon_files_are_one_line_errors(tmp_path: Path) -> None:
    vendors = load_vendor_files(vendor_files([default_fingerprint_dir()]))
    for text, why in [
        ("names:\n  - name: NoSuchMakerXYZ\n", "not in vendors.yaml"),
        (
            "families:\n  - {id: x, maker: Axis, pattern: '(', device_type: camera, examples: [a]}\n",
            "bad regex",
        ),
        (
            "families:\n  - {id: x, maker: Axis, pattern: 'A', device_type: toaster, examples: [A]}\n",
            "device_type",
        ),
        ("other: 1\n", "needs one of the sections"),
    ]:
        path = tmp_path / "bad.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(FingerprintError, match=why):
            load_lexicon([path], vendors)


def test_a_scan_fuses_lexicon_claims_with_rules_and_the_mac_registrant() -> None:
    engine = Engine.load()
    device = identify([("mac", "bc:ad:28:12:34:56"), ("dhcp_hostname", "DS-2CD2143G0-I")], engine)
    assert device.manufacturer == "Hikvision"
    assert device.mac_vendor and "Hikvision" in device.mac_vendor
    alone = identify([("mac", "bc:ad:28:12:34:56")], engine)
    assert alone.manufacturer == "Hikvision" and alone.confidence < 0.7  # a registrant is weak


@pytest.mark.parametrize(
    ("mac", "flagged"),
    [
        ("54:2b:57:29:92:a9", True),  # Night Owl SP: sells video surveillance only
        ("bc:ad:28:12:34:56", True),  # Hikvision
        ("80:91:33:88:7c:49", False),  # AzureWave: Wi-Fi modules, inside cameras and laptops
        ("98:da:c4:71:ec:9d", False),  # TP-Link: routers and plugs as well as Tapo cameras
    ],
)
def test_a_registrant_that_sells_surveillance_only_says_surveillance_weakly(
    mac: str, flagged: bool
) -> None:
    engine = Engine.load()
    alone = identify([("mac", mac)], engine)
    assert alone.is_surveillance is flagged
    assert alone.device_type == "unknown"  # what kind of device is left to other evidence
    # any stronger sign of another kind of device outweighs it
    printer = identify([("mac", mac), ("snmp_sysdescr", "HP LaserJet Pro M404dn")], engine)
    assert printer.is_surveillance is False


@pytest.mark.parametrize(
    ("items", "maker", "brand", "dtype"),
    [
        (
            [
                ("mdns_txt", "model_number=DCS-935L"),
                ("ssdp_server", "Linux, UPnP/1.0 DCS-935L/1.0"),
            ],
            "D-Link",
            "D-Link",
            "camera",
        ),
        ([("mdns_txt", "IC-3115WNetworkCamera")], "Edimax", "Edimax", "camera"),
        (
            [("ftp_banner", "AXIS P1346 Network Camera 5.50 (2013) ready.")],
            "Axis",
            "Axis",
            "camera",
        ),
        ([("http_wwwauth", 'Basic realm="DNR-322L"')], "D-Link", "D-Link", "nvr"),
        ([("onvif_device_info", "Manufacturer=AXIS\nModel=P1346")], "Axis", "Axis", "camera"),
        (
            [("dahua_discovery", "DeviceClass=MHDX\nVendor=Intelbras\nVideoInputChannels=16")],
            "Dahua",
            "Intelbras",
            "dvr",
        ),
        (
            [("dahua_discovery", "DeviceClass=IPC\nVendor=SomeNewLabel")],
            "Dahua",
            "SomeNewLabel",
            "camera",
        ),
    ],
)
def test_identity_where_real_devices_put_it(items, maker, brand, dtype) -> None:
    device = identify(items, Engine.load())
    assert (device.manufacturer, device.brand, device.device_type) == (maker, brand, dtype)
    assert device.is_surveillance


def test_the_fuller_model_wins_a_tie() -> None:
    device = identify(
        [("onvif_device_info", "Manufacturer=H264\nModel=XM530_R80X20-PQ")], Engine.load()
    )
    assert device.model == "XM530_R80X20-PQ" and device.device_type == "camera"


def test_a_mac_stated_in_onvif_scopes_counts_as_its_registrant() -> None:
    scopes = "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/MAC/bc:ad:28:5c:b1:5d"
    device = identify([("wsd_scopes", scopes)], Engine.load())
    assert device.manufacturer == "Hikvision" and device.confidence < 0.7
    assert device.mac is None  # stated, not seen: it binds nothing
    named = identify([("mdns_service", " [bc:ad:28:80:79:fc]._http._tcp.local.")], Engine.load())
    assert named.manufacturer == "Hikvision"
    assert (
        identify([("dhcp_hostname", "cam-bcad2880aabbccdd11")], Engine.load()).manufacturer is None
    )


def test_a_product_line_alias_does_not_make_its_maker_surveillance_only() -> None:
    engine = Engine.load()
    protect = identify([("html_title", "UniFi Video")], engine)
    assert (protect.manufacturer, protect.is_surveillance) == ("Ubiquiti", True)
    router = identify([("ssdp_server", "Ubiquiti EdgeRouter")], engine)
    assert router.manufacturer == "Ubiquiti" and not router.is_surveillance


def _rule_examples_with_a_maker(engine: Engine) -> list[tuple[str, str, str, tuple]]:
    out = []
    for rule in engine.rules:
        man = rule.claims.get("manufacturer")
        if man and rule.confidence >= 0.8 and rule.protocol != "mac":
            for ex in rule.examples[:1]:
                out.append((rule.id, rule.protocol, ex.value, ex.host, man))
    return out


def test_a_generic_signal_never_outweighs_a_specific_one() -> None:
    """Every specific rule's example keeps its maker when the host also shows one generic
    signal of another maker (a name in free text, a MAC registrant, a shared cloud), or
    camera and printer words."""
    engine = Engine.load()
    generic_by_maker = {
        "Dahua": [[("mac", "3c:ef:8c:00:00:01")], [("html_title", "Dahua")]],
        "Hikvision": [[("mac", "bc:ad:28:00:00:01")], [("dhcp_hostname", "hikvision")]],
    }
    words = [("upnp_model", "Network Camera"), ("mdns_service", "Printer._ipp._tcp.local.")]
    checked = 0
    for rid, protocol, value, host, man in _rule_examples_with_a_maker(engine):
        other = "Dahua" if man != "Dahua" else "Hikvision"
        for noise in [*generic_by_maker[other], [("dns_query", "eu-wap.tplinkcloud.com")], words]:
            device = identify([(protocol, value), *host, *noise], engine)
            assert device.manufacturer == man, (rid, noise, device.manufacturer, device.notes)
            checked += 1
    assert checked > 800


def test_hostile_field_text_stays_bounded() -> None:
    """Long or repetitive fields finish (pytest-timeout would catch a runaway pattern) and a
    name far past the start of a huge field is not read."""
    lexicon = Engine.load().lexicon
    assert lexicon is not None
    hostile = ["a" * 50000, "DS-" * 20000, "AXIS " * 10000, "1-" * 30000, "Hik" + "-" * 40000]
    for text in hostile:
        for protocol in ("html_title", "mdns_txt", "wsd_scopes", "x509_subject", "dhcp_hostname"):
            lexicon.claims(protocol, text)
    assert lexicon.claims("html_title", "x " * 5000 + "Hikvision") == []


def test_no_model_family_reads_a_hex_token_as_a_model() -> None:
    """Host names carry MAC fragments and hashes (ESP_E891AB, android-3f2a..., a bare MAC):
    a family that can match a string of hex digits alone would name them cameras."""
    import random

    rng = random.Random(7)
    engine = Engine.load()
    forms = ("ESP_{:06X}", "esp-{:06x}", "android-{:016x}", "{:012x}", "{:012X}", "HS-{:06X}")
    hits = []
    for i in range(6000):
        form = forms[i % len(forms)]
        value = form.format(rng.getrandbits(64) & ((1 << (4 * (6 if "06" in form else 16))) - 1))
        device = identify([("dhcp_hostname", value)], engine)
        if device.model or device.is_surveillance:
            hits.append((value, device.model, [c.rule for c in device.claims]))
    assert hits == []


@pytest.mark.parametrize(
    "name", ["ESP_CC8130", "esp-b1055d", "WLED-CC8130", "shelly1-fb1001cc8130"]
)
def test_a_mac_fragment_in_a_host_name_is_not_a_model(name: str) -> None:
    """Vivotek CC8130, Beward B1055D and Arlo FB1001 are hex digits only: in a host name that
    ends with its MAC's bytes they are not models. Elsewhere they still are."""
    engine = Engine.load()
    device = identify([("dhcp_hostname", name)], engine)
    assert device.model is None and not device.is_surveillance
    assert identify(
        [("onvif_device_info", "Manufacturer=VIVOTEK\nModel=CC8130")], engine
    ).model == ("CC8130")
