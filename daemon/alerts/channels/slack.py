"""Slack incoming webhook: a Block Kit message within Slack's limits.

Limits (Slack's docs, and PITFALLS.md): 50 blocks a message, 3,000 characters a
section text, 150 a header. Messages much above ~13k characters in total are
reported to fail, so the body is held to a smaller budget. A long list of
alerts (300 drifted features) is packed into as few sections as fit and the
rest is summarised as "… and N more", pointing at the evidence link.

Slack's answers: 200 "ok"; 429 with Retry-After; 5xx retried; 4xx with an error
text (`invalid_payload`, `no_service`, `channel_not_found`, `channel_is_archived`,
`action_prohibited`) is recorded and not retried.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from daemon.alerts import render
from daemon.alerts.channels.http import post_json
from daemon.alerts.channels.interface import Outgoing
from daemon.alerts.fold import folded
from daemon.alerts.message import (
    CHANGE_WORDS,
    AlertGroup,
    AlertItem,
    Change,
    Message,
    Payload,
    from_json,
)
from daemon.alerts.steps import group_ack, next_step, plain, window_text
from daemon.config import Secret

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
# Well under the ~13k characters at which whole messages are reported to fail.
MAX_TOTAL_CHARS = 11_000
MAX_LINE_CHARS = 500
MAX_FALLBACK_CHARS = 300

# One mark per item mark: critical and warning never share a colour.
_EMOJI = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
    "resolved": ":white_check_mark:",
}


def escape(text: str) -> str:
    """Slack mrkdwn's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step(item: AlertItem, scope: str, group: AlertGroup) -> str:
    return plain(
        next_step(item, scope, group),
        quote=escape,
        code=lambda command: f"`{escape(command)}`",
        link=lambda url, label: f"<{url}|{label}>",
    )


def _item_line(item: AlertItem, scope: str, group: AlertGroup, also: str | None = None) -> str:
    # The step comes whole even when the headline is cut: it is what people act on.
    step = f"\n> {_step(item, scope, group)}"
    head = f"{_EMOJI[item.mark]} *{item.mark.upper()}* {escape(render.headline(item))}"
    if also:
        head += f"\n_{escape(also)}_"
    return _cut(head, max(MAX_LINE_CHARS - len(step), 80)) + step


def _section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _pack(lines: list[str], max_sections: int, budget: int) -> tuple[list[str], int]:
    """Join lines into section texts within the limits; return them and how many were left."""
    sections: list[str] = []
    current = ""
    used = 0
    for n, line in enumerate(lines):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= MAX_SECTION_CHARS and used + len(line) + 1 <= budget:
            current = candidate
            used += len(line) + 1
            continue
        if current:
            sections.append(current)
            current = ""
        if len(sections) >= max_sections or used + len(line) + 1 > budget:
            return sections, len(lines) - n
        current = line
        used += len(line) + 1
    if current:
        sections.append(current)
    return sections, 0


def blocks_for(payload: Payload) -> dict[str, object]:
    """The webhook body: Block Kit blocks plus the plain-text fallback."""
    if isinstance(payload, Message):
        return _message_body(payload)
    return _alert_body(payload)


def _alert_body(group: AlertGroup) -> dict[str, object]:
    title = group.title
    counts = ", ".join(f"{group.count(c)} {CHANGE_WORDS[c]}" for c in Change if group.count(c))
    window = window_text(group)
    if window:
        counts += f" · {window}"
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, MAX_HEADER_CHARS)}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _cut(
                        f"*{escape(group.scope)}* · *{group.mark}* · {counts}",
                        MAX_SECTION_CHARS,
                    ),
                }
            ],
        },
    ]
    lines = [_item_line(x.item, group.scope, group, x.also()) for x in folded(group.items)]
    # header + context + a trailing "and N more" + the link section + the ack section
    room = MAX_BLOCKS - len(blocks) - 3
    sections, left = _pack(lines, room, MAX_TOTAL_CHARS - len(title) - 500)
    blocks.extend(_section(s) for s in sections)
    if left:
        more = f"_… and {left} more not shown_"
        if group.link:
            more += f" — <{group.link}|see the evidence>"
        blocks.append(_section(more))
    elif group.link and len(group.items) > 1:
        blocks.append(_section(f"<{group.link}|Evidence and report>"))
    ack = group_ack(group)
    if ack:
        blocks.append(
            _section(
                f"Acknowledge all {group.firing} firing alerts of {escape(group.scope)} "
                f"(stops their repeats): `{escape(ack)}`"
            )
        )
    fallback = _cut(render.subject_line(group), MAX_FALLBACK_CHARS)
    return {"text": fallback, "blocks": blocks}


def _message_body(message: Message) -> dict[str, object]:
    blocks: list[dict[str, object]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(message.title, MAX_HEADER_CHARS)},
        }
    ]
    lines = [escape(ln) for ln in message.text.splitlines() if ln.strip()] or [" "]
    sections, left = _pack(
        [_cut(ln, MAX_SECTION_CHARS) for ln in lines], MAX_BLOCKS - 3, MAX_TOTAL_CHARS
    )
    blocks.extend(_section(s) for s in sections)
    if left:
        blocks.append(_section(f"_… {left} more lines not shown_"))
    if message.link:
        blocks.append(_section(f"<{message.link}|Open>"))
    return {"text": _cut(render.subject_line(message), MAX_FALLBACK_CHARS), "blocks": blocks}


class SlackSender:
    def __init__(self, client: httpx.Client, webhook_url: Secret, timeout: float) -> None:
        self.client = client
        self.webhook_url = webhook_url
        self.timeout = timeout

    def send(self, message: Outgoing, now: datetime) -> None:
        body = blocks_for(from_json(message.payload))
        post_json(self.client, self.webhook_url.reveal(), body, {}, self.timeout, "slack")
