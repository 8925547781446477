"""ONVIF credentials never leave camscan except as the WS-Security digest: not in the JSON,
the CSV, the terminal table, warnings, reports, logs, exception texts or reprs.

The lab part scans devices of which some accept the marker password and some refuse it (so
both the success and the failure path run), then searches every output for the marker."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_schema_valid

from camscan.credentials import load_credentials
from camscan.discovery.base import Credentials, ScanContext, ScanSettings
from camscan.discovery.onvif import OnvifModule, build_get_device_information
from camscan.errors import ParseError
from camscan.lab.personas import load_personas, personas_from_data

MARKER = "MARKER-Pw-7c1e9"
USER = "admin"
ACCEPTING = ("hik-cam-onvif", "axis-cam")  # their lab password is the marker
REFUSING = ("dahua-cam", "hanwha-cam")  # they keep the lab's own password
# An ONVIF device outside the credentials file's `hosts:`: it would accept the marker, but it
# must never be sent a login (before `hosts:`, every ONVIF responder got the digest).
ROGUE = ("uniview-cam",)


def forms_of_the_secret() -> list[bytes]:
    """The marker as it could leak: plain, in Basic auth, hex, UTF-16."""
    return [
        MARKER.encode(),
        base64.b64encode(f"{USER}:{MARKER}".encode()),
        base64.b64encode(MARKER.encode()),
        MARKER.encode().hex().encode(),
        MARKER.encode("utf-16-le"),
    ]


def assert_no_secret(data: bytes | str, what: str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for form in forms_of_the_secret():
        assert form not in raw, f"the password leaked into {what}"


def write_credentials(path: Path, hosts: tuple[str, ...] = ("198.18.0.0/24",)) -> Path:
    listed = ", ".join(f'"{h}"' for h in hosts)
    text = f'username: {USER}\npassword: "{MARKER}"\nhosts: [{listed}]\n'
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


# -- the lab scan ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secret_office() -> Iterator[Any]:
    from camscan.lab.office import Office
    from camscan.lab.testing import lab_skip_reason

    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    specs = []
    for p in load_personas():
        if p.name in ACCEPTING + REFUSING + ROGUE:
            spec = copy.deepcopy(p.raw)
            if p.name in ACCEPTING + ROGUE:
                spec["credentials"] = {"username": USER, "password": MARKER}
            specs.append(spec)
    with Office(personas_from_data(specs, "<secrets>")) as running:
        yield running


@pytest.fixture(scope="module")
def secret_run(secret_office: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("secrets")
    allowed = tuple(p.ip for p in secret_office.personas if p.name in ACCEPTING + REFUSING)
    creds = write_credentials(tmp / "onvif.yaml", allowed)
    json_out, csv_out = tmp / "devices.json", tmp / "devices.csv"
    argv = secret_office.camscan_argv(
        ["scan", secret_office.subnet, "--interface", secret_office.lab.scanner_if,
         "--credentials", str(creds), "-o", str(json_out), "--csv", str(csv_out)]
    )  # fmt: skip
    assert_no_secret(" ".join(argv), "the process arguments")
    proc = subprocess.run(argv, capture_output=True, timeout=180)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    outputs: dict[str, bytes] = {
        "scan stdout": proc.stdout,
        "scan stderr": proc.stderr,
        "JSON": json_out.read_bytes(),
        "CSV": csv_out.read_bytes(),
    }
    for fmt in ("table", "md", "html", "csv"):
        target = tmp / f"report.{fmt}"
        report = subprocess.run(
            [sys.executable, "-m", "camscan", "report", str(json_out), "--format", fmt,
             "-o", str(target)],
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        assert report.returncode == 0, report.stderr
        outputs[f"report {fmt}"] = target.read_bytes()
        outputs[f"report {fmt} messages"] = report.stdout + report.stderr
    return {"doc": json.loads(outputs["JSON"]), "outputs": outputs, "tmp": tmp}


@pytest.mark.lab
def test_the_credentials_were_used_and_refused_where_they_should(
    secret_office: Any, secret_run: dict[str, Any]
) -> None:
    doc = secret_run["doc"]
    assert_schema_valid(doc)
    ips = {p.name: p.ip for p in secret_office.personas}
    info = {
        d["ip"]: [e for e in d["evidence"] if e["protocol"] == "onvif_device_info"]
        for d in doc["devices"]
    }
    assert all(info[ips[name]] for name in ACCEPTING)
    assert not any(info[ips[name]] for name in REFUSING)
    refused = [w for w in doc["scan"]["warnings"] if "GetDeviceInformation refused" in w]
    assert len(refused) == len(REFUSING)
    kinds = [a["kind"] for a in secret_office.audit()]
    assert kinds.count("onvif_authenticated_read") == len(ACCEPTING)
    assert kinds.count("bad_credentials") == len(REFUSING)


@pytest.mark.lab
def test_an_onvif_device_outside_the_hosts_list_gets_no_login(
    secret_office: Any, secret_run: dict[str, Any]
) -> None:
    ips = {p.name: p.ip for p in secret_office.personas}
    devices = {d["ip"]: d for d in secret_run["doc"]["devices"]}
    for name in ROGUE:
        ip = ips[name]
        protocols = {e["protocol"] for e in devices[ip]["evidence"]}
        assert "onvif_datetime" in protocols  # it was asked the time, as any ONVIF device
        assert "onvif_device_info" not in protocols
        seen = [a for a in secret_office.audit() if a.get("ip") == ip]
        assert not [a for a in seen if "credentials" in a["kind"] or "authenticated" in a["kind"]]
        assert any(ip in w and "no login sent" in w for w in secret_run["doc"]["scan"]["warnings"])


@pytest.mark.lab
def test_no_output_of_the_scan_or_its_reports_holds_the_password(
    secret_run: dict[str, Any],
) -> None:
    for what, data in secret_run["outputs"].items():
        assert data or what.endswith(("messages", "stderr")), f"{what} is empty"
        assert_no_secret(data, what)
    for warning in secret_run["doc"]["scan"]["warnings"]:
        assert_no_secret(warning, "a warning")
    for path in secret_run["tmp"].iterdir():
        if path.name != "onvif.yaml":
            assert_no_secret(path.read_bytes(), path.name)


@pytest.mark.lab
def test_the_devices_never_saw_the_password_either(
    secret_office: Any, secret_run: dict[str, Any]
) -> None:
    # The audit log records every credential a device received (user name only); the
    # digest travels, the password does not, so no device log can hold it.
    assert_no_secret(secret_office.audit_path.read_bytes(), "the device audit log")


# -- in process: reprs, requests, logs, exceptions -------------------------------------------


def test_credentials_repr_and_str_hide_the_password(tmp_path: Path) -> None:
    creds = load_credentials(write_credentials(tmp_path / "c.yaml"))
    assert creds.password == MARKER
    for text in (
        repr(creds),
        str(creds),
        f"{creds}",
        f"{creds!r}",
        repr([creds]),
        repr({1: creds}),
    ):
        assert_no_secret(text, "a repr")


def test_the_request_carries_a_digest_not_the_password() -> None:
    body = build_get_device_information(
        Credentials(USER, MARKER), datetime(2026, 1, 1, tzinfo=UTC), b"\x01" * 16
    )
    assert_no_secret(body, "the GetDeviceInformation request")
    assert b"PasswordDigest" in body and USER.encode() in body


class EchoingDevice:
    """A hostile ONVIF device: answers the time, then echoes our GetDeviceInformation request
    back in a fault, a 500 page, a broken XML answer, or drops the connection."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[bytes] = []

    async def __aenter__(self) -> EchoingDevice:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length: (\d+)", head)
            body = await reader.readexactly(int(match.group(1)) if match else 0)
            self.requests.append(head + body)
            if b"GetSystemDateAndTime" in body:
                status, answer = "200 OK", TIME_ANSWER
            elif self.mode == "drop":
                writer.transport.abort()
                return
            elif self.mode == "fault":
                status, answer = "400 Bad Request", FAULT % body.replace(b"<", b"&lt;")
            elif self.mode == "broken":
                status, answer = "200 OK", b"<s:Envelope>" + body
            else:
                status, answer = "500 Internal Server Error", b"<html>" + head + body
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/soap+xml\r\n"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


TIME_ANSWER = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">'
    b"<s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime>"
    b"<tt:Date><tt:Year>2026</tt:Year><tt:Month>1</tt:Month><tt:Day>2</tt:Day></tt:Date>"
    b"<tt:Time><tt:Hour>3</tt:Hour><tt:Minute>4</tt:Minute><tt:Second>5</tt:Second></tt:Time>"
    b"</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    b"</s:Body></s:Envelope>"
)
FAULT = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    b"<s:Body><s:Fault><s:Code><s:Value>%s</s:Value></s:Code></s:Fault></s:Body></s:Envelope>"
)


@pytest.mark.parametrize("mode", ["fault", "broken", "page", "drop"])
async def test_a_device_echoing_the_request_gets_no_password_into_warnings_or_logs(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with EchoingDevice(mode) as device:
        ctx = ScanContext(
            targets=[IPv4Network("127.0.0.1/32")],
            interface=None,
            local_ip="127.0.0.1",
            settings=ScanSettings(io_timeout=2.0),
            credentials=Credentials(USER, MARKER, (IPv4Network("127.0.0.1/32"),)),
        )
        await OnvifModule(web_ports=(device.port,)).probe(ctx, "127.0.0.1", {device.port})
    assert len(device.requests) == 2  # the time, then one GetDeviceInformation
    assert_no_secret(b"".join(device.requests), "what the device received")
    for text in ctx.warnings + [e.value for e in ctx.evidence] + list(ctx.notes.values()):
        assert_no_secret(str(text), "a warning or evidence")
    assert_no_secret(caplog.text, "the log")


def test_parse_errors_of_an_echoed_request_hold_no_password() -> None:
    from camscan.discovery.onvif import parse_device_information

    body = build_get_device_information(Credentials(USER, MARKER), datetime.now(UTC), b"\x02" * 16)
    for data in (body, FAULT % body, b"<html>" + body):
        try:
            parse_device_information(data)
        except ParseError as exc:
            assert_no_secret(str(exc), "a parse error")
