"""Scan-to-scan diff: pairing by MAC, serial, IP; replacements are removed+added, not changes;
restricted devices still present; `camscan diff` formats and --fail-on-restricted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from camscan.commands import diff as diff_cmd
from camscan.diff import diff_device_lists
from camscan.errors import CamscanError
from camscan.model import Device, ScanInfo, ScanResult
from camscan.policy import apply_policy, default_vendors, load_regimes, select_regimes
from camscan.schema import validate_device_list


def cam(ip: str, mac: str | None, manufacturer: str, model: str, **kw: Any) -> Device:
    return Device(
        ip,
        mac=mac,
        manufacturer=manufacturer,
        model=model,
        device_type="camera",
        is_surveillance=True,
        **kw,
    )


def to_doc(devices: list[Device], policy: str | None = None) -> dict[str, Any]:
    regimes = select_regimes(policy, load_regimes())
    apply_policy(devices, regimes, default_vendors())
    info = ScanInfo("active", ["10.0.0.0/24"], ["sadp"], [r.id for r in regimes], 1.7e9, 1.7e9 + 5)
    doc = ScanResult(info, devices).to_json()
    validate_device_list(doc)
    return doc


def old_office() -> list[Device]:
    return [
        cam(
            "10.0.0.11",
            "bc:ad:28:00:00:11",
            "Hikvision",
            "DS-2CD2142F-I",
            firmware="V5.4.0 build 160401",
        ),
        cam(
            "10.0.0.12",
            "bc:ad:28:00:00:12",
            "Hikvision",
            "DS-2CD2142F-I",
            firmware="V5.4.0 build 160401",
        ),
        cam(
            "10.0.0.13",
            "bc:ad:28:00:00:13",
            "Hikvision",
            "DS-2CD2143G0-I",
            firmware="V5.5.0 build 190101",
        ),
        cam(
            "10.0.0.14",
            "bc:ad:28:00:00:14",
            "Hikvision",
            "DS-2CD2143G0-I",
            firmware="V5.5.0 build 190101",
        ),
        cam("10.0.0.21", "90:02:a9:00:00:21", "Dahua", "IPC-HFW3441T-ZS"),
        cam("10.0.0.41", "ac:cc:8e:00:00:41", "Axis", "P3245-LV", firmware="10.12.1"),
        cam("10.0.9.5", None, "Axis", "M3106", serial="ACCC8E123456"),  # routed: no MAC
        cam("10.0.9.6", None, "Axis", "M3106", firmware="9.80.1"),  # routed: no MAC, no serial
    ]


def new_office() -> list[Device]:
    return [
        # two Hikvision cameras replaced by Axis on the same addresses
        cam("10.0.0.11", "ac:cc:8e:00:01:11", "Axis", "P3265-LV", firmware="11.8.64"),
        cam("10.0.0.12", "ac:cc:8e:00:01:12", "Axis", "P3265-LV", firmware="11.8.64"),
        # one Hikvision camera got new firmware, one stayed as it was
        cam(
            "10.0.0.13",
            "bc:ad:28:00:00:13",
            "Hikvision",
            "DS-2CD2143G0-I",
            firmware="V5.5.800 build 210628",
        ),
        cam(
            "10.0.0.14",
            "bc:ad:28:00:00:14",
            "Hikvision",
            "DS-2CD2143G0-I",
            firmware="V5.5.0 build 190101",
        ),
        # the Dahua camera moved address (DHCP)
        cam("10.0.0.22", "90:02:a9:00:00:21", "Dahua", "IPC-HFW3441T-ZS"),
        cam("10.0.0.41", "ac:cc:8e:00:00:41", "Axis", "P3245-LV", firmware="10.12.1"),
        cam("10.0.9.50", None, "Axis", "M3106", serial="ACCC8E123456"),  # same serial, new IP
        cam("10.0.9.6", None, "Axis", "M3106", firmware="10.0.0"),  # same IP, new firmware
    ]


def test_two_hikvision_replaced_by_axis() -> None:
    result = diff_device_lists(to_doc(old_office()), to_doc(new_office()))
    assert [(d["ip"], d["manufacturer"]) for d in result.removed] == [
        ("10.0.0.11", "Hikvision"),
        ("10.0.0.12", "Hikvision"),
    ]
    assert [(d["ip"], d["manufacturer"]) for d in result.added] == [
        ("10.0.0.11", "Axis"),
        ("10.0.0.12", "Axis"),
    ]
    changes = {c.new["ip"]: (c.matched_by, c.fields) for c in result.changed}
    assert set(changes) == {"10.0.0.13", "10.0.0.22", "10.0.9.50", "10.0.9.6"}
    by, fields = changes["10.0.0.13"]
    assert by == "mac" and fields["firmware"] == ("V5.5.0 build 190101", "V5.5.800 build 210628")
    assert fields["vulnerabilities"] == (["CVE-2021-36260"], [])
    assert changes["10.0.0.22"] == ("mac", {"ip": ("10.0.0.21", "10.0.0.22")})
    assert changes["10.0.9.50"] == ("serial", {"ip": ("10.0.9.5", "10.0.9.50")})
    assert changes["10.0.9.6"] == ("ip", {"firmware": ("9.80.1", "10.0.0")})
    assert result.unchanged == 2  # 10.0.0.14 and 10.0.0.41
    assert [d["ip"] for d in result.restricted_remaining] == ["10.0.0.13", "10.0.0.14", "10.0.0.22"]
    js = result.to_json()
    assert js["counts"] == {
        "removed": 2,
        "added": 2,
        "changed": 4,
        "unchanged": 2,
        "restricted_remaining": 3,
    }


def test_ip_pairing_never_joins_different_devices() -> None:
    old = to_doc([cam("10.0.0.5", None, "Hikvision", "DS-2CD2142F-I")])
    new = to_doc([cam("10.0.0.5", None, "Axis", "P3245-LV")])
    result = diff_device_lists(old, new)
    assert len(result.removed) == 1 and len(result.added) == 1 and result.changed == []
    old = to_doc([cam("10.0.0.5", None, "Axis", "M3106", serial="A1")])
    new = to_doc([cam("10.0.0.5", None, "Axis", "M3106", serial="B2")])
    result = diff_device_lists(old, new)
    assert len(result.removed) == 1 and len(result.added) == 1


def test_policy_difference_is_reported() -> None:
    result = diff_device_lists(to_doc(old_office(), "ca-2025"), to_doc(new_office()))
    assert result.policy_differs


# -- the command ------------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def invoke(args: list[str]) -> Run:
    """Mimics camscan.cli: a CamscanError becomes one line on stderr and exit code 2."""
    app = typer.Typer()
    diff_cmd.register(app)

    @app.command()
    def _other() -> None:  # a second command keeps `diff` a subcommand, as in camscan
        pass

    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    if isinstance(result.exception, CamscanError):
        return Run(2, result.stdout, f"camscan: {result.exception}\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(to_doc(old_office())))
    new.write_text(json.dumps(to_doc(new_office())))
    return old, new


def test_diff_command_formats(files: tuple[Path, Path]) -> None:
    old, new = files
    run = invoke(["diff", str(old), str(new)])
    assert run.code == 0
    assert "2 removed, 2 added, 4 changed, 2 unchanged; 3 restricted still present" in run.stdout
    assert "Restricted still present (3)" in run.stdout
    run = invoke(["diff", str(old), str(new), "--format", "json"])
    data = json.loads(run.stdout)
    assert data["schema"] == "camscan/diff" and data["counts"]["removed"] == 2
    run = invoke(["diff", str(old), str(new), "--format", "md"])
    assert "## Removed (2)" in run.stdout and "## Restricted still present (3)" in run.stdout


def test_fail_on_restricted(files: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = files
    assert invoke(["diff", str(old), str(new), "--fail-on-restricted"]).code == 1
    assert invoke(["diff", str(old), str(new)]).code == 0
    clean = tmp_path / "clean.json"
    clean.write_text(
        json.dumps(to_doc([cam("10.0.0.11", "ac:cc:8e:00:01:11", "Axis", "P3265-LV")]))
    )
    run = invoke(["diff", str(old), str(clean), "--fail-on-restricted"])
    assert run.code == 0 and "0 restricted still present" in run.stdout
    # under Canada's order only Hikvision is restricted: the Dahua camera no longer counts
    run = invoke(
        [
            "diff",
            str(old),
            str(new),
            "--policy",
            "ca-2025",
            "--format",
            "json",
            "--fail-on-restricted",
        ]
    )
    assert run.code == 1
    data = json.loads(run.stdout)
    assert [d["ip"] for d in data["restricted_remaining"]] == ["10.0.0.13", "10.0.0.14"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[1, 2", "not JSON"),
        ("[]", "not a camscan device list"),
        ('{"schema": "camscan/device-list", "schema_version": 2}', "schema version 2"),
    ],
)
def test_diff_bad_input(
    files: tuple[Path, Path], tmp_path: Path, content: str, needle: str
) -> None:
    old, _ = files
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for args in (
        ["diff", str(old), str(bad)],
        ["diff", str(bad), str(old), "--fail-on-restricted"],
    ):
        run = invoke(args)
        assert run.code == 2 and needle in run.stderr and run.stderr.count("\n") == 1


def test_devices_sharing_a_mac_pair_by_their_other_fields_not_by_list_order() -> None:
    """Two addresses behind one router MAC (or a cloned MAC): the pairing follows the address
    and the maker, whatever the order of either list."""
    from camscan.diff import diff_device_lists

    def dev(ip: str, maker: str) -> dict:
        return {"ip": ip, "mac": "02:00:00:00:00:fe", "manufacturer": maker, "model": None}

    old = {"devices": [dev("198.18.0.21", "Hikvision"), dev("198.18.0.22", "Dahua")]}
    for order in (1, -1):
        new = {"devices": [dev("198.18.0.22", "Dahua"), dev("198.18.0.21", "Hikvision")][::order]}
        result = diff_device_lists(old, new)
        assert (result.changed, result.added, result.removed) == ([], [], [])
        assert result.unchanged == 2
