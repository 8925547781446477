"""Two readings of real discovery answers beyond the lexicons' entries: a maker field naming a
maker nobody listed is taken as written (legal form left out, placeholders refused), and a
HomeKit bridge's re-announced cameras are not read as the bridge itself. The values are
from real devices (tests/realworld/cameras_round3_*.jsonl names their sources)."""

from __future__ import annotations

import pytest

from camscan.fingerprint.engine import Engine
from camscan.fingerprint.lexicon import maker_as_written
from camscan.identify import identify


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("HeroSpeed", "HeroSpeed"),
        ("Yamaha Corporation", "Yamaha"),
        ("LG Electronics.", "LG"),
        ("Shenzhen Foo Technology Co., Ltd.", "Shenzhen Foo"),
        ("IPCAM", None),  # placeholders name nobody
        ("Manufacturer", None),
        ("H.264", None),
        ("123456", None),
        ("http://www.example.com/", None),
        ("This field was left as the SDK's sample text by the firmware", None),
    ],
)
def test_a_maker_field_as_written(value: str, name: str | None, engine: Engine) -> None:
    assert engine.lexicon is not None
    assert maker_as_written(value, engine.lexicon.fields.placeholders) == name


def test_an_unlisted_maker_in_a_wsd_manufacturer_scope(engine: Engine) -> None:
    scopes = (
        "onvif://www.onvif.org/type/NetworkVideoTransmitter onvif://www.onvif.org/type/video_encoder "
        "onvif://www.onvif.org/hardware/IPCamera onvif://www.onvif.org/name/IPCamera "
        "onvif://www.onvif.org/manufacturer/HeroSpeed"
    )
    device = identify([("wsd_scopes", scopes)], engine)
    assert (device.manufacturer, device.device_type, device.is_surveillance) == (
        "HeroSpeed",
        "camera",
        True,
    )


def test_a_listed_maker_beats_the_written_one(engine: Engine) -> None:
    # An OEM label in the ONVIF Manufacturer field; the Hikvision web server behind it wins.
    items = [
        ("onvif_device_info", "Manufacturer=Acme Vision\nModel=AV-500"),
        ("http_wwwauth", 'Digest realm="DS-2CD2043G0-I"'),
        ("http_server", "App-webs/"),
        ("html_title", "DS-2CD2043G0-I"),
    ]
    device = identify(items, engine)
    assert device.manufacturer == "Hikvision"
    assert not any("conflict" in n for n in device.notes)


def test_placeholder_onvif_manufacturer_names_nobody(engine: Engine) -> None:
    device = identify([("onvif_device_info", "Manufacturer=IPCAM\nModel=IPC-5MP-B20")], engine)
    assert device.manufacturer is None
    assert device.is_surveillance


HOMEBRIDGE = [  # home-assistant/core#54531: one Homebridge host, two bridged Amcrest cameras
    ("mdns_service", "Mutfak Kamera 4291._hap._tcp.local."),
    ("mdns_txt", "c#=2\nff=0\nmd=IP4M-1051W\npv=1.1\ns#=1\nsf=0\nci=1"),
    ("mdns_service", "Salon Kamera 5AA5._hap._tcp.local."),
    ("mdns_txt", "c#=2\nff=0\nmd=IP4M-1051B\npv=1.1\ns#=1\nsf=0\nci=1"),
    ("mdns_service", "Homebridge HA 9CBF._hap._tcp.local."),
]


def test_a_homekit_bridge_is_not_the_cameras_it_announces(engine: Engine) -> None:
    device = identify(HOMEBRIDGE, engine)
    assert device.manufacturer is None
    assert not device.is_surveillance
    assert not any(c.manufacturer == "Dahua" for c in device.claims)
    assert any("HomeKit bridge" in n for n in device.notes)


@pytest.mark.parametrize("keep", [1, 3])
def test_a_bridge_is_told_by_its_name_or_by_several_hap_services(keep: int, engine: Engine) -> None:
    # Only the first camera and the bridge's own service; or both cameras without the bridge.
    items = HOMEBRIDGE[:2] + HOMEBRIDGE[4:] if keep == 1 else HOMEBRIDGE[:4]
    device = identify(items, engine)
    assert not device.is_surveillance


def test_a_homekit_camera_of_its_own_is_still_read(engine: Engine) -> None:
    # One _hap service, category 17 (IP camera): the accessory is the host.
    items = [
        ("mdns_service", "Front Door 1A2B._hap._tcp.local."),
        ("mdns_txt", "c#=3\nff=2\nmd=IP4M-1051W\npv=1.1\ns#=1\nsf=0\nci=17"),
    ]
    device = identify(items, engine)
    assert device.is_surveillance
    assert device.manufacturer == "Dahua" and device.brand == "Amcrest"


@pytest.mark.parametrize(
    ("hostname", "maker"),
    [
        ("LAXCAMDAHUA", "Dahua"),  # home-assistant/core#54531: a user's name for a Dahua camera
        ("frontdoorreolink", "Reolink"),
        ("hikvisioncam1", "Hikvision"),
        ("dahua2", "Dahua"),
    ],
)
def test_a_surveillance_makers_name_run_into_a_host_name(
    hostname: str, maker: str, engine: Engine
) -> None:
    device = identify([("dhcp_hostname", hostname)], engine)
    assert (device.manufacturer, device.is_surveillance) == (maker, True)


@pytest.mark.parametrize(
    "hostname",
    # A short name glued to ordinary letters, names whose entries opt out (they begin or end
    # ordinary words), the first word of a longer alias, and a mixed maker's name.
    ["escambia-pc", "garageswann", "videorecorder", "timeshare", "illustrator-mac",
     "nightlight", "samsungtv", "sonyxperia"],
)  # fmt: skip
def test_glued_names_that_are_not_cameras(hostname: str, engine: Engine) -> None:
    device = identify([("dhcp_hostname", hostname)], engine)
    assert not device.is_surveillance
    assert device.manufacturer not in ("Swann", "Videor", "Zmodo", "Night Owl", "Escam")
