"""Every command as a new user meets it: its help names the choices, a smoke call of each
works without a network, bad options are one line and exit 2 before anything is sent, and
the data goes where tools expect it (stdout when stdout is not a terminal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_passive_packets import write_pcap
from test_report_layout import office_doc

from camscan.cli import main, version
from camscan.commands import scan as scan_cmd
from camscan.discovery.registry import NOT_BY_DEFAULT, default_names
from camscan.model import ScanInfo, ScanResult
from camscan.policy import load_regimes

COMMANDS = [
    [],
    ["scan"],
    ["passive"],
    ["demo"],
    ["report"],
    ["diff"],
    ["policy"],
    ["policy", "list"],
    ["schema"],
    ["match"],
    ["fingerprints"],
    ["fingerprints", "list"],
    ["fingerprints", "test"],
]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture()
def doc_file(tmp_path: Path) -> Path:
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(office_doc()))
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "camscan")
def test_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*command, "--help"], capsys)
    assert code == 0
    assert out.startswith("Usage: camscan")


def test_help_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    _, scan_help, _ = run(["scan", "--help"], capsys)
    flat = " ".join(scan_help.split())
    for name in [*default_names(), *NOT_BY_DEFAULT]:
        assert name in flat, name
    for rid in load_regimes():
        assert rid in flat.replace("- ", "-"), rid
    assert "(ca, us, uk, au)" in flat and "Default: all" in flat
    _, report_help, _ = run(["report", "--help"], capsys)
    assert "table|csv|md|html" in report_help and "[default: table]" in report_help
    _, diff_help, _ = run(["diff", "--help"], capsys)
    assert "table|json|md" in diff_help
    _, passive_help, _ = run(["passive", "--help"], capsys)
    assert "Default: until Ctrl-C" in " ".join(passive_help.split())


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out == f"camscan {version()}\n"
    assert version()[0].isdigit()


# -- smoke calls of each command, no network ---------------------------------------------------


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema"], capsys)
    assert code == 0 and json.loads(out)["type"] == "object"


def test_policy_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["policy", "list"], capsys)
    assert code == 0 and "us-ndaa-889" in out and "us = us-ndaa-889, us-fcc-covered" in out
    code, out, _ = run(["policy", "list", "-f", "json"], capsys)
    assert code == 0 and {r["id"] for r in json.loads(out)["regimes"]} == set(load_regimes())


def test_report_and_diff(doc_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["report", str(doc_file)], capsys)
    assert code == 0 and "Replacement plan" in out and "CMIP7442NW-28M" in out
    code, out, _ = run(["report", str(doc_file), "--policy", "us"], capsys)
    assert code == 0
    assert "us-ndaa-889:" in out and "ca-2025:" not in out and "uk-2022:" not in out
    code, out, _ = run(["diff", str(doc_file), str(doc_file), "-f", "json"], capsys)
    assert code == 0 and isinstance(json.loads(out), dict)
    code, out, _ = run(["diff", str(doc_file), str(doc_file)], capsys)
    assert code == 0 and "policy: ca-2025, us-ndaa-889" in out


def test_fingerprints_list_and_test(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["fingerprints", "list", "--vendor", "hikvision"], capsys)
    assert code == 0, err
    assert "Hikvision" in out and "hikvision." in out
    code, out, err = run(["fingerprints", "list", "--protocol", "nope"], capsys)
    assert code == 2 and "unknown protocol 'nope'" in err
    code, out, _ = run(["fingerprints", "test"], capsys)
    assert code in (0, 1) and " rules, " in out  # the rule data is others' to keep green


def test_match_exit_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    good = '{"protocol": "http_server", "value": "App-webs/"}\n'
    monkeypatch.setattr("sys.stdin", io.StringIO(good))
    code, out, _ = run(["match"], capsys)
    assert code == 0 and json.loads(out)["line"] == 1
    monkeypatch.setattr("sys.stdin", io.StringIO(good + "{not json\n"))
    code, out, err = run(["match"], capsys)
    assert code == 1
    assert [json.loads(line)["line"] for line in out.splitlines()] == [1, 2]
    assert "error" in json.loads(out.splitlines()[1])


# -- bad options: one line, exit 2, nothing sent ------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["scan", "198.18.0.0/24", "--policy", "xx-1"], "unknown regime or country 'xx-1'"),
        (["scan", "198.18.0.0/24", "--ports", "99999"], "--ports"),
        (["scan", "198.18.0.0/24", "--max-hosts", "0"], "--max-hosts"),
        (["scan", "198.18.0.0/24", "--rate", "0"], "must be positive"),
        (["scan", "198.18.0.0/24", "-o", "/nonexistent/dir/x.json"], "does not exist"),
        (["passive", "x.pcap", "--policy", "xx-1"], "unknown regime or country"),
        (["report", "devices.json", "--policy", "xx-1"], "unknown regime or country"),
        (["diff", "a.json", "b.json", "--policy", "nope"], "unknown regime or country"),
    ],
)
def test_bad_option_fails_before_anything(
    argv: list[str],
    needle: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_scan(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the scan was prepared despite a bad option")

    monkeypatch.setattr(scan_cmd, "prepare", no_scan)
    code, out, err = run(argv, capsys)
    assert code == 2, err
    assert needle in err and err.count("\n") == 1 and err.startswith("camscan: ")
    assert out == ""


def test_policy_by_country() -> None:
    from camscan.policy import select_regimes

    regimes = load_regimes()
    assert [r.id for r in select_regimes("us", regimes)] == ["us-ndaa-889", "us-fcc-covered"]
    assert [r.id for r in select_regimes("UK", regimes)] == ["uk-2022"]
    assert [r.id for r in select_regimes("ca,au", regimes)] == ["ca-2025", "au-2023"]
    assert [r.id for r in select_regimes("us,watch", regimes)][-1] == "watch"


# -- data where tools expect it -------------------------------------------------------------


def fake_scan(monkeypatch: pytest.MonkeyPatch, warnings: list[str], devices: bool) -> None:
    """`camscan scan` with the scan itself replaced: everything around it is real."""
    doc = office_doc()

    class Prepared:
        class scan:  # noqa: N801 - stands in for prepared.scan
            progress = None

    def result(*_a: Any, **_k: Any) -> ScanResult:
        from camscan.policy.jsondoc import device_from_json

        info = ScanInfo("active", ["198.18.0.0/24"], ["sadp"], list(doc["scan"]["policy"]))
        info.warnings = list(warnings)
        return ScanResult(info, [device_from_json(d) for d in doc["devices"]] if devices else [])

    monkeypatch.setattr(scan_cmd, "prepare", lambda *_a, **_k: Prepared())
    monkeypatch.setattr(scan_cmd, "run", result)
    monkeypatch.setattr(scan_cmd, "live_progress", lambda *_a, **_k: _Null())


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


def test_scan_not_a_terminal_writes_json_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_scan(monkeypatch, [], devices=True)
    code, out, err = run(["scan", "198.18.0.0/24"], capsys)
    assert code == 0, err
    doc = json.loads(out)  # stdout is data only
    assert doc["schema"] == "camscan/device-list" and len(doc["devices"]) == 5
    assert "wrote 5 devices to stdout (JSON)" in err


def test_scan_in_a_terminal_shows_the_table_and_where_the_data_went(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake_scan(monkeypatch, [], devices=True)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    code, out, err = run(["scan", "198.18.0.0/24"], capsys)
    assert code == 0 and "Replacement plan" in out
    assert "the JSON device list was not saved: add -o devices.json" in err
    path = tmp_path / "d.json"
    code, out, err = run(["scan", "198.18.0.0/24", "-o", str(path)], capsys)
    assert code == 0 and "Replacement plan" in out
    assert f"wrote 5 devices to {path} (JSON)" in err
    assert len(json.loads(path.read_text())["devices"]) == 5


def test_warnings_reach_the_terminal_and_an_empty_scan_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    warnings = [f"mod{i}: cannot send: Operation not permitted" for i in range(15)]
    fake_scan(monkeypatch, warnings, devices=False)
    path = tmp_path / "d.json"
    code, _, err = run(["scan", "198.18.0.0/24", "-o", str(path), "-q"], capsys)
    assert code == 0
    assert "camscan: 15 warning(s); the first 3:" in err
    assert "  mod0: cannot send" in err and "mod3:" not in err
    assert f"all 15 are in the JSON device list (jq .scan.warnings {path})" in err
    assert "no device answered on 198.18.0.0/24: the warnings above say why" in err


def test_passive_quiet_without_output_writes_json_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_pcap(tmp_path / "empty.pcap", [])
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)  # even in a terminal, with -q
    code, out, err = run(["passive", str(path), "-q"], capsys)
    assert code == 0
    assert json.loads(out)["scan"]["mode"] == "passive"
    assert "no device was heard" in err
