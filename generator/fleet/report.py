"""Fleet reports: a Rich table for people, JSON for machines, one self-contained HTML page for browsers."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from generator.fleet.outcome import Outcome
from generator.fleet.status import TenantStatus


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _tenants(n: int) -> str:
    return _count(n, "tenant")


STATE_COLOURS = {"current": "green", "behind": "yellow", "drifted": "dark_orange", "error": "red"}


def status_table(rows: Sequence[TenantStatus]) -> Table:
    table = Table(title=f"fleet: {_tenants(len(rows))}")
    for col in ("tenant", "labels", "version", "latest", "state", "drift", "upgrade branches", "last gate"):
        table.add_column(col)
    for r in rows:
        colour = STATE_COLOURS[r.state]
        drift = "?" if r.drift is None else (_count(len(r.drift), "file") if r.drift else "none")
        table.add_row(
            r.tenant,
            ",".join(f"{k}={v}" for k, v in sorted(r.labels.items())),
            r.version or "-",
            r.latest or "-",
            f"[{colour}]{r.state}[/{colour}]" + (f" ({r.problem})" if r.problem else ""),
            drift,
            ", ".join(r.upgrade_branches) or "-",
            r.last_gate or "-",
        )
    return table


def status_summary(rows: Sequence[TenantStatus]) -> str:
    counts = Counter(r.state for r in rows)
    parts = [f"{counts[s]} {s}" for s in STATE_COLOURS if counts[s]]
    return f"fleet status: {_tenants(len(rows))}, " + ", ".join(parts)


def status_json(rows: Sequence[TenantStatus]) -> str:
    return json.dumps(
        {"summary": status_summary(rows), "tenants": [r.as_json() for r in rows]}, indent=2, sort_keys=False
    )


def upgrade_table(outcomes: Sequence[Outcome]) -> Table:
    table = Table(title="fleet upgrade")
    waves = any(o.wave for o in outcomes)
    columns = ["tenant", *(["wave"] if waves else []), "status", "from", "to", "detail"]
    for col in columns:
        table.add_column(col, overflow="fold")
    for o in outcomes:
        colour = o.status.colour
        detail = o.merge_request or o.message
        if o.files:
            detail = f"{detail} [{', '.join(o.files[:5])}]"
        row = [o.tenant, *([o.wave or "-"] if waves else []), f"[{colour}]{o.status}[/{colour}]"]
        table.add_row(*row, o.from_version or "-", o.to_version, detail)
    return table


def upgrade_summary(outcomes: Sequence[Outcome], target: str) -> str:
    counts = Counter(str(o.status) for o in outcomes)
    failing = sum(1 for o in outcomes if not o.status.ok)
    word = "passed" if failing == 0 else "failed"
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"fleet upgrade to {target} {word}: {_tenants(len(outcomes))}, {detail}"


def upgrade_json(outcomes: Sequence[Outcome], target: str, dry_run: bool) -> str:
    return json.dumps(
        {
            "summary": upgrade_summary(outcomes, target),
            "target": target,
            "dry_run": dry_run,
            "ok": all(o.status.ok for o in outcomes),
            "tenants": [o.as_json() for o in outcomes],
        },
        indent=2,
    )


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d232a}
h1{font-size:1.3rem;margin:0 0 .3rem}
.meta{color:#5a6470;margin-bottom:1rem}
.filters{display:flex;gap:.6rem;flex-wrap:wrap;margin-bottom:.8rem;align-items:center}
.filters input,.filters select{font:inherit;padding:.25rem .4rem}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d8dde3;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f5;position:sticky;top:0}
td.state{font-weight:600}
tr.current td.state{background:#d3f9d8;color:#1b5e20}
tr.behind td.state{background:#fff3bf;color:#7a5b00}
tr.drifted td.state{background:#ffe8cc;color:#8a4b00}
tr.error td.state{background:#ffe3e3;color:#a61e1e}
.label{display:inline-block;background:#e7f1ff;border-radius:3px;padding:0 .3rem;margin:0 .2rem .1rem 0}
details summary{cursor:pointer}
.counts span{margin-right:.8rem}
"""

_JS = """
(function(){
  var rows=[].slice.call(document.querySelectorAll('#fleet tbody tr'));
  var q=document.getElementById('q'),st=document.getElementById('state'),ve=document.getElementById('version');
  function fromHash(){
    var p=new URLSearchParams(location.hash.slice(1));
    q.value=p.get('q')||'';st.value=p.get('state')||'';ve.value=p.get('version')||'';
  }
  function apply(write){
    var words=q.value.toLowerCase().split(/\\s+/).filter(Boolean),shown=0;
    rows.forEach(function(r){
      var text=r.getAttribute('data-search');
      var ok=words.every(function(w){return text.indexOf(w)>=0;})
        &&(!st.value||r.getAttribute('data-state')===st.value)
        &&(!ve.value||r.getAttribute('data-version')===ve.value);
      r.hidden=!ok;if(ok)shown++;
    });
    document.getElementById('shown').textContent=shown+' of '+rows.length+' tenants shown';
    if(write){
      var p=new URLSearchParams();
      if(q.value)p.set('q',q.value);if(st.value)p.set('state',st.value);if(ve.value)p.set('version',ve.value);
      history.replaceState(null,'','#'+p.toString());
    }
  }
  [q,st,ve].forEach(function(el){el.addEventListener('input',function(){apply(true);});});
  window.addEventListener('hashchange',function(){fromHash();apply(false);});
  fromHash();apply(false);
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def status_html(rows: Sequence[TenantStatus], title: str = "tenantforge fleet status") -> str:
    """One file, no external resources: a filterable, coloured table (filters also from `#q=..&state=..`)."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    counts = Counter(r.state for r in rows)
    versions = sorted({r.version for r in rows if r.version})
    body_rows = []
    for r in rows:
        labels = " ".join(f'<span class="label">{_e(k)}={_e(v)}</span>' for k, v in sorted(r.labels.items()))
        if r.drift is None:
            drift = "?"
        elif r.drift:
            items = "".join(f"<li>{_e(f)}</li>" for f in r.drift)
            noun = "file" if len(r.drift) == 1 else "files"
            drift = f"<details><summary>{len(r.drift)} {noun}</summary><ul>{items}</ul></details>"
        else:
            drift = "none"
        search = " ".join(
            [r.tenant, r.state, r.version or "", r.latest or "", *(f"{k}={v}" for k, v in r.labels.items())]
        ).lower()
        state_text = r.state + (f": {r.problem}" if r.problem else "")
        body_rows.append(
            f'<tr class="{_e(r.state)}" data-state="{_e(r.state)}" data-version="{_e(r.version or "")}" '
            f'data-search="{_e(search)}"><td class="tenant">{_e(r.tenant)}</td><td>{labels}</td>'
            f"<td>{_e(r.version or '-')}</td><td>{_e(r.latest or '-')}</td>"
            f'<td class="state">{_e(state_text)}</td><td>{drift}</td>'
            f"<td>{_e(', '.join(r.upgrade_branches) or '-')}</td><td>{_e(r.last_upgrade or '-')}</td>"
            f"<td>{_e(r.last_gate or '-')}</td></tr>"
        )
    state_options = "".join(f'<option value="{s}">{s} ({counts[s]})</option>' for s in STATE_COLOURS)
    version_options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in versions)
    count_spans = "".join(f'<span class="{s}">{counts[s]} {s}</span>' for s in STATE_COLOURS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><h1>{_e(title)}</h1>
<div class="meta">{len(rows)} tenants · generated {generated} · <span class="counts">{count_spans}</span></div>
<div class="filters">
<input id="q" type="search" placeholder="filter: name, label (tier=gold), version" aria-label="filter" size="40">
<select id="state" aria-label="state"><option value="">every state</option>{state_options}</select>
<select id="version" aria-label="version"><option value="">every version</option>{version_options}</select>
<span id="shown"></span></div>
<table id="fleet"><thead><tr><th>tenant</th><th>labels</th><th>version</th><th>latest</th><th>state</th>
<th>drift</th><th>upgrade branches</th><th>last upgrade</th><th>last gate</th></tr></thead>
<tbody>
{chr(10).join(body_rows)}
</tbody></table>
<script>{_JS}</script>
</body></html>
"""
