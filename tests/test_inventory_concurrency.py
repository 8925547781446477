"""Two real processes writing one inventory at once, and adds killed half way: the file stays
consistent (integrity_check), every scan is in it once, and a killed add leaves nothing.

Synchronisation is by pipes (a child says "ready" or "mid" and waits for a line), never by
sleeping."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from camscan.inventory import open_inventory
from camscan.inventory.synth import fleet

WRITER = textwrap.dedent(
    """
    import json, sys
    from camscan.inventory import add_document, open_inventory
    db, site, *files = sys.argv[1:]
    docs = [json.load(open(f)) for f in files]
    conn = open_inventory(db)
    print("ready", flush=True)
    sys.stdin.readline()
    out = []
    for d in docs:
        r = add_document(conn, d, site)
        out.append([r.scan_id, r.duplicate_of])
    conn.close()
    print(json.dumps(out), flush=True)
    """
)
STOPPER = textwrap.dedent(
    """
    import json, sys
    from camscan.inventory import add_document, open_inventory
    db, site, path = sys.argv[1:]
    conn = open_inventory(db)
    def progress(n):
        if n == 50:
            print("mid", flush=True)
            sys.stdin.readline()   # blocks until the parent kills us
    add_document(conn, json.load(open(path)), site, progress=progress)
    print("finished", flush=True)
    """
)


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def expect_line(p: subprocess.Popen[str], want: str) -> None:
    """The child's next line is `want`; if it died first, its stderr is the failure."""
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if line != want:
        p.kill()
        _, err = p.communicate(timeout=60)
        pytest.fail(f"child said {line!r}, not {want!r}; stderr: {err.strip()[-2000:]}")


def snapshot(db: Path) -> tuple[int, int, int, str]:
    with closing(sqlite3.connect(db)) as c:
        scans, devices, sightings = (
            c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("scans", "devices", "sightings")
        )
        return scans, devices, sightings, c.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    base = tmp_path_factory.mktemp("docs")
    out: dict[str, list[Path]] = {}
    for site, quarter_docs in fleet(2, 3, 400, seed=11):
        for q, d in enumerate(quarter_docs):
            p = base / f"{site}-q{q}.json"
            p.write_text(json.dumps(d))
            out.setdefault(site, []).append(p)
    return out


def test_two_writers_at_once(tmp_path: Path, docs: dict[str, list[Path]]) -> None:
    db = tmp_path / "inv.db"
    open_inventory(db).close()
    (a_site, a_docs), (b_site, b_docs) = docs.items()
    # both also add the other's first quarter: the same scan from two processes is added once
    a = spawn(WRITER, str(db), a_site, *map(str, a_docs))
    b = spawn(WRITER, str(db), b_site, *map(str, b_docs))
    for p in (a, b):
        expect_line(p, "ready")
    for p in (a, b):
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in (a, b):
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    scans, devices, sightings, ok = snapshot(db)
    assert ok == "ok"
    assert scans == 6
    with closing(open_inventory(db)) as c:
        per_scan = c.execute("SELECT sum(devices) FROM scans").fetchone()[0]
        assert sightings == per_scan
        # every device belongs to one site only (the fleets share no MAC)
        assert (
            c.execute(
                "SELECT count(*) FROM (SELECT device_id FROM sightings GROUP BY device_id "
                "HAVING count(DISTINCT site_id) > 1)"
            ).fetchone()[0]
            == 0
        )
    assert devices > 800


def test_the_same_scan_from_two_processes_is_added_once(
    tmp_path: Path, docs: dict[str, list[Path]]
) -> None:
    db = tmp_path / "inv.db"
    site, files = next(iter(docs.items()))
    procs = [spawn(WRITER, str(db), site, str(files[0])) for _ in range(2)]
    for p in procs:
        expect_line(p, "ready")
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        outcomes.append(json.loads(out)[0])
    assert sorted(dup is None for _, dup in outcomes) == [False, True]
    assert snapshot(db)[0] == 1 and snapshot(db)[3] == "ok"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_add_leaves_the_file_as_it_was(
    tmp_path: Path, docs: dict[str, list[Path]], sig: signal.Signals
) -> None:
    db = tmp_path / "inv.db"
    site, files = next(iter(docs.items()))
    with closing(open_inventory(db)) as c:
        from camscan.inventory import add_document

        add_document(c, json.loads(files[0].read_text()), site)
    before = snapshot(db)
    p = spawn(STOPPER, str(db), site, str(files[1]))
    expect_line(p, "mid")
    # 50 devices are written inside the open transaction; the writer is stopped now
    p.send_signal(sig)
    out, _ = p.communicate(timeout=60)
    assert "finished" not in out and p.returncode != 0
    assert snapshot(db) == before
    # and the file takes the same scan afterwards
    with closing(open_inventory(db)) as c:
        from camscan.inventory import add_document

        res = add_document(c, json.loads(files[1].read_text()), site)
        assert res.duplicate_of is None
    assert snapshot(db)[0] == before[0] + 1
