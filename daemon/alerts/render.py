"""Plain text and HTML renderings of a payload, shared by email, file and fallbacks.

Slack has its own Block Kit renderer (channels/slack.py) because its limits shape
the message; these renderings have no limits beyond good taste.

Every item reads the same way everywhere: its mark (CRITICAL, WARNING, INFO,
RESOLVED: a resolution carries no firing severity), what changed, the
finding in its own words (each value once), the alert's id, and on a line of its
own the next step (daemon/alerts/steps.py).
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from daemon.alerts.fold import folded
from daemon.alerts.message import AlertGroup, AlertItem, Change, Message, Payload
from daemon.alerts.steps import group_ack, next_step, plain, window_text
from daemon.tables import fmt_value

# What each change adds before the summary; a firing item needs no word beyond its mark.
CHANGE_WORD = {
    Change.FIRING: "",
    Change.ESCALATED: "escalated: ",
    Change.REPEAT: "still firing: ",
    Change.RESOLVED: "resolved: ",
    Change.NOTICE: "",
}

# Distinct colours for the marks in HTML (and their Slack emoji in channels/slack.py).
MARK_COLOR = {
    "critical": "#b00020",
    "warning": "#b35c00",
    "info": "#0b57d0",
    "resolved": "#1b5e20",
}


def number(value: float | None) -> str:
    return "-" if value is None else fmt_value(value)


def _since(item: AlertItem) -> str:
    try:
        return datetime.fromisoformat(item.since).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return item.since


def headline(item: AlertItem) -> str:
    """ "still firing: drift of income, PSI 0.31 above threshold 0.1 — alert 12, since …"."""
    tail = f"alert {item.alert_id}"
    if item.change is Change.REPEAT:
        tail += f", firing since {_since(item)}"
    return f"{CHANGE_WORD[item.change]}{item.summary} — {tail}"


def item_lines(
    item: AlertItem, scope: str, group: AlertGroup | None = None, also: str | None = None
) -> list[str]:
    """The headline, the segments it also holds for (daemon/alerts/fold.py), the step."""
    return [
        f"[{item.mark.upper()}] {headline(item)}",
        *([f"    {also}"] if also else []),
        f"    {plain(next_step(item, scope, group))}",
    ]


def group_lines(group: AlertGroup, code: str = "`") -> list[str]:
    """What a group says once, not on every item: its shared evidence, one ack for all."""
    lines = []
    if group.shared_link:
        lines.append(f"Evidence: {group.shared_link}")
    ack = group_ack(group)
    if ack:
        lines.append(
            f"Acknowledge all {group.firing} firing alerts of {group.scope} "
            f"(stops their repeats): {code}{ack}{code}"
        )
    return lines


def subject_line(payload: Payload) -> str:
    if isinstance(payload, AlertGroup):
        return f"[mlmaint] [{payload.mark}] {payload.title}"
    return f"[mlmaint] {payload.title}"


def text(payload: Payload) -> str:
    if isinstance(payload, Message):
        tail = f"\n\n{payload.link}" if payload.link else ""
        return f"{payload.text}{tail}\n"
    lines = [payload.title]
    window = window_text(payload)
    if window:
        lines.append(f"Checked on the {window}.")
    lines.append("")
    for line in folded(payload.items):
        lines.extend(item_lines(line.item, payload.scope, payload, line.also()))
    once = group_lines(payload)
    if once:
        lines.append("")
        lines.extend(once)
    if any(i.change in (Change.FIRING, Change.ESCALATED, Change.REPEAT) for i in payload.items):
        lines.append("")
        lines.append("Every firing alert: `mlmaint alerts list`.")
    return "\n".join(lines) + "\n"


def _code(command: str) -> str:
    return f"<code>{escape(command)}</code>"


def _link(url: str, label: str) -> str:
    return f'<a href="{escape(url)}">{escape(label)}</a>'


def html_step(item: AlertItem, scope: str, group: AlertGroup | None = None) -> str:
    return plain(next_step(item, scope, group), quote=escape, code=_code, link=_link)


def html(payload: Payload) -> str:
    if isinstance(payload, Message):
        if payload.html is not None:
            return payload.html
        body = escape(payload.text).replace("\n", "<br>\n")
        link = f"<p>{_link(payload.link, payload.link)}</p>" if payload.link else ""
        return f"<!doctype html><html><body><p>{body}</p>{link}</body></html>"
    rows = []
    for line in folded(payload.items):
        i = line.item
        color = MARK_COLOR[i.mark]
        also = line.also()
        also_html = f"<br><small>{escape(also)}</small>" if also else ""
        rows.append(
            "<tr>"
            f'<td valign="top" style="color:{color};font-weight:bold">{i.mark.upper()}</td>'
            f"<td>{escape(headline(i))}{also_html}<br>"
            f'<small style="color:#444">{html_step(i, payload.scope, payload)}</small></td>'
            "</tr>"
        )
    window = window_text(payload)
    intro = f"<p>Checked on the {escape(window)}.</p>" if window else ""
    footer = ""
    if payload.shared_link:
        footer += f"<p>{_link(payload.shared_link, 'Evidence')}</p>"
    ack = group_ack(payload)
    if ack:
        footer += (
            f"<p>Acknowledge all {payload.firing} firing alerts of {escape(payload.scope)} "
            f"(stops their repeats): {_code(ack)}</p>"
        )
    if any(i.change in (Change.FIRING, Change.ESCALATED, Change.REPEAT) for i in payload.items):
        footer += f"<p>Every firing alert: {_code('mlmaint alerts list')}.</p>"
    return (
        "<!doctype html><html><body>"
        f"<h2>{escape(payload.title)}</h2>{intro}"
        f'<table cellpadding="4" style="border-collapse:collapse">{"".join(rows)}</table>'
        f"{footer}"
        "</body></html>"
    )
