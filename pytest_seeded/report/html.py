"""The run's report as one self-contained HTML page (--llm-report-html): settings, counts, every
test's calls with what served them and how they were judged, identity changes, agreement under
--llm-repeat with the divergent answers side by side, and tokens per model.

Self-contained: styles, charts (inline SVG drawn here) and the row filter's few lines of script
are in the file, and it asks no other host for anything, so it opens offline and in a CI
artifact viewer. Everything from the run is escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any

from pytest_seeded.determinism import suite_agreement
from pytest_seeded.report.labels import count_labels
from pytest_seeded.session import SeededSession

# Verdicts of a call, in the order the counts bar shows them, with their colours.
VERDICT_COLOURS = (
    ("replayed", "#4c78a8"),
    ("recorded", "#72b7b2"),
    ("matched", "#54a24b"),
    ("mismatched", "#e45756"),
    ("drift", "#f58518"),
    ("missing", "#b279a2"),
    ("sent", "#9d9da0"),
)

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}.num{text-align:right}
.muted{color:#656d76}.calls{margin:0;padding-left:18px}.calls li{margin:1px 0}
.v{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px}
.outcome-failed,.outcome-error{color:#cf222e;font-weight:600}.outcome-skipped{color:#9a6700}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:8px}.pair pre{white-space:pre-wrap;
margin:0;padding:8px;background:#f6f8fa;border:1px solid #d0d7de;font-size:12px}
mark{background:#ffd8b5}#filter{padding:4px 8px;width:320px}code{font-size:12px}
"""

_SCRIPT = """
const box = document.getElementById('filter');
const rows = Array.from(document.querySelectorAll('#tests tbody tr'));
const shown = document.getElementById('shown');
function apply() {
  const words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let n = 0;
  for (const row of rows) {
    const text = row.textContent.toLowerCase();
    const hit = words.every(w => text.includes(w));
    row.hidden = !hit;
    if (hit) n += 1;
  }
  shown.textContent = n + ' of ' + rows.length + ' tests shown';
}
box.addEventListener('input', apply);
apply();
"""


def html_report(session: SeededSession) -> str:
    settings = session.settings
    rate, responses = suite_agreement(session.determinism)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No request leaves the page: not even for a favicon.
        '<link rel="icon" href="data:,">',
        "<title>pytest-seeded report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>pytest-seeded report</h1>",
        f'<div class="muted">written {escape(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))}'
        f"; {session.tests} tests used the LLM fixtures</div>",
        "<h2>Settings</h2>",
        _table(
            ["mode", "seeds", "compare", "on drift", "repeat", "min agreement"],
            [
                [
                    settings.mode,
                    ", ".join(map(str, settings.seeds)),
                    str(settings.compare),
                    settings.on_drift,
                    str(settings.repeat),
                    f"{settings.min_agreement:g}",
                ]
            ],
        ),
        "<h2>Calls</h2>",
        _counts(session),
    ]
    if session.compared:
        parts.append(
            "<p>Compared live, by API: "
            + ", ".join(
                f"<code>{escape(api)}</code> {n}" for api, n in sorted(session.compared.items())
            )
            + "</p>"
        )
    parts += _drift_section(session)
    parts += _determinism_section(session, rate, responses)
    parts += _token_section(session)
    parts += _tests_section(session)
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def _table(head: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    """A table of plain text cells (escaped here)."""
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(
            f'<td class="num">{escape(c)}</td>' if n in numeric else f"<td>{escape(c)}</td>"
            for n, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _verdict_kind(verdict: str) -> str:
    return "drift" if verdict.startswith("drift") else verdict


def _colour(verdict: str) -> str:
    return dict(VERDICT_COLOURS).get(_verdict_kind(verdict), "#9d9da0")


# Each count's colour: the verdict a call of that count has.
_COUNT_COLOURS = {
    "replayed": "replayed",
    "http_replayed": "replayed",
    "recorded": "recorded",
    "http_recorded": "recorded",
    "rerecorded": "recorded",
    "matched": "matched",
    "mismatched": "mismatched",
    "drifted": "drift",
    "missing": "missing",
    "unreadable": "missing",
    "http_sent": "sent",
}


def _counts(session: SeededSession) -> str:
    """A stacked bar of the calls by what became of them, and the numbers beside it: the
    terminal's and the JSON report's counts, in the same words (labels.py)."""
    counts = [
        (label, session.totals[name], dict(VERDICT_COLOURS)[_COUNT_COLOURS[name]])
        for name, label in count_labels(session.settings.on_drift)
        if session.totals[name]
    ]
    total = sum(n for _, n, _ in counts)
    if not total:
        return "<p>No calls.</p>"
    width, x = 600.0, 0.0
    bars, legend = [], []
    for label, n, colour in counts:
        w = width * n / total
        bars.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="22" fill="{colour}">'
            f"<title>{escape(label)}: {n}</title></rect>"
        )
        legend.append(f'<span class="v" style="background:{colour}">{n} {escape(label)}</span>')
        x += w
    svg = (
        f'<svg id="counts-chart" width="{width:.0f}" height="22" role="img" '
        f'aria-label="calls by what became of them">{"".join(bars)}</svg>'
    )
    return f'{svg}<div id="counts">{", ".join(legend)}</div>'


def _drift_section(session: SeededSession) -> list[str]:
    if not session.drifts:
        return []
    rows = [
        [what, repr(old), repr(new), "\n".join(tests)]
        for (what, old, new), tests in session.drifts.items()
    ]
    return [
        "<h2>What served the calls changed</h2>",
        _table(["what changed", "recorded", "live", "tests"], rows),
    ]


def _determinism_section(session: SeededSession, rate: float | None, responses: int) -> list[str]:
    measures = session.determinism
    if not measures:
        return []
    out = [
        "<h2>Determinism</h2>",
        f"<p>Each call made {session.settings.repeat} times with its seed: "
        f"<b>{(rate or 0):.1%}</b> of {responses} answers agree with their call's majority.</p>",
    ]
    # One bar per call and identity: its agreement.
    bar_h, gap, label_w, chart_w = 18, 6, 360, 300
    height = len(measures) * (bar_h + gap)
    bars = []
    for n, m in enumerate(measures):
        y = n * (bar_h + gap)
        agreement = float(m["agreement"])
        # Red below --llm-min-agreement (the test failed), amber where answers differed.
        colour = (
            "#e45756"
            if agreement < session.settings.min_agreement
            else "#54a24b"
            if agreement >= 1.0
            else "#f2a93b"
        )
        label = f"{m['nodeid']} #{m['call']}"
        bars.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f"{escape(label[-58:])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{chart_w}" height="{bar_h}" fill="#eaeef2"/>'
            f'<rect class="agreement-bar" x="{label_w}" y="{y}" width="{chart_w * agreement:.1f}"'
            f' height="{bar_h}" fill="{colour}"><title>{escape(label)}: {agreement:.0%} of '
            f"{m['responses']} answers, {m['distinct']} distinct</title></rect>"
            f'<text x="{label_w + chart_w * agreement + 4:.1f}" y="{y + 13}" font-size="12">'
            f"{agreement:.0%}</text>"
        )
    out.append(
        f'<svg id="agreement-chart" width="{label_w + chart_w + 50}" height="{height}" '
        f'role="img" aria-label="agreement per call">{"".join(bars)}</svg>'
    )
    for m in measures:
        divergent = m.get("divergent_text")
        if divergent is None:
            continue
        char = int(m.get("divergence_char") or 0)
        majority = str(m.get("majority_text", ""))
        out.append(
            f"<h3>{escape(m['nodeid'])} call #{m['call']}: {m['distinct']} distinct answers; "
            f"they part at character {char}, token {m.get('divergence_token')}</h3>"
            '<div class="pair">'
            f"<div><b>majority</b><pre>{_marked(majority, char)}</pre></div>"
            f"<div><b>divergent</b><pre>{_marked(str(divergent), char)}</pre></div></div>"
        )
    return out


def _marked(text: str, char: int) -> str:
    return escape(text[:char]) + (f"<mark>{escape(text[char:])}</mark>" if text[char:] else "")


def _token_section(session: SeededSession) -> list[str]:
    models = sorted(set(session.tokens_spent) | set(session.tokens_saved))
    if not models:
        return []
    most = max([*session.tokens_spent.values(), *session.tokens_saved.values(), 1])
    bar_h, label_w, chart_w = 14, 220, 300
    bars = []
    for n, model in enumerate(models):
        y = n * (2 * bar_h + 10)
        bars.append(
            f'<text x="{label_w - 6}" y="{y + bar_h + 4}" text-anchor="end" font-size="12">'
            f"{escape(model[-34:])}</text>"
        )
        for k, (label, counter, colour) in enumerate(
            (
                ("spent", session.tokens_spent, "#e45756"),
                ("saved", session.tokens_saved, "#4c78a8"),
            )
        ):
            value = counter.get(model, 0)
            width = chart_w * value / most
            bars.append(
                f'<rect x="{label_w}" y="{y + k * bar_h}" width="{width:.1f}" height="{bar_h - 2}" '
                f'fill="{colour}"><title>{escape(model)} {label}: {value:,}</title></rect>'
                f'<text x="{label_w + width + 4:.1f}" y="{y + k * bar_h + 11}" font-size="11">'
                f"{label} {value:,}</text>"
            )
    height = len(models) * (2 * bar_h + 10)
    rows = [
        [m, f"{session.tokens_spent.get(m, 0):,}", f"{session.tokens_saved.get(m, 0):,}"]
        for m in models
    ]
    return [
        "<h2>Tokens</h2>",
        f'<svg id="tokens-chart" width="{label_w + chart_w + 110}" height="{height}" role="img" '
        f'aria-label="tokens per model">{"".join(bars)}</svg>',
        _table(["model", "spent", "saved by replay"], rows, frozenset({1, 2})),
    ]


def _tests_section(session: SeededSession) -> list[str]:
    out = [
        "<h2>Tests</h2>",
        '<input id="filter" type="search" placeholder="filter: words in a row, e.g. failed drift">'
        ' <span id="shown" class="muted"></span>',
        '<table id="tests"><thead><tr><th>test</th><th>outcome</th><th>seed</th>'
        "<th>calls</th></tr></thead><tbody>",
    ]
    for row in sorted(session.rows, key=lambda r: str(r["nodeid"])):
        calls = "".join(_call_item(c) for c in row["calls"]) or "<li class='muted'>none</li>"
        calls += "".join(
            f"<li>#{escape(str(m['call']))} agreement <b>{float(m['agreement']):.0%}</b> "
            f"({escape(str(m['distinct']))} distinct of {escape(str(m['responses']))})</li>"
            for m in row.get("determinism", [])
        )
        outcome = str(row["outcome"])
        out.append(
            f"<tr><td><code>{escape(str(row['nodeid']))}</code></td>"
            f'<td class="outcome-{escape(outcome)}">{escape(outcome)}</td>'
            f"<td class='num'>{escape(str(row.get('seed')))}</td>"
            f'<td><ul class="calls">{calls}</ul></td></tr>'
        )
    out.append("</tbody></table>")
    return out


def _call_item(call: dict[str, Any]) -> str:
    verdict = str(call.get("verdict", ""))
    identity = " / ".join(str(call[k]) for k in ("fingerprint", "model") if call.get(k))
    bits = [
        f"#{escape(str(call.get('call')))} <code>{escape(str(call.get('api')))}</code>",
        f'<span class="v" style="background:{_colour(verdict)}">{escape(verdict)}</span>',
    ]
    if call.get("by"):
        bits.append(f"by {escape(str(call['by']))}")
    if call.get("score") is not None:
        bits.append(f"score {escape(json.dumps(call['score']))}")
    if identity:
        bits.append(f'<span class="muted">{escape(identity)}</span>')
    if call.get("why"):
        bits.append(f'<div class="muted">{escape(str(call["why"]))}</div>')
    return f"<li>{' '.join(bits)}</li>"
