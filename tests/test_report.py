"""Reports (table, CSV, Markdown, HTML) and the `report` / `policy list` commands: hostile device
strings stay inert in every format, the plan is in every format, bad inputs are one-line
errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from camscan.commands import policy as policy_cmd
from camscan.commands import report as report_cmd
from camscan.errors import CamscanError
from camscan.model import Device, Evidence, ScanInfo, ScanResult, Service
from camscan.policy import apply_policy, default_vendors, load_regimes, select_regimes
from camscan.report import render_report
from camscan.report.sanitize import html_text, md_text, visible
from camscan.report.table import print_scan_table
from camscan.schema import validate_device_list

SCRIPT = "<script>alert('x')</script>"
MARKUP = "[bold red]pwned[/bold red]"
ESCAPE = "\x1b[2J\x1b]0;owned\x07"
# Device notes as a hostile device list could carry them (a scan makes controls visible itself)
NOTES = [
    "UPnP description refused (\x1b]8;;http://x/\x07bomb\x1b[5m)",
    f"conflicting evidence also names {MARKUP}",
    "# not a heading | <i>x</i> [l](u)",
]
FORMULA_NOTE = '=HYPERLINK("http://x")'


def hostile_doc(policy: str | None = None) -> dict[str, Any]:
    def cam(ip: str, **kw: Any) -> Device:
        d = Device(ip, device_type="camera", is_surveillance=True, **kw)
        d.services = [Service(80, "tcp", "http")]
        d.evidence = [
            (Evidence("http", "html_title", SCRIPT, port=80, observed_at=1.7e9), None),
            (
                Evidence(
                    "sadp", "sadp", f"model={MARKUP}\nfw={ESCAPE}", port=37020, observed_at=1.7e9
                ),
                "h.sadp",
            ),
        ]
        return d

    devices = [
        cam(
            "10.0.0.11",
            mac="bc:ad:28:00:00:11",
            manufacturer="Hikvision",
            brand="Hikvision",
            model="DS-2CD2142F-I",
            firmware="V5.4.0 build 160401",
            hostname=SCRIPT,
        ),
        cam(
            "10.0.0.12",
            manufacturer="Hikvision",
            brand="LTS",
            model=f"LTS{MARKUP}|x",
            firmware="V5.4.0 build 160401",
            notes=list(NOTES),
        ),
        cam(
            "10.0.1.21",
            manufacturer="Dahua",
            model="IPC-HFW3441T-ZS",
            firmware="V2.800.0000000.16.R,build:2019-12-04",
        ),
        cam("10.0.1.31", manufacturer="Uniview", model="IPC322LB"),
        cam("10.0.2.41", manufacturer="Axis", model="P3245-LV"),
        cam("10.0.2.51", brand="Swann", model=f"=cmd|' /C calc'!A0{ESCAPE}"),
        cam("10.0.2.61", model=SCRIPT),
        Device(
            "10.0.2.71",
            manufacturer="HP",
            model="LaserJet",
            device_type="other",
            notes=[FORMULA_NOTE, "port 21: the greeting is binary, not text"],
        ),
    ]
    regimes = select_regimes(policy, load_regimes())
    apply_policy(devices, regimes, default_vendors())
    info = ScanInfo(
        "active", ["10.0.0.0/22"], ["sadp", "http"], [r.id for r in regimes], 1.7e9, 1.7e9 + 60
    )
    doc = ScanResult(info, devices).to_json()
    validate_device_list(doc)
    return doc


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return hostile_doc()


# -- the CLI, as cli.py wires it ------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def make_app() -> typer.Typer:
    app = typer.Typer()
    report_cmd.register(app)
    policy_cmd.register(app)
    return app


def invoke(args: list[str]) -> Run:
    """Mimics camscan.cli: a CamscanError becomes one line on stderr and exit code 2."""
    result = CliRunner().invoke(make_app(), args, env={"COLUMNS": "200"})
    if isinstance(result.exception, CamscanError):
        return Run(2, result.stdout, f"camscan: {result.exception}\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def write_doc(tmp_path: Path, doc: dict[str, Any], name: str = "devices.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# -- hostile strings --------------------------------------------------------------------------


def test_visible_escapes_controls_and_bidi() -> None:
    assert visible("a\x1b[31mb\x07\x00\u202ec\n") == "a\\x1b[31mb\\x07\\x00\\u202ec\\x0a"
    assert visible("x" * 1000, 10) == "x" * 9 + "…"
    assert md_text("a|b<i>*c*</i>[l](u)") == "a\\|b&lt;i&gt;\\*c\\*&lt;/i&gt;\\[l\\](u)"


@given(st.text(max_size=200))
def test_sanitisers_on_any_text(text: str) -> None:
    shown = visible(text)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", shown)
    assert "<" not in html_text(text) and ">" not in html_text(text)
    assert "<" not in md_text(text) and not re.search(r"(?<!\\)\|", md_text(text))


def test_terminal_table_prints_hostile_values_literally(doc: dict[str, Any]) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=True, color_system="truecolor")
    print_scan_table(doc, console)
    out = buf.getvalue()
    # rich markup from a device is shown, not interpreted; escapes never reach the terminal raw
    assert "[bold red]pwned[/bold red]" in re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out
    assert "\\x1b[2J" in re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "Replacement plan" in out and "RESTRICTED" in out


def test_html_escapes_everything_and_fetches_nothing(doc: dict[str, Any]) -> None:
    html = render_report(doc, "html")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "\x1b" not in html and "\x07" not in html
    assert "\\x1b[2J" in html
    # self-contained: no external resource of any kind, and a CSP that forbids loading any
    for pattern in (
        r"<link\b",
        r"\bsrc\s*=",
        r"url\(",
        r"@import",
        r"<iframe",
        r"<object",
        r"<img",
    ):
        assert not re.search(pattern, html, re.IGNORECASE), pattern
    assert "default-src 'none'" in html
    # every href is one of the regime sources from our data file
    sources = {s for r in load_regimes().values() for s in r.sources}
    assert set(re.findall(r'href="([^"]+)"', html)) <= sources
    # the chart, the plan, and every device with its evidence
    assert "<svg" in html and "Replacement plan" in html and "What to replace" in html
    assert html.count("<details>") >= len(doc["devices"])
    assert "model=[bold red]pwned[/bold red]\nfw=\\x1b[2J" in html  # multi-line evidence kept


def test_markdown_escapes(doc: dict[str, Any]) -> None:
    md = render_report(doc, "md")
    assert "<script" not in md
    assert "LTS\\[bold red\\]pwned\\[/bold red\\]\\|x" in md
    assert "\x1b" not in md
    assert "## Replacement plan" in md and "### What to replace" in md and "## Devices" in md
    # every table row has the same number of cells as its header (no cell was split by a '|')
    for block in md.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            widths = {len(re.findall(r"(?<!\\)\|", r)) for r in rows}
            assert len(widths) == 1, rows


def test_csv_neutralises_formulas(doc: dict[str, Any]) -> None:
    rows = list(csv.reader(io.StringIO(render_report(doc, "csv"))))
    models = [r[5] for r in rows[1:]]
    assert any(m.startswith("'=cmd") for m in models)
    assert len(rows) == len(doc["devices"]) + 1


def _plain(out: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", out)  # rich's own colours


@pytest.mark.parametrize("width", [200, 80])
def test_terminal_table_marks_and_lists_notes(doc: dict[str, Any], width: int) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system="truecolor")
    print_scan_table(doc, console)
    out = _plain(buf.getvalue())
    assert "\x1b]8;" not in out and "\x07" not in out and "\x1b[5m" not in out
    # the marker: the LTS row ends with its number of notes (the narrow form names it)
    if width >= 200:
        assert re.search(r"^\s*10\.0\.0\.12\s.*\s3\s*$", out, re.MULTILINE)
    else:
        block = out[out.index("10.0.0.12") :]
        assert "Notes: 3" in " ".join(block[: block.index("\n  10.")].split())
    # the notes under the table, after the device's IP, escaped and markup shown literally
    notes = out[out.index("\nNotes") :]
    assert re.search(r"^\s*10\.0\.0\.12\s", notes, re.MULTILINE)
    flat = " ".join(notes.split())  # a narrow terminal folds long notes
    assert " ".join(visible(NOTES[0]).split()) in flat
    assert "conflicting evidence also names [bold red]pwned[/bold red]" in flat
    # only the group that has a device with notes gets the column
    if width >= 200:
        heads = [line for line in out.splitlines() if re.search(r"\bPrio\b", line)]
        assert len(heads) > 4 and sum("Notes" in h for h in heads) == 1
    else:
        assert out.count("Notes: ") == 1


def test_markdown_lists_notes(doc: dict[str, Any]) -> None:
    md = render_report(doc, "md")
    assert "| Prio | Evidence | Notes |" in md
    assert re.search(r"^\| 10\.0\.0\.12 \|.*\| 3 \|$", md, re.MULTILINE)  # the marker
    assert "**Notes**\n\n| IP | Note |\n|---|---|\n" in md
    assert f"| 10.0.0.12 | {md_text(NOTES[0])} |" in md
    assert f"|   | {md_text(NOTES[1])} |" in md and f"|   | {md_text(NOTES[2])} |" in md
    assert "\n# not a heading" not in md  # device text never starts a line
    assert "<i>" not in md and "\x1b" not in md and "\x07" not in md
    others = md[md.index("### Other devices") :]
    assert f"| 10.0.2.71 | {md_text(FORMULA_NOTE)} |" in others  # not-surveillance devices too


def test_csv_has_a_notes_column(doc: dict[str, Any]) -> None:
    text = render_report(doc, "csv")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)  # only the row ends
    rows = {r["ip"]: r for r in csv.DictReader(io.StringIO(text))}
    assert text.splitlines()[0].endswith(",services,mac_vendor,notes")
    assert rows["10.0.0.12"]["notes"] == " | ".join(visible(n) for n in NOTES)
    assert (
        rows["10.0.2.71"]["notes"]
        == "'" + FORMULA_NOTE + " | port 21: the greeting is binary, not text"
    )
    assert rows["10.0.1.21"]["notes"] == ""
    # the other cells are made terminal-safe the same way
    assert rows["10.0.2.51"]["model"] == "'=cmd|' /C calc'!A0" + visible(ESCAPE)


def test_html_lists_notes(doc: dict[str, Any]) -> None:
    html = render_report(doc, "html")
    for note in NOTES:
        assert html_text(note) in html


def test_every_format_has_the_plan(doc: dict[str, Any]) -> None:
    assert "Replacement plan" in render_report(doc, "table")
    assert "Replacement plan" in render_report(doc, "md")
    assert "Replacement plan" in render_report(doc, "html")
    header = render_report(doc, "csv").splitlines()[0]
    assert "priority" in header and "reasons" in header  # per device in the CSV


# -- the report command -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "csv", "md", "html"])
def test_report_command_writes_each_format(tmp_path: Path, doc: dict[str, Any], fmt: str) -> None:
    src = write_doc(tmp_path, doc)
    out = tmp_path / f"report.{fmt}"
    run = invoke(["report", str(src), "--format", fmt, "-o", str(out)])
    assert run.code == 0, run.stderr
    text = out.read_text(encoding="utf-8")
    assert text == render_report(doc, fmt)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left nothing behind


def test_report_table_to_stdout(tmp_path: Path, doc: dict[str, Any]) -> None:
    run = invoke(["report", str(write_doc(tmp_path, doc))])
    assert run.code == 0
    assert "Replacement plan" in run.stdout and "[bold red]pwned" in run.stdout
    assert "\x1b[2J" not in run.stdout


def test_report_policy_reevaluates(tmp_path: Path, doc: dict[str, Any]) -> None:
    src = write_doc(tmp_path, doc)
    run = invoke(["report", str(src), "--format", "md", "--policy", "ca-2025", "-o", "-"])
    assert run.code == 0
    assert "`ca-2025`" in run.stdout and "`us-ndaa-889`" not in run.stdout
    assert "**restricted: 2**" in run.stdout  # the two Hikvision-made cameras only
    assert "**restricted: 4**" in render_report(doc, "md")  # + Dahua and Uniview (uk-2022)


def test_report_with_prices(tmp_path: Path, doc: dict[str, Any]) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("model,unit_cost\ncamera,200\n")
    run = invoke(["report", str(write_doc(tmp_path, doc)), "-f", "html", "--prices", str(prices)])
    assert run.code == 0
    # P1: Hikvision, LTS, Dahua; P2: Uniview (uk-2022) -> 4 x 200 must be replaced
    assert "Budget, must replace (P1-P2): 800.00" in run.stdout
    run = invoke(["report", str(write_doc(tmp_path, doc)), "-f", "md", "--prices", str(prices)])
    assert "**Budget, must replace (P1-P2): 800.00**" in run.stdout
    assert "| Prio | Count | Maker (brand) | Model | Type | Unit | Cost | Why |" in run.stdout
    assert "| Unit |" not in render_report(doc, "md")  # no price list, no cost columns


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not JSON"),
        ('{"hello": "world"}', "not a camscan device list"),
        ('{"schema": "camscan/device-list", "schema_version": 99}', "schema version 99"),
        (
            '{"schema": "camscan/device-list", "schema_version": 1, "scan": {}}',
            "invalid device list",
        ),
    ],
)
def test_report_bad_input_is_one_line_exit_2(tmp_path: Path, content: str, needle: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    run = invoke(["report", str(bad)])
    assert run.code == 2
    assert (
        run.stderr.count("\n") == 1 and needle in run.stderr and run.stderr.startswith("camscan: ")
    )


def test_report_bad_options(tmp_path: Path, doc: dict[str, Any]) -> None:
    src = write_doc(tmp_path, doc)
    run = invoke(["report", str(src), "--policy", "nope"])
    assert run.code == 2 and "unknown regime or country 'nope'" in run.stderr
    prices = tmp_path / "p.csv"
    prices.write_text("model,unit_cost\nx,y\n")
    run = invoke(["report", str(src), "--prices", str(prices)])
    assert run.code == 2 and "p.csv:2:" in run.stderr
    run = invoke(["report", str(tmp_path / "missing.json")])
    assert run.code == 2 and "cannot read" in run.stderr
    run = invoke(["report", str(src), "-o", str(tmp_path / "no" / "dir.html")])
    assert run.code == 2 and "does not exist" in run.stderr
    run = invoke(["report", str(src), "--format", "pdf"])
    assert run.code == 2  # typer's own usage error


def test_reevaluated_json_validates(doc: dict[str, Any]) -> None:
    from camscan.policy import apply_policy_to_doc

    for ids in (None, "ca-2025", "watch", "uk-2022,au-2023"):
        validate_device_list(apply_policy_to_doc(doc, ids), f"policy {ids}")


# -- policy list --------------------------------------------------------------------------


def test_policy_list() -> None:
    run = invoke(["policy", "list"])
    assert run.code == 0
    for rid in load_regimes():
        assert rid in run.stdout
    assert "Hikvision" in run.stdout and "https://" in run.stdout
    run = invoke(["policy", "list", "--format", "json"])
    data = json.loads(run.stdout)
    assert [r["id"] for r in data["regimes"]] == list(load_regimes())
    assert data["regimes"][0]["manufacturers"] == ["Hikvision"]
