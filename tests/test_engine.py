"""The fingerprint loader and engine: validation with one-line errors, protocol indexing,
named groups, extract, requires, MAC registrants."""

from pathlib import Path

import pytest

from camscan.errors import FingerprintError
from camscan.fingerprint.engine import Engine, best_claim, mac_registrant
from camscan.fingerprint.rules import default_fingerprint_dir, load_rules, load_vendors
from camscan.fingerprint.selftest import run_selftest


@pytest.fixture(scope="module")
def vendors():
    return load_vendors(default_fingerprint_dir() / "vendors.yaml")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "test.yaml"
    p.write_text(text)
    return p


GOOD = """
rules:
  - id: t.sadp
    protocol: sadp
    match: {regex: '(?m)^DeviceDescription=(?P<model>DS-\\S+)$'}
    extract: {firmware: '(?m)^SoftwareVersion=(?P<firmware>.+)$'}
    claims: {manufacturer: Hikvision, device_type: camera}
    confidence: 0.95
    examples:
      - value: "DeviceDescription=DS-2CD2143G0-I\\nSoftwareVersion=V5.5.800 build 210628"
        expect: {manufacturer: Hikvision, device_type: camera, model: DS-2CD2143G0-I,
                 firmware: V5.5.800 build 210628}
  - id: t.rtsp_with_sdk
    protocol: open_port
    match: {exact: '554/tcp'}
    requires: [{protocol: open_port, regex: '^8000/tcp$'}]
    claims: {device_type: camera}
    confidence: 0.4
    examples:
      - value: '554/tcp'
        host: [{protocol: open_port, value: '8000/tcp'}]
        expect: {device_type: camera, is_surveillance: true}
"""


def test_named_groups_extract_and_requires(tmp_path, vendors):
    rules = load_rules([write(tmp_path, GOOD)], vendors)
    engine = Engine(rules, vendors)
    claim = best_claim(
        engine.match_value(
            "sadp", "DeviceDescription=DS-2CD2143G0-I\nSoftwareVersion=V5.5.800 build 210628"
        )
    )
    assert claim is not None
    assert (claim.manufacturer, claim.model, claim.firmware) == (
        "Hikvision",
        "DS-2CD2143G0-I",
        "V5.5.800 build 210628",
    )
    # `requires` rules need host context: alone they say nothing.
    assert engine.match_value("open_port", "554/tcp") == []
    host = [("open_port", "554/tcp"), ("open_port", "8000/tcp")]
    assert [c.rule for c in engine.match_value("open_port", "554/tcp", host)] == ["t.rtsp_with_sdk"]
    report = run_selftest(engine)
    assert report.failures == ()


def test_rules_are_indexed_by_protocol(tmp_path, vendors):
    engine = Engine(load_rules([write(tmp_path, GOOD)], vendors), vendors)
    assert [r.id for r in engine.rules_for("sadp")] == ["t.sadp"]
    assert engine.rules_for("http_server") == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("rules: [\n  - id: x\n    protocol: [", "not valid YAML"),
        ("rules:\n  - id: a.b\n    protocol: nope\n", "rule a.b: unknown protocol"),
        (
            "rules:\n  - {id: a.b, protocol: http_server, match: {regex: '(['}, claims: {device_type: camera},"
            " confidence: 0.5, examples: [{value: x, expect: {}}]}\n",
            "rule a.b: bad regex",
        ),
        (
            "rules:\n  - {id: a.b, protocol: http_server, match: {exact: x}, claims: {manufacturer: Acme},"
            " confidence: 0.5, examples: [{value: x, expect: {}}]}\n",
            "manufacturer 'Acme' is not in vendors.yaml",
        ),
        (
            "rules:\n  - {id: a.b, protocol: http_server, match: {exact: x}, claims: {device_type: camera},"
            " confidence: 2, examples: [{value: x, expect: {}}]}\n",
            "confidence must be",
        ),
        (
            "rules:\n  - {id: a.b, protocol: http_server, match: {exact: x}, claims: {device_type: camera},"
            " confidence: 0.5}\n",
            "at least one example",
        ),
    ],
)
def test_broken_rules_give_one_line_errors_naming_file_and_rule(tmp_path, vendors, text, needle):
    with pytest.raises(FingerprintError) as exc:
        load_rules([write(tmp_path, text)], vendors)
    message = str(exc.value)
    assert needle in message
    assert message.startswith("test.yaml")
    assert "\n" not in message


def test_mac_rules_read_the_ieee_registrant():
    assert "Hikvision" in mac_registrant("28:57:be:00:00:01")
    assert mac_registrant("02:00:00:00:00:01") == ""  # locally administered
    assert mac_registrant("not a mac") == ""


def test_shipped_fingerprints_pass_their_own_examples():
    report = run_selftest(Engine.load())
    assert report.failures == (), "\n".join(map(str, report.failures))
    assert report.rules >= 1


def _brute(engine, protocol, value):
    from camscan.fingerprint.engine import mac_hex

    subject = mac_registrant(value) if protocol == "mac" else value
    return sorted(
        r.id
        for r in engine.rules_for(protocol)
        if r.matcher.match(subject, mac_hex(value)) is not None
    )


def test_literal_prefilter_never_changes_what_matches():
    engine = Engine.load()
    plain = Engine(engine.rules, engine.vendors, memo=False)
    for rule in engine.rules:
        values = [ex.value for ex in rule.examples] + list(rule.counterexamples)
        for v in values:
            for variant in (v, v.upper(), v.lower(), v.swapcase(), "x" + v + "x", v[1:]):
                want = _brute(engine, rule.protocol, variant)
                for eng in (engine, plain, engine):  # second `engine` call: from the memo
                    got = sorted(
                        r.id
                        for r, _ in eng._matches(rule.protocol, *_subject(rule.protocol, variant))
                    )
                    assert got == want, (rule.id, variant)


def _subject(protocol, value):
    from camscan.fingerprint.engine import mac_hex

    if protocol == "mac":
        return mac_registrant(value), mac_hex(value)
    return value, ""


def test_literal_hints():
    import re

    from camscan.fingerprint.engine import literal_hint

    assert literal_hint(re.compile(r"^App-webs/")) == ("App-webs/", False)
    assert literal_hint(re.compile(r"(?i)realm=\"hikvision\"")) == ('realm="hikvision"', True)
    assert literal_hint(re.compile(r"^(?:Dahua|Lorex) Rtsp")) == (" Rtsp", False)
    assert literal_hint(re.compile(r"abc|defgh")) is None  # alternation: nothing is required
    assert literal_hint(re.compile(r"a(?:bcdef)?g")) is None  # optional group
