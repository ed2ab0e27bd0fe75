"""The HTML diff report: one self-contained file (inline CSS, SVG and JS; no external asset).

Summary cards on top, an SVG chart of in-sync vs pending objects per experiment, then sortable and
filterable tables. Written piece by piece to its output; above a threshold the object table keeps
only differing objects (up to the threshold) and the per-experiment table carries the rest.
The URL fragment presets the object table, for links that show one slice:
`report.html#sig=*&q=alpha&sort=-3` (sigil, filter text, 1-based column to sort by, negative for
descending).
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from itertools import islice
from typing import TextIO

from syncer.core.kinds import plural
from syncer.report.diff_summary import COPY_TOTALS, Summary
from syncer.report.model import SUMMARY_THRESHOLD, Report
from syncer.report.rows import GroupStats
from syncer.report.text import detail

_CHART_BARS = 40
_COLORS = {"in_sync": "#2e7d32", "pending": "#f9a825", "extra": "#78909c", "errors": "#c62828"}

_CSS = """
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
margin:0;
color:#1c2330;background:#f5f6f8}main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .5em}
.ends{color:#555;word-break:break-all;font-size:.9em}.verdict{display:inline-block;padding:4px 10px;
border-radius:14px;font-weight:600;color:#fff}.ok{background:#2e7d32}.todo{background:#ef6c00}
.bad{background:#c62828}.cards{display:grid;
grid-template-columns:repeat(auto-fill,minmax(150px,1fr));
gap:10px;margin:12px 0}.card{background:#fff;border-radius:8px;padding:10px 12px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}.card b{display:block;font-size:1.5em}.card span{color:#555;
font-size:.85em}.note{color:#555;font-size:.88em}.scroll{overflow-x:auto;background:#fff;
border-radius:8px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{padding:6px 8px;border-bottom:1px solid #e6e8ec;text-align:left;vertical-align:top}
th{background:#eef0f4;cursor:pointer;user-select:none;white-space:nowrap;position:sticky;top:0}
th.num,td.num{text-align:right}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}td.sig{font:700 1.05em ui-monospace,monospace}
.s-eq{color:#2e7d32}.s-plus{color:#1565c0}.s-star{color:#ef6c00}.s-minus{color:#546e7a}
.s-bang{color:#c62828}
td.det{word-break:break-word;color:#333}td.obj{min-width:14em}.filters{display:flex;flex-wrap:wrap;
gap:8px;margin:8px 0}
.filters input,.filters select{font:inherit;padding:6px 8px;border:1px solid #c7ccd4;
border-radius:6px}
.filters input{flex:1 1 220px}
.chart{background:#fff;border-radius:8px;padding:8px 10px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.bar{display:grid;grid-template-columns:minmax(80px,30%) 1fr auto;gap:8px;align-items:center;
margin:4px 0}
.bar .name{font-size:.85em;overflow-wrap:anywhere;text-align:right}.bar svg{width:100%;height:16px;
background:#eef0f4;border-radius:3px}.bar .frac{font-size:.8em;color:#555;min-width:3em}
.legend span{display:inline-block;margin-right:12px;font-size:.85em}.legend i{display:inline-block;
width:10px;height:10px;margin-right:4px;border-radius:2px}
@media (max-width:600px){body{font-size:14px}main{padding:10px}td.det{min-width:160px}
.col-exp{display:none}
td.obj{min-width:9em}th{white-space:normal}.card b{font-size:1.25em}}
"""

_JS = """
(function(){
function key(td,num){var v=td.getAttribute('data-v')||td.textContent;
 return num?parseFloat(v)||0:v.toLowerCase();}
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var asc=th.getAttribute('aria-sort')!=='ascending',num=th.classList.contains('num');
  t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){var x=key(a.cells[i],num),y=key(b.cells[i],num);
   return (x<y?-1:x>y?1:0)*(asc?1:-1);});
  rows.forEach(function(r){body.appendChild(r);});});});});
var q=document.getElementById('q'),s=document.getElementById('sig'),
 t=document.getElementById('objects');
function filter(){if(!t)return;
 var text=q.value.toLowerCase(),sig=s.value,n=0,rows=t.tBodies[0].rows;
 for(var i=0;i<rows.length;i++){var r=rows[i],ok=(!sig||r.getAttribute('data-sigil')===sig)&&
  (!text||r.textContent.toLowerCase().indexOf(text)>=0);r.style.display=ok?'':'none';n+=ok?1:0;}
 document.getElementById('shown').textContent=n+' of '+rows.length+' rows shown';}
if(q){q.addEventListener('input',filter);s.addEventListener('change',filter);
 var h=new URLSearchParams(location.hash.slice(1));q.value=h.get('q')||'';s.value=h.get('sig')||'';
 var col=parseInt(h.get('sort')||'0',10),th=col&&t.tHead.rows[0].cells[Math.abs(col)-1];
 if(th){th.click();if(col<0)th.click();}filter();}
})();
"""

_SIG_ORDER = {"!": 0, "*": 1, "+": 2, "-": 3, "=": 4}  # sorting by sigil puts problems first
_SIG_CLASS = {"=": "s-eq", "+": "s-plus", "*": "s-star", "-": "s-minus", "!": "s-bang"}


def write(
    report: Report, summary: Summary, out: TextIO, threshold: int = SUMMARY_THRESHOLD
) -> None:
    """Write the whole HTML report to `out`."""
    for chunk in _chunks(report, summary, threshold):
        out.write(chunk)


def _chunks(report: Report, summary: Summary, threshold: int) -> Iterator[str]:
    yield (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mlflow-syncer diff report</title><style>{_CSS}</style></head><body><main>\n"
    )
    yield from _header(report, summary)
    yield from _uncopied(summary)
    yield from _notes(summary)
    yield from _chart(summary.groups)
    yield from _groups_table(summary.groups)
    yield from _objects(report, summary, threshold)
    yield f"</main><script>{_JS}</script></body></html>\n"


def _card(key: str, value: int | None, label: str, shown: str | None = None) -> str:
    """One summary card; `value` None (a total not counted) leaves data-value empty."""
    data = "" if value is None else value
    return (
        f'<div class="card" data-summary="{key}" '
        f'data-value="{data}"><b>{escape(shown or f"{value:,}")}</b>'
        f"<span>{escape(label)}</span></div>"
    )


def _header(report: Report, summary: Summary) -> Iterator[str]:
    cls = "bad" if summary.errors else "ok" if summary.in_sync else "todo"
    verdict = summary.verdict()
    yield "<h1>mlflow-syncer diff report</h1>"
    yield (
        f'<p class="ends">{escape(report.source or "?")} &rarr; '
        f"{escape(report.destination or '?')}</p>"
        f'<p><span class="verdict {cls}" id="verdict">{escape(verdict)}</span></p>'
    )
    sig = summary.sigils
    yield (
        '<div class="cards">'
        + "".join(
            [
                _card("objects", summary.total, "objects compared"),
                _card("same", sig["="], "= in sync"),
                _card("create", sig["+"], "+ only in source"),
                _card("update", sig["*"], "* differ"),
                _card("extra", sig["-"], "- only in destination"),
                _card("errors", sig["!"], "! errors"),
                _card("uncopied", summary.uncopied_objects, "! source objects not copied"),
                *(
                    _card(
                        name,
                        summary.copy_total(name),
                        f"{name.replace('_', ' ')} to copy",
                        summary.shown(name),
                    )
                    for name in COPY_TOTALS
                ),
            ]
        )
        + "</div>"
    )
    mode = (
        "deep: every metric point and artifact checksum compared"
        if summary.deep
        else "fast: runs that look in sync were not opened (--deep compares every point and "
        "checksum, slower)"
    )
    yield f'<p class="note">Copy totals: {escape(summary.copy_note())}. Mode: {escape(mode)}.</p>\n'
    yield '<h2>By kind</h2><div class="scroll"><table class="sortable"><thead><tr><th>kind</th>'
    yield (
        "".join(f'<th class="num">{s}</th>' for s in "=+*-!")
        + '<th class="num">not copied</th></tr></thead><tbody>'
    )
    for kind in summary.kinds():
        cells = "".join(f'<td class="num">{summary.kind_sigils[(kind, s)]}</td>' for s in "=+*-!")
        yield (
            f"<tr><td>{escape(kind)}</td>{cells}<td "
            f'class="num">{summary.kind_uncopied[kind]}</td></tr>'
        )
    yield "</tbody></table></div>\n"


def _notes(summary: Summary) -> Iterator[str]:
    """Standing limits of the pass, once each: no difference (nothing when there are none)."""
    if not summary.notes:
        return
    yield '<h2>Notes</h2><ul id="notes">'
    for n in summary.notes:
        if n["kind"] is None:
            yield f"<li>{escape(n['note'])}</li>"
            continue
        where = f" ({escape(n['group'])})" if n["group"] else ""
        yield (
            f'<li data-kind="{escape(n["kind"])}">{escape(plural(n["kind"]))}{where} '
            f"{escape(n['note'])}</li>"
        )
    yield "</ul>\n"


def _uncopied(summary: Summary) -> Iterator[str]:
    """Source objects not copied, per kind and group, with the reason (nothing when everything is
    copied)."""
    if not summary.uncopied:
        return
    yield (
        '<h2>Not copied</h2><div class="scroll"><table class="sortable" '
        'id="uncopied"><thead><tr><th>kind</th>'
        '<th class="num">objects</th><th>where</th><th>why</th></tr></thead><tbody>'
    )
    for u in summary.uncopied:
        count = "?" if u["count"] is None else str(u["count"])
        yield (
            f'<tr data-kind="{escape(u["kind"])}"><td>{escape(plural(u["kind"]))}</td><td '
            f'class="num">{count}</td>'
            f"<td>{escape(u['group'] or '(workspace)')}</td><td "
            f'class="det">{escape(u["reason"])}</td></tr>'
        )
    yield "</tbody></table></div>\n"


def _chart(groups: list[GroupStats]) -> Iterator[str]:
    """One row per experiment: its name as text (readable at any width) and an SVG bar of its
    objects."""
    shown = sorted(groups, key=lambda g: (-(g.pending + g.errors + g.extra), g.name))[:_CHART_BARS]
    yield "<h2>In sync vs pending per experiment</h2>"
    if len(groups) > len(shown):
        yield (
            f'<p class="note">The {len(shown)} experiments with most pending objects of '
            f"{len(groups)}.</p>"
        )
    yield (
        '<p class="legend">'
        + "".join(
            f'<span><i style="background:{c}"></i>{k.replace("_", " ")}</span>'
            for k, c in _COLORS.items()
        )
        + "</p>"
    )
    yield '<div class="chart" id="chart">'
    for g in shown:
        total = max(1, g.in_sync + g.pending + g.extra + g.errors)
        rects, x = [], 0.0
        for part in ("in_sync", "pending", "extra", "errors"):
            n = getattr(g, part)
            if n:
                w = 100 * n / total
                rects.append(
                    f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="10" fill="{_COLORS[part]}" '
                    f'data-part="{part}" data-n="{n}"><title>{part.replace("_", " ")}: '
                    f"{n}</title></rect>"
                )
                x += w
        yield (
            f'<div class="bar"><span class="name" title="{escape(g.name)}">{escape(g.name)}</span>'
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 10" '
            'preserveAspectRatio="none" '
            f'role="img" aria-label="{escape(g.name)}: {g.in_sync} of {total} in '
            f'sync">{"".join(rects)}</svg>'
            f'<span class="frac">{g.in_sync}/{total}</span></div>'
        )
    yield "</div>\n"


def _groups_table(groups: list[GroupStats]) -> Iterator[str]:
    yield (
        '<h2>Per experiment</h2><div class="scroll"><table class="sortable" '
        'id="experiments"><thead><tr>'
        '<th>experiment</th><th class="num">in sync</th><th class="num">pending</th>'
        '<th class="num">only in dest.</th><th class="num">errors</th></tr></thead><tbody>'
    )
    for g in groups:
        yield (
            f'<tr><td>{escape(g.name)}</td><td class="num">{g.in_sync}</td><td '
            f'class="num">{g.pending}'
            f'</td><td class="num">{g.extra}</td><td class="num">{g.errors}</td></tr>'
        )
    yield "</tbody></table></div>\n"


def _objects(report: Report, summary: Summary, threshold: int) -> Iterator[str]:
    large = summary.total > threshold
    yield "<h2>Objects</h2>"
    if large:
        yield (
            f'<p class="note" id="truncated">{summary.total:,} objects: more than {threshold:,}, '
            f"so only "
            f"objects that differ are listed (at most {threshold:,}); the per-experiment table "
            f"above counts "
            "everything, and the text or JSON report has one line per object.</p>"
        )
    yield (
        '<div class="filters"><input id="q" type="search" placeholder="filter: name, kind, detail">'
        '<select id="sig"><option value="">all sigils</option>'
        + "".join(
            f'<option value="{s}">{s} {n}</option>'
            for s, n in (
                ("=", "in sync"),
                ("+", "only in source"),
                ("*", "differs"),
                ("-", "only in destination"),
                ("!", "error"),
            )
        )
        + '</select><span class="note" id="shown"></span></div>'
    )
    yield (
        '<div class="scroll"><table class="sortable" '
        'id="objects"><thead><tr><th>sigil</th><th>kind</th>'
        '<th>object</th><th class="col-exp">experiment</th><th>what '
        "differs</th></tr></thead><tbody>"
    )
    for row in islice(report.rows(show_same=not large), threshold):
        yield (
            f'<tr data-sigil="{escape(row.sigil)}"><td class="sig {_SIG_CLASS.get(row.sigil, "")}" '
            f'data-v="{_SIG_ORDER.get(row.sigil, 9)}">'
            f"{escape(row.sigil)}</td><td>{escape(row.kind)}</td><td "
            f'class="obj">{escape(row.label)}</td>'
            f'<td class="col-exp">{escape(row.group)}</td><td '
            f'class="det">{escape(detail(row.details))}</td></tr>'
        )
    yield "</tbody></table></div>\n"
