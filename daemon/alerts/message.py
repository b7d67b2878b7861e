"""What an outbox row carries: versioned JSON, rendered by each channel at send time.

The payload holds data, not rendered text, so a Slack message and an email of the
same notification say the same thing and a renderer fix applies to rows already
queued. Two shapes: an alert group (one scope's changes in one check cycle) and a
free message (the weekly report, a channel test). Payloads carry a version; a row
written by a newer mlmaint fails with a message that says so.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from daemon.config import Severity

PAYLOAD_VERSION = 1

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def max_severity(*values: Severity) -> Severity:
    return max(values, key=SEVERITY_RANK.__getitem__, default=Severity.INFO)


class Change(enum.StrEnum):
    """Why an alert is in a notification."""

    FIRING = "firing"
    ESCALATED = "escalated"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    # An event told once (a retrain decision): no firing state behind it.
    NOTICE = "notice"


# How a change reads in a title: "churn: drift on income still firing".
CHANGE_WORDS = {
    Change.FIRING: "firing",
    Change.ESCALATED: "escalated",
    Change.REPEAT: "still firing",
    Change.RESOLVED: "resolved",
    Change.NOTICE: "notice",
}

# A grouped notification's kind: the most pressing change it holds.
_KIND_ORDER = (Change.FIRING, Change.ESCALATED, Change.NOTICE, Change.REPEAT, Change.RESOLVED)


class PayloadError(ValueError):
    """An outbox payload that this mlmaint cannot read."""


@dataclass(frozen=True, kw_only=True)
class AlertItem:
    alert_id: int
    kind: str
    subject: str
    change: Change
    severity: Severity
    summary: str
    value: float | None = None
    threshold: float | None = None
    link: str | None = None
    since: str
    fire_count: int = 1
    # The runbook of the item's kind (`[alerts.runbooks]`), when one is configured.
    runbook: str | None = None
    # The window the finding was judged on (check findings): its end (ISO), its
    # length in seconds and its rows.
    window_end: str | None = None
    window_s: int | None = None
    rows: int | None = None

    @property
    def mark(self) -> str:
        """What the item is, in one word: its severity while firing, else its change."""
        if self.change is Change.RESOLVED:
            return "resolved"
        return self.severity.value


@dataclass(frozen=True, kw_only=True)
class AlertGroup:
    scope: str
    items: tuple[AlertItem, ...]

    @property
    def severity(self) -> Severity:
        """For routing and quiet hours: a resolution goes where its firing message went."""
        return max_severity(*(i.severity for i in self.items))

    @property
    def mark(self) -> str:
        """What the message is, in one word: the highest severity of what it does not
        resolve, else "resolved" (a resolution carries no firing severity)."""
        live = [i for i in self.items if i.change is not Change.RESOLVED]
        if not live:
            return "resolved"
        return max_severity(*(i.severity for i in live)).value

    @property
    def kind(self) -> Change:
        changes = {i.change for i in self.items}
        return next(c for c in _KIND_ORDER if c in changes)

    def count(self, change: Change) -> int:
        return sum(1 for i in self.items if i.change is change)

    @property
    def link(self) -> str | None:
        return next((i.link for i in self.items if i.link), None)

    @property
    def shared_link(self) -> str | None:
        """The evidence link, when two or more items carry it and no item another one:
        told once for the group instead of on every item."""
        links = [i.link for i in self.items if i.link]
        return links[0] if len(links) > 1 and len(set(links)) == 1 else None

    @property
    def window(self) -> AlertItem | None:
        """The item of the latest window the group's findings were judged on."""
        judged = [i for i in self.items if i.window_end]
        return max(judged, key=lambda i: i.window_end or "", default=None)

    @property
    def firing(self) -> int:
        """Items an acknowledgement can silence (firing, escalated, still firing)."""
        live = (Change.FIRING, Change.ESCALATED, Change.REPEAT)
        return sum(1 for i in self.items if i.change in live)

    @property
    def title(self) -> str:
        if len(self.items) == 1:
            item = self.items[0]
            if item.change is Change.NOTICE:
                # An event's summary says what happened; it may name the scope already.
                if item.summary.startswith(f"{self.scope}:"):
                    return item.summary
                return f"{self.scope}: {item.summary}"
            word = CHANGE_WORDS[item.change]
            if item.change is Change.ESCALATED:
                word = f"escalated to {item.severity.value}"
            return f"{self.scope}: {item.kind} on {item.subject} {word}"
        parts = [f"{self.count(c)} {CHANGE_WORDS[c]}" for c in _KIND_ORDER if self.count(c)]
        kinds = sorted({i.kind for i in self.items})
        return f"{self.scope}: {len(self.items)} alerts ({', '.join(parts)}) on {', '.join(kinds)}"


@dataclass(frozen=True, kw_only=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, kw_only=True)
class Message:
    """A message that is not an alert: the weekly report, a channel test."""

    title: str
    text: str
    html: str | None = None
    link: str | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)

    @staticmethod
    def attach_file(path: Path, content_type: str = "text/html") -> Attachment:
        return Attachment(filename=path.name, content_type=content_type, content=path.read_bytes())


Payload = AlertGroup | Message


def to_json(payload: Payload) -> dict[str, object]:
    if isinstance(payload, AlertGroup):
        return {
            "v": PAYLOAD_VERSION,
            "type": "alerts",
            "scope": payload.scope,
            "title": payload.title,
            "severity": payload.severity.value,
            # What a reader sees: a resolved group's mark is "resolved", not its severity.
            "mark": payload.mark,
            "items": [
                {
                    "alert_id": i.alert_id,
                    "kind": i.kind,
                    "subject": i.subject,
                    "change": i.change.value,
                    "severity": i.severity.value,
                    "summary": i.summary,
                    "value": i.value,
                    "threshold": i.threshold,
                    "link": i.link,
                    "since": i.since,
                    "fire_count": i.fire_count,
                    "runbook": i.runbook,
                    "window_end": i.window_end,
                    "window_s": i.window_s,
                    "rows": i.rows,
                }
                for i in payload.items
            ],
        }
    return {
        "v": PAYLOAD_VERSION,
        "type": "message",
        "title": payload.title,
        "text": payload.text,
        "html": payload.html,
        "link": payload.link,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "content_b64": base64.b64encode(a.content).decode("ascii"),
            }
            for a in payload.attachments
        ],
    }


def _str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise PayloadError(f"payload field {key!r}: expected a string, got {value!r}")
    return value


def _opt_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _str(data, key)


def _opt_float(data: Mapping[str, object], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"payload field {key!r}: expected a number, got {value!r}")
    return float(value)


def _int(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"payload field {key!r}: expected an integer, got {value!r}")
    return value


def _opt_int(data: Mapping[str, object], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _list(data: Mapping[str, object], key: str) -> Sequence[Mapping[str, object]]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PayloadError(f"payload field {key!r}: expected a list of objects")
    return value


def from_json(data: Mapping[str, object]) -> Payload:
    version = data.get("v")
    if version != PAYLOAD_VERSION:
        raise PayloadError(
            f"outbox payload version {version!r}, this mlmaint reads {PAYLOAD_VERSION}: "
            "it was written by a different mlmaint version"
        )
    kind = data.get("type")
    if kind == "alerts":
        items = tuple(
            AlertItem(
                alert_id=_int(i, "alert_id"),
                kind=_str(i, "kind"),
                subject=_str(i, "subject"),
                change=Change(_str(i, "change")),
                severity=Severity(_str(i, "severity")),
                summary=_str(i, "summary"),
                value=_opt_float(i, "value"),
                threshold=_opt_float(i, "threshold"),
                link=_opt_str(i, "link"),
                since=_str(i, "since"),
                fire_count=_int(i, "fire_count"),
                runbook=_opt_str(i, "runbook"),
                # Absent from rows queued before they were added: read as unknown.
                window_end=_opt_str(i, "window_end"),
                window_s=_opt_int(i, "window_s"),
                rows=_opt_int(i, "rows"),
            )
            for i in _list(data, "items")
        )
        if not items:
            raise PayloadError("an alert payload without items")
        return AlertGroup(scope=_str(data, "scope"), items=items)
    if kind == "message":
        attachments = tuple(
            Attachment(
                filename=_str(a, "filename"),
                content_type=_str(a, "content_type"),
                content=base64.b64decode(_str(a, "content_b64")),
            )
            for a in _list(data, "attachments")
        )
        return Message(
            title=_str(data, "title"),
            text=_str(data, "text"),
            html=_opt_str(data, "html"),
            link=_opt_str(data, "link"),
            attachments=attachments,
        )
    raise PayloadError(f"unknown outbox payload type {kind!r}")
