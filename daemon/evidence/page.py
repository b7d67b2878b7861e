"""mlmaint's own evidence page: one self-contained HTML file per alerting drift window.

Per drifted column: the reference against the window as an inline SVG
(histogram on shared bins, or category bars), the statistic and its method,
the threshold and where it came from, and n of each side. The other columns
are one table row each. No script, no external resource, every text from data
escaped; a Content-Security-Policy <meta> says so to the browser too.

The page is built to a byte budget (`MAX_BYTES`): charts are added most severe
first while they fit, then table rows, and what does not fit is counted, so a
frame of any width and any names gives a page under the bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from daemon.evidence.figures import Bars, ColumnEvidence, EvidenceData, Histogram
from daemon.report import csp
from daemon.tables import fmt_value

# The bound of the issue (300 KB), less a margin for the head and the closing text.
MAX_BYTES = 300_000
_BUDGET = MAX_BYTES - 8_000
# Longest name or category label shown (the full text is in a tooltip up to _TOOLTIP).
_NAME = 120
_LABEL = 28
_TOOLTIP = 300
_REF = "#5b7fb0"
_CUR = "#e0801b"

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:62em;color:#222;"
    "padding:0 1em}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}"
    "h3{font-size:1em;margin:1.2em 0 .3em;overflow-wrap:anywhere}"
    "section{border-top:1px solid #ddd}p{margin:.3em 0}.m{color:#555;font-size:.9em}"
    "table{border-collapse:collapse;font-size:.88em}td,th{padding:2px 8px;text-align:left;"
    "border-bottom:1px solid #eee;overflow-wrap:anywhere}.alert{color:#b00020;font-weight:600}"
    f".r{{fill:{_REF}}}.c{{fill:{_CUR}}}svg text{{font-size:10px;fill:#444}}"
    "code{background:#f4f4f4;padding:0 3px}"
)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float | None) -> str:
    return fmt_value(value)


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _pct(count: int, total: int) -> str:
    return f"{count / total:.1%}" if total else "0%"


# --------------------------------------------------------------------------- charts


def _legend(y: int) -> str:
    return (
        f'<rect class="r" x="40" y="{y}" width="10" height="8"/>'
        f'<text x="54" y="{y + 8}">reference</text>'
        f'<rect class="c" x="120" y="{y}" width="10" height="8"/>'
        f'<text x="134" y="{y + 8}">window</text>'
    )


def histogram_svg(h: Histogram) -> str:
    """Shares per bin, reference and window side by side; counts in each bin's tooltip."""
    if not h.reference:
        return ""
    width, left, top, plot_h = 560, 40, 18, 110
    ref_n, cur_n = sum(h.reference), sum(h.current)
    shares = [
        (r / ref_n if ref_n else 0.0, c / cur_n if cur_n else 0.0)
        for r, c in zip(h.reference, h.current, strict=True)
    ]
    peak = max(max(pair) for pair in shares) or 1.0
    slot = (width - left - 10) / len(shares)
    bar = max(slot * 0.42, 0.5)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + plot_h + 30}" '
        'role="img">',
        _legend(2),
    ]
    last = len(shares) - 1
    for i, ((rs, cs), r, c) in enumerate(zip(shares, h.reference, h.current, strict=True)):
        x = left + i * slot
        close = "]" if i == last else ")"
        tip = (
            f"[{_num(h.edges[i])}, {_num(h.edges[i + 1])}{close}: reference {r} "
            f"({_pct(r, ref_n)}), window {c} ({_pct(c, cur_n)})"
        )
        rh, ch = rs / peak * plot_h, cs / peak * plot_h
        parts.append(
            f"<g><title>{escape(tip)}</title>"
            f'<rect class="r" x="{x + slot * 0.06:.1f}" y="{top + plot_h - rh:.1f}" '
            f'width="{bar:.1f}" height="{rh:.1f}"/>'
            f'<rect class="c" x="{x + slot * 0.5:.1f}" y="{top + plot_h - ch:.1f}" '
            f'width="{bar:.1f}" height="{ch:.1f}"/></g>'
        )
    base = top + plot_h
    parts.append(
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#999"/>'
        f'<text x="{left}" y="{base + 14}">{escape(_num(h.edges[0]))}</text>'
        f'<text x="{width - 10}" y="{base + 14}" text-anchor="end">'
        f"{escape(_num(h.edges[-1]))}</text>"
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak:.0%}</text></svg>'
    )
    return "".join(parts)


def bars_svg(b: Bars) -> str:
    """One row per category: the reference share above the window share."""
    rows: list[tuple[str, int, int]] = list(zip(b.labels, b.reference, b.current, strict=True))
    if b.other_categories:
        rows.append(
            (f"other ({b.other_categories} categories)", b.other_reference, b.other_current)
        )
    if not rows:
        return ""
    ref_n = sum(b.reference) + b.other_reference
    cur_n = sum(b.current) + b.other_current
    left, plot_w, row_h, top = 190, 330, 18, 16
    shares = [(r / ref_n if ref_n else 0.0, c / cur_n if cur_n else 0.0) for _, r, c in rows]
    peak = max(max(pair) for pair in shares) or 1.0
    height = top + row_h * len(rows) + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + plot_w + 60}" '
        f'height="{height}" role="img">',
        _legend(2),
    ]
    for i, ((label, r, c), (rs, cs)) in enumerate(zip(rows, shares, strict=True)):
        y = top + i * row_h
        # Only the label needs escaping: the rest of the tooltip is numbers.
        tip = (
            f"{escape(_short(label, _TOOLTIP))}: reference {r} ({_pct(r, ref_n)}), "
            f"window {c} ({_pct(c, cur_n)})"
        )
        parts.append(
            f"<g><title>{tip}</title>"
            f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{escape(_short(label, _LABEL))}'
            "</text>"
            f'<rect class="r" x="{left}" y="{y + 1}" width="{rs / peak * plot_w:.1f}" height="7"/>'
            f'<rect class="c" x="{left}" y="{y + 8}" width="{cs / peak * plot_w:.1f}" height="7"/>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- text


def _verdict(c: ColumnEvidence) -> str:
    if c.value is None or c.threshold is None:
        return ""
    side = "below" if c.value < c.threshold else "at" if c.value == c.threshold else "above"
    rule = "a p-value: drift below it" if c.p_value else "a distance: drift above it"
    return f", {side} the threshold {_num(c.threshold)} ({rule})"


def _source(c: ColumnEvidence) -> str:
    """The source, then the basis where it says more ("calibrated: at n=800, ...")."""
    if c.threshold is None:
        return "–"
    if not c.basis or c.basis.lower().startswith(c.source.value.lower()):
        return c.basis or c.source.value
    return f"{c.source.value}: {c.basis}"


def column_section(c: ColumnEvidence) -> str:
    statistic = c.statistic or c.method
    n = (
        f"n: reference {c.reference_n:,}, window {c.current_n:,}"
        if c.reference_n is not None and c.current_n is not None
        else "n: not available"
    )
    chart = ""
    if isinstance(c.chart, Histogram):
        chart = histogram_svg(c.chart)
    elif isinstance(c.chart, Bars):
        chart = bars_svg(c.chart)
    return (
        f'<section><h3 class="alert">{escape(_short(c.column, _NAME))}</h3>'
        f"<p>{escape(statistic)} (<code>{escape(c.method)}</code>) = "
        f"<b>{escape(_num(c.value))}</b>{escape(_verdict(c))}.</p>"
        f'<p class="m">Threshold source: {escape(_source(c))}. {escape(n)}.</p>'
        f"{chart}</section>"
    )


def other_row(c: ColumnEvidence) -> str:
    status = "drifted (not charted)" if c.drifted else c.status.value.replace("_", " ")
    return (
        f"<tr><td>{escape(_short(c.column, _NAME))}</td>"
        f"<td{' class=alert' if c.drifted else ''}>{escape(status)}</td>"
        f"<td>{escape(c.statistic or c.method)}</td><td>{escape(_num(c.value))}</td>"
        f"<td>{escape(_num(c.threshold))}</td><td>{escape(_source(c))}</td></tr>"
    )


def _intro(data: EvidenceData, evidently_link: str | None) -> str:
    mode = (
        f"thresholds calibrated for {data.false_alarm_rate:.3g} false alarms per check run"
        if data.thresholds == "calibrated" and data.false_alarm_rate is not None
        else "Evidently's default thresholds"
        if data.thresholds == "evidently"
        else "thresholds as configured"
    )
    parts = [
        f"<p>Window {escape(_when(data.window_start))} to {escape(_when(data.window_end))}: "
        f"{data.window_rows:,} rows, against a reference of {data.reference_rows:,} rows; "
        f"{escape(mode)}.</p>"
    ]
    d = data.dataset
    if d is not None:
        parts.append(
            f"<p>Dataset: {escape(d.detail or '')}, weighted share {escape(_num(d.value))} "
            f"against {escape(_num(d.threshold))}"
            f"{' (<b class=alert>dataset drift</b>)' if d.alerting else ''}.</p>"
        )
    if evidently_link:
        parts.append(f'<p><a href="{escape(evidently_link)}">Evidently\'s full report</a></p>')
    return "".join(parts)


def render_page(
    data: EvidenceData,
    *,
    evidently_link: str | None = None,
    command: str | None = None,
    max_bytes: int = _BUDGET,
) -> str:
    """The page, within `max_bytes` of body (charts first, then rows, then counts)."""
    title = f"Drift evidence: {_short(data.model, _NAME)}, window ending {_when(data.window_end)}"
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{_intro(data, evidently_link)}"
    )
    tail = (
        "<p class=m>Written by mlmaint from the drift check's own figures."
        + (
            f" Evidently's full report of this window: <code>{escape(command)}</code>."
            if command
            else ""
        )
        + "</p></body></html>"
    )
    used = len(head.encode()) + len(tail.encode()) + 400
    body: list[str] = [f"<h2>Drifted columns ({len(data.drifted)})</h2>"]
    if not data.drifted:
        body.append("<p>No column drifted in this window.</p>")
    rows_reserve = min(len(data.others), 200) * 260
    uncharted: list[ColumnEvidence] = []
    for c in data.drifted:
        section = column_section(c)
        size = len(section.encode())
        if used + size + rows_reserve > max_bytes:
            uncharted.append(c)
            continue
        body.append(section)
        used += size
    rows = _rows([*uncharted, *data.others], max_bytes - used)
    body.extend(rows)
    return _with_policy(head + "".join(body) + tail)


def _rows(columns: Sequence[ColumnEvidence], budget: int) -> list[str]:
    if not columns:
        return []
    out = [
        f"<h2>Other columns ({len(columns)})</h2><table><tr><th>column</th><th>status</th>"
        "<th>statistic</th><th>value</th><th>threshold</th><th>threshold source</th></tr>"
    ]
    used = len(out[0]) + 200
    for i, c in enumerate(columns):
        row = other_row(c)
        if used + len(row.encode()) > budget:
            out.append(
                f"</table><p class=m>… and {len(columns) - i} more columns, not listed to "
                "keep this page small (see <code>mlmaint check</code>).</p>"
            )
            return out
        out.append(row)
        used += len(row.encode())
    out.append("</table>")
    return out


def _with_policy(page: str) -> str:
    # No script at all: the policy allows none, and inline styles only.
    return csp.with_meta_policy(page, csp.evidence_policy(()))
