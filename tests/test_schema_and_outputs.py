"""The device list contract: what camscan writes validates; what it reads is checked."""

import csv
import io
import json

import pytest

from camscan.errors import DeviceListError, UsageError
from camscan.fingerprint.engine import Engine
from camscan.fusion import attach_notes, fuse
from camscan.model import Evidence, ScanInfo, ScanResult
from camscan.output import atomic_write, check_writable, csv_text, load_device_list
from camscan.schema import schema_errors, validate_device_list


def sample_doc():
    evidence = [
        Evidence("http", "http_server", "App-webs/", ip="198.18.0.20", port=80),
        Evidence("arp", "mac", "28:57:be:00:00:01", ip="198.18.0.20", mac="28:57:be:00:00:01"),
        Evidence("http", "html_title", '=HYPERLINK("x")', ip="198.18.0.21", port=80),
    ]
    devices = fuse(evidence, Engine.load())
    return ScanResult(ScanInfo("active", ["198.18.0.0/24"], ["http"], []), devices).to_json()


def test_scan_result_json_is_schema_valid():
    doc = sample_doc()
    assert schema_errors(doc) == []
    assert doc["summary"]["total"] == 2
    assert doc["summary"]["by_manufacturer"] == {"Hikvision": 1}


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([], "not a camscan device list"),
        ({"schema": "camscan/device-list", "schema_version": 2}, "schema version 2"),
        ({"schema": "camscan/device-list", "schema_version": 1}, "invalid device list"),
    ],
)
def test_bad_device_lists_get_one_line_errors(doc, needle):
    with pytest.raises(DeviceListError) as exc:
        validate_device_list(doc, "x.json")
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_load_device_list_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(DeviceListError, match="not JSON"):
        load_device_list(str(bad))
    with pytest.raises(DeviceListError, match="cannot read"):
        load_device_list(str(tmp_path / "missing.json"))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(sample_doc()))
    assert load_device_list(str(good))["schema_version"] == 1


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "devices.json"
    target.write_text("old")
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["devices.json"]


def test_unwritable_output_fails_before_scanning(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        check_writable(str(tmp_path / "nope" / "x.json"))
    with pytest.raises(UsageError, match="is a directory"):
        check_writable(str(tmp_path))


def test_csv_neutralises_formulas():
    text = csv_text(sample_doc())
    assert "App-webs" not in text  # evidence isn't in the CSV, only the device fields
    assert text.splitlines()[0].startswith("ip,mac,hostname,manufacturer")


def test_csv_ends_with_the_device_notes():
    evidence = [Evidence("http", "http_server", "App-webs/", ip="198.18.0.20", port=80)]
    devices = fuse(evidence, Engine.load())
    notes = ["@SUM(1+1) as the device sent it", "UPnP description refused (\x1b[2J)"]
    attach_notes(devices, {"198.18.0.20": notes}, lambda ip: True)
    doc = ScanResult(ScanInfo("active", ["198.18.0.0/24"], ["http"], []), devices).to_json()
    header, row = list(csv.reader(io.StringIO(csv_text(doc))))
    assert header[-1] == "notes" and len(row) == len(header)
    # joined with " | ", neutralised as a formula, the escape byte made visible
    assert row[-1] == "'@SUM(1+1) as the device sent it | UPnP description refused (\\x1b[2J)"


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "out.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o644


def _broken(doc, path, value):
    """doc with the value at path (a tuple of keys/indexes) replaced (_DELETE: removed)."""
    import copy

    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("devices", 0, "mac"), "zz:zz"),  # pattern
        (("devices", 0, "ip"), 5),  # type
        (("devices", 0, "manufacturer"), _DELETE),  # required
        (("devices", 0, "evidence", 0, "module"), 5),  # type, deep
        (("scan", "mode"), "sideways"),  # enum
        (("devices", 0, "services", 0, "port"), 70000),  # maximum
        (("summary", "by_manufacturer", "Hikvision"), -1),  # minimum, additionalProperties
        (("schema",), "other"),  # const
        (("devices",), {}),  # items of an array
    ],
)
def test_the_fast_check_and_jsonschema_agree(path, value):
    """schema_errors trusts the compiled check when it passes: it must catch what jsonschema
    catches."""
    import jsonschema

    from camscan.schema import device_list_schema

    doc = _broken(sample_doc(), path, value)
    slow = list(jsonschema.Draft202012Validator(device_list_schema()).iter_errors(doc))
    assert slow, "the mutation should break the schema"
    assert schema_errors(doc)  # the fast check said no, and the errors are worded
