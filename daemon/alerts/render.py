"""Plain text and HTML renderings of a payload, shared by email, file and fallbacks.

Slack has its own Block Kit renderer (channels/slack.py) because its limits shape
the message; these renderings have no limits beyond good taste.
"""

from __future__ import annotations

from html import escape

from daemon.alerts.message import AlertGroup, AlertItem, Change, Message, Payload

CHANGE_LABEL = {
    Change.FIRING: "FIRING",
    Change.ESCALATED: "ESCALATED",
    Change.REPEAT: "STILL FIRING",
    Change.RESOLVED: "RESOLVED",
    Change.NOTICE: "NOTICE",
}


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def measurement(item: AlertItem) -> str:
    """ "0.31 (threshold 0.1)", or "" when the finding has no number."""
    if item.value is None:
        return ""
    if item.threshold is None:
        return number(item.value)
    return f"{number(item.value)} (threshold {number(item.threshold)})"


def item_line(item: AlertItem) -> str:
    parts = [
        f"{CHANGE_LABEL[item.change]:<12} {item.severity.value:<8} {item.kind} / {item.subject}"
    ]
    parts.append(f": {item.summary}")
    moved = measurement(item)
    if moved:
        parts.append(f" [{moved}]")
    if item.link:
        parts.append(f" <{item.link}>")
    return "".join(parts)


def subject_line(payload: Payload) -> str:
    if isinstance(payload, AlertGroup):
        return f"[mlmaint] [{payload.severity.value}] {payload.title}"
    return f"[mlmaint] {payload.title}"


def text(payload: Payload) -> str:
    if isinstance(payload, Message):
        tail = f"\n\n{payload.link}" if payload.link else ""
        return f"{payload.text}{tail}\n"
    lines = [payload.title, ""]
    lines.extend(item_line(i) for i in payload.items)
    if any(i.change is not Change.NOTICE for i in payload.items):
        lines.append("")
        lines.append(
            "Acknowledge with `mlmaint alerts ack ID`; firing alerts: `mlmaint alerts list`."
        )
    return "\n".join(lines) + "\n"


_COLOR = {
    Change.FIRING: "#b00020",
    Change.ESCALATED: "#b00020",
    Change.REPEAT: "#a05a00",
    Change.NOTICE: "#0b57d0",
}


def html(payload: Payload) -> str:
    if isinstance(payload, Message):
        if payload.html is not None:
            return payload.html
        body = escape(payload.text).replace("\n", "<br>\n")
        link = (
            f'<p><a href="{escape(payload.link)}">{escape(payload.link)}</a></p>'
            if payload.link
            else ""
        )
        return f"<!doctype html><html><body><p>{body}</p>{link}</body></html>"
    rows = []
    for i in payload.items:
        color = _COLOR.get(i.change, "#1b5e20")
        link = f'<a href="{escape(i.link)}">evidence</a>' if i.link else ""
        rows.append(
            "<tr>"
            f'<td style="color:{color};font-weight:bold">{CHANGE_LABEL[i.change]}</td>'
            f"<td>{escape(i.severity.value)}</td>"
            f"<td>{escape(i.kind)}</td>"
            f"<td><code>{escape(i.subject)}</code></td>"
            f"<td>{escape(i.summary)}</td>"
            f"<td>{escape(number(i.value))}</td>"
            f"<td>{escape(number(i.threshold))}</td>"
            f"<td>{link}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th align=left>{h}</th>"
        for h in ("change", "severity", "check", "subject", "what", "value", "threshold", "")
    )
    return (
        "<!doctype html><html><body>"
        f"<h2>{escape(payload.title)}</h2>"
        f'<table cellpadding="4" style="border-collapse:collapse"><tr>{head}</tr>'
        f"{''.join(rows)}</table>"
        "<p>Acknowledge with <code>mlmaint alerts ack ID</code>.</p>"
        "</body></html>"
    )
