"""The inventory's HTML report in headless Chromium, as the plan report is checked
(tests/test_report_html_render.py: same browser flags, same isolation, same install rules):
it lays out, the chart is an inline SVG in the DOM, and hostile strings stay text."""

from __future__ import annotations

from pathlib import Path

from test_report_html_render import _png_pixels, _run, chromium  # noqa: F401 - fixture

from camscan.inventory import add_document, open_inventory
from camscan.inventory.render import render_html
from camscan.inventory.report import build_report
from camscan.inventory.synth import fleet

SCRIPT = "<script>document.title='pwned'</script>"


def test_inventory_html_renders(chromium: str, tmp_path: Path) -> None:  # noqa: F811
    conn = open_inventory(tmp_path / "inv.db")
    for site, docs in fleet(3, 4, 40, seed=5):
        for q, d in enumerate(docs):
            if site == "site-002" and q == 3:
                d["devices"][0]["model"] = SCRIPT
            add_document(conn, d, site)
    page = tmp_path / "inventory.html"
    page.write_text(render_html(build_report(conn, stale_days=30)), encoding="utf-8")
    conn.close()
    shot = tmp_path / "shot.png"
    done = _run(
        chromium, tmp_path / "p1", [f"--screenshot={shot}", "--window-size=1280,1600"], page
    )
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    width, height, pixels = _png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 1600)
    assert len(set(pixels)) > 64
    dom = _run(chromium, tmp_path / "p2", ["--dump-dom"], page).stdout.decode("utf-8", "replace")
    assert "<title>camscan inventory</title>" in dom
    assert "<svg" in dom and "<polyline" in dom and "Restricted devices over time" in dom
    assert "site-003" in dom
    assert "<script" not in dom.lower() and "&lt;script&gt;" in dom
