"""One self-contained HTML file: inline CSS, an inline SVG chart, the summary, the plan, the
policy and every device with its evidence in <details>. Nothing is fetched when it is opened
(a Content-Security-Policy forbids it), there is no script, and every value taken from the
device list goes through `esc` (HTML-escaped, control characters made visible)."""

from __future__ import annotations

from typing import Any

from camscan import __version__
from camscan.policy.plan import CONTINGENT, PRIORITY_LABELS, REQUIRED, Plan
from camscan.report.context import ReportContext, maker, money, priority
from camscan.report.sanitize import html_text as esc
from camscan.report.svg import PRIORITY_COLOURS, bar_chart

EVIDENCE_LIMIT = 1200
MAX_IPS_PER_ROW = 20
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"
CSS = """
:root { --fg:#1d2530; --muted:#5f6b7a; --line:#d9dee5; --bg:#f6f7f9; --red:#c0392b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); margin: 0; background: #fff; }
header { background: #1f2d3d; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9d3de; }
main { padding: 8px 28px 40px; max-width: 1500px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px;
     border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 6px;
        padding: 10px 16px; min-width: 130px; }
.card b { display: block; font-size: 24px; }
.card span { color: var(--muted); font-size: 12px; }
.card.bad b { color: var(--red); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; }
table.compact { width: auto; min-width: 480px; }
table.devices { table-layout: fixed; }
table.devices td { overflow-wrap: anywhere; }
details table { table-layout: auto; }
td.nowrap { white-space: nowrap; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
         vertical-align: top; }
th { background: var(--bg); font-weight: 600; font-size: 12px; text-transform: uppercase;
     letter-spacing: .03em; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.restricted > td:first-child { border-left: 4px solid var(--red); }
tr.device > td { border-bottom: none; }
tr.more > td { padding-top: 0; }
tr.more.restricted > td:first-child { border-left: 4px solid var(--red); }
.tag { display: inline-block; border-radius: 3px; padding: 0 5px; margin: 1px 2px 1px 0;
       font-size: 12px; background: #eef1f5; }
.tag.r { background: #fbe3e0; color: #8e1b12; font-weight: 600; }
.tag.v { background: #fff0d6; color: #7a4b00; }
.prio { display: inline-block; min-width: 26px; text-align: center; border-radius: 3px;
        color: #fff; font-weight: 700; padding: 0 4px; }
.muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
details summary { cursor: pointer; color: #2b5d99; }
details table { margin-top: 6px; }
details td { font-size: 12px; }
td.val { white-space: pre-wrap; word-break: break-all; max-width: 640px; }
ul.reasons { margin: 2px 0; padding-left: 18px; }
svg.chart text { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: #1d2530; }
footer { color: var(--muted); font-size: 12px; margin-top: 30px; }
"""


def _table(head: list[str], rows: list[str], cls: str = "", widths: tuple[str, ...] = ()) -> str:
    """head: column titles (a leading '#' right-aligns the column); rows: ready <tr> markup;
    widths: optional CSS widths per column (so tables of one kind line up)."""
    cells = "".join(
        f"<th class=num>{h[1:]}</th>" if h.startswith("#") else f"<th>{h}</th>" for h in head
    )
    cols = "".join(f'<col style="width:{w}">' for w in widths)
    attr = f' class="{cls}"' if cls else ""
    colgroup = f"<colgroup>{cols}</colgroup>" if cols else ""
    return f"<table{attr}>{colgroup}<tr>{cells}</tr>{''.join(rows)}</table>"


def _prio(p: int | None) -> str:
    if p is None:
        return '<span class="muted">-</span>'
    colour = PRIORITY_COLOURS.get(p, "#888")
    return f'<span class="prio" style="background:{colour}">P{p}</span>'


def _tags(items: list[str], cls: str) -> str:
    return "".join(f'<span class="tag {cls}">{esc(i)}</span>' for i in items)


def _list(items: list[Any], limit: int = 400) -> str:
    return "<ul class=reasons>" + "".join(f"<li>{esc(x, limit)}</li>" for x in items) + "</ul>"


def _summary(ctx: ReportContext) -> str:
    s, counts = ctx.summary, ctx.plan.counts
    exploited = sum(1 for g in ctx.groups for d in g.devices if d.get("vulnerabilities"))
    cards = [
        ("devices", s.get("total", 0), ""),
        ("surveillance", s.get("surveillance", 0), ""),
        ("restricted", s.get("restricted", 0), "bad" if s.get("restricted") else ""),
        ("known exploited firmware", exploited, "bad" if exploited else ""),
        ("to verify (P3)", counts.get(3, 0), ""),
    ]
    if ctx.plan.priced:
        cards.append(("budget P1-P2", money(ctx.plan.required_total), ""))
    body = "".join(
        f'<div class="card {cls}"><b>{esc(v)}</b><span>{esc(label)}</span></div>'
        for label, v, cls in cards
    )
    return f'<div class="cards">{body}</div>'


def _policy(ctx: ReportContext) -> str:
    rows = []
    for ref in ctx.regimes:
        r = ref.regime
        if r is None:
            rows.append(
                f"<tr><td><code>{esc(ref.id)}</code></td>"
                "<td colspan=5 class=muted>not known to this camscan</td></tr>"
            )
            continue
        links = " ".join(
            f'<a href="{esc(u, 1000)}" rel="noreferrer noopener">[{i}]</a>'
            for i, u in enumerate(r.sources, 1)
        )
        kind = " <span class='tag v'>watch list</span>" if r.is_watch else ""
        covers = esc(", ".join(r.manufacturers)) + (" + relabels" if r.relabels else "")
        rows.append(
            f"<tr><td><code>{esc(r.id)}</code></td><td>{esc(r.name)}{kind}</td>"
            f"<td class=nowrap>{esc(r.date)}</td><td>{_tags(list(r.scope), '')}</td>"
            f"<td>{covers}</td><td>{links}</td></tr>"
        )
    return _table(["Id", "Regime", "Date", "Scope", "Covers", "Sources"], rows)


def _plan(plan: Plan) -> str:
    counts = [
        f"<tr><td>{_prio(p)}</td><td>{esc(label)}</td><td class=num>{plan.counts.get(p, 0)}</td>"
        + (f"<td class=num>{money(plan.budget.get(p, 0.0))}</td>" if plan.priced else "")
        + "</tr>"
        for p, label in PRIORITY_LABELS.items()
    ]
    head = ["Priority", "Meaning", "#Devices", *(["#Cost"] if plan.priced else [])]
    out = [_table(head, counts, "compact")]
    if plan.priced:
        missing = sum(plan.unpriced.get(p, 0) for p in (*REQUIRED, *CONTINGENT))
        note = f" <span class=muted>{missing} device(s) to act on have no price.</span>"
        out.append(
            f"<p><b>Budget, must replace (P1-P2): {money(plan.required_total)}</b>; "
            f"if verification or review confirms (P3-P4): {money(plan.contingent_total)}."
            f"{note if missing else ''}</p>"
        )
    rows = []
    for r in plan.rows:
        more = " …" if len(r.ips) > MAX_IPS_PER_ROW else ""
        ips = esc(", ".join(r.ips[:MAX_IPS_PER_ROW]) + more, 2000)
        who = esc(maker({"manufacturer": r.manufacturer, "brand": r.brand}))
        cost = f"<td class=num>{money(r.unit_cost)}</td><td class=num>{money(r.cost)}</td>"
        rows.append(
            f"<tr><td>{_prio(r.priority)}</td><td class=num>{r.count}</td><td>{who}</td>"
            f"<td>{esc(r.model)}</td><td>{esc(r.device_type)}</td>{cost if plan.priced else ''}"
            f"<td>{_list(r.reasons)}<span class='muted mono'>{ips}</span></td></tr>"
        )
    costs = ["#Unit", "#Cost"] if plan.priced else []
    head = ["Prio", "#Count", "Maker (brand)", "Model", "Type", *costs, "Why"]
    out.append(f"<h3>What to replace</h3>{_table(head, rows)}")
    locs = [
        f"<tr><td class=mono>{esc(loc.location)}</td>"
        + "".join(f"<td class=num>{loc.counts.get(p) or ''}</td>" for p in PRIORITY_LABELS)
        + f"<td class=num>{loc.total}</td></tr>"
        for loc in plan.locations
    ]
    head = ["Location (subnet)", *(f"#P{p}" for p in PRIORITY_LABELS), "#Total"]
    out.append(f"<h3>By location</h3>{_table(head, locs, 'compact')}")
    return "".join(out)


def _details(d: dict[str, Any]) -> str:
    parts = []
    reasons = (d.get("replacement") or {}).get("reasons") or []
    if reasons:
        parts.append(f"<b>Plan</b>{_list(reasons)}")
    vulns = d.get("vulnerabilities") or []
    if vulns:
        items = "".join(
            f"<li><code>{esc(v.get('id'))}</code> {esc(v.get('status', 'affected'))}: "
            f"{esc(v.get('reason'), 800)}</li>"
            for v in vulns
        )
        parts.append(f"<b>Known exploited firmware</b><ul class=reasons>{items}</ul>")
    if d.get("notes"):
        parts.append(f"<b>Notes</b>{_list(d['notes'])}")
    services = [
        f"{s.get('port')}/{s.get('transport')} {s.get('name') or ''}".strip()
        for s in d.get("services") or []
    ]
    if services:
        parts.append(f"<b>Services</b> {_tags(services, '')}")
    evidence = d.get("evidence") or []
    rows = [
        f"<tr><td>{esc(e.get('module'))}</td><td>{esc(e.get('protocol'))}</td>"
        f"<td class=num>{esc(e.get('port'))}</td>"
        f"<td class=val>{esc(e.get('value'), EVIDENCE_LIMIT, newlines=True)}</td>"
        f"<td class=mono>{esc(e.get('rule'))}</td></tr>"
        for e in evidence
    ]
    if rows:
        parts.append(_table(["Module", "Protocol", "#Port", "Value", "Rule"], rows))
    if not parts:
        return ""
    summary = f"details, {len(evidence)} evidence item(s)"
    return f"<details><summary>{summary}</summary>{''.join(parts)}</details>"


_DEVICE_HEAD = ["IP / MAC", "Maker (brand)", "Model", "Firmware", "Type", "Restricted by",
                "Known exploited", "Prio"]  # fmt: skip
_DEVICE_WIDTHS = ("13%", "12%", "14%", "15%", "7%", "18%", "16%", "5%")


def _device_row(d: dict[str, Any]) -> str:
    restricted = d.get("restricted_by") or []
    vulns = [
        f"{v.get('id')}{' (possibly)' if v.get('status') == 'possibly-affected' else ''}"
        for v in d.get("vulnerabilities") or []
    ]
    flag = " restricted" if restricted else ""
    where = f"{esc(d.get('ip'))}<br><span class=muted>{esc(d.get('mac'))}</span>"
    if d.get("hostname"):
        where += f"<br><span class=muted>{esc(d['hostname'], 80)}</span>"
    details = _details(d)
    more = (
        f'<tr class="more{flag}"><td colspan={len(_DEVICE_HEAD)}>{details}</td></tr>'
        if details
        else ""
    )
    return (
        f'<tr class="{"device" if details else "single"}{flag}"><td class=mono>{where}</td>'
        f"<td>{esc(maker(d))}</td><td>{esc(d.get('model'))}</td>"
        f"<td class=mono>{esc(d.get('firmware'), 80)}</td><td>{esc(d.get('device_type'))}</td>"
        f"<td>{_tags(restricted, 'r')}</td><td>{_tags(vulns, 'v')}</td>"
        f"<td>{_prio(priority(d))}</td></tr>{more}"
    )


def _devices(ctx: ReportContext) -> str:
    out = []
    for g in ctx.groups:
        flag = f' <span class="tag r">{g.restricted} restricted</span>' if g.restricted else ""
        count = f"<span class=muted>({len(g.devices)})</span>"
        out.append(f"<h3>{esc(g.manufacturer)} {count}{flag}</h3>")
        out.append(
            _table(_DEVICE_HEAD, [_device_row(d) for d in g.devices], "devices", _DEVICE_WIDTHS)
        )
    if ctx.others:
        table = _table(
            _DEVICE_HEAD, [_device_row(d) for d in ctx.others], "devices", _DEVICE_WIDTHS
        )
        out.append(
            f"<details><summary>{len(ctx.others)} other device(s): not surveillance, not "
            f"covered by a selected regime</summary>{table}</details>"
        )
    return "".join(out)


def _header(ctx: ReportContext) -> str:
    scan = ctx.scan
    targets = ", ".join(map(str, scan.get("targets") or [])) or "-"
    policy = ", ".join(r.id for r in ctx.regimes) or "-"
    when = f"{esc(scan.get('started_at'))} – {esc(scan.get('finished_at'))}"
    return (
        "<header><h1>camscan report</h1>"
        f"<p>{esc(scan.get('mode'))} scan {when} · targets {esc(targets)} · "
        f"policy {esc(policy)}</p></header>"
    )


def render_html(ctx: ReportContext) -> str:
    scan = ctx.scan
    partial = (
        "<p class='tag v'>Partial scan: interrupted before it finished.</p>"
        if scan.get("partial")
        else ""
    )
    warnings = _list(scan["warnings"]) if scan.get("warnings") else ""
    in_scope = [d for g in ctx.groups for d in g.devices]
    footer = (
        f"<footer>camscan {esc(scan.get('camscan_version'))} wrote the device list; camscan "
        f"{esc(__version__)} wrote this report. Vulnerabilities are matched from the firmware "
        "versions devices reported; nothing was sent to test them.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>camscan report</title><style>{CSS}</style></head><body>"
        f"{_header(ctx)}<main>{partial}{_summary(ctx)}{warnings}"
        f"<h2>Surveillance devices by manufacturer</h2>{bar_chart(in_scope)}"
        f"<h2>Replacement plan</h2>{_plan(ctx.plan)}"
        f"<h2>Policy</h2>{_policy(ctx)}"
        f"<h2>Devices</h2>{_devices(ctx)}"
        f"{footer}</main></body></html>\n"
    )
