"""What a person does next about an alert: every item of a message ends with it.

Worked out when a message is rendered, from the item's data (its kind, scope,
change and id), so a better wording reaches rows already queued. A step is a
command to run, the evidence to open or the runbook of the kind
(`[alerts.runbooks]`); firing alerts add how to silence their repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from checks.interface import CheckKind
from daemon.alerts.finding import StageKind
from daemon.alerts.message import AlertGroup, AlertItem, Change
from daemon.window_time import at_text as window_at_text

_CHECK_KINDS = frozenset(k.value for k in CheckKind)


@dataclass(frozen=True, kw_only=True)
class NextStep:
    """The next step of one item: what to do, in words, and the pieces to link or quote."""

    # "look at the evidence, then run" / "nothing to do"
    says: str
    command: str | None = None
    link: str | None = None
    runbook: str | None = None
    # The command that silences a firing alert's repeats: `mlmaint alerts ack ID`.
    ack: str | None = None


def _when(item: AlertItem) -> datetime | None:
    try:
        return datetime.fromisoformat(item.window_end) if item.window_end else None
    except ValueError:
        return None


def at_text(item: AlertItem) -> str | None:
    """The item's window end as `--at` takes it, every digit kept (2026-03-02T10:00Z,
    2026-03-02T10:00:30.514252Z), so the command re-checks the very stored window."""
    end = _when(item)
    return None if end is None else window_at_text(end)


def _span(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def window_text(group: AlertGroup) -> str | None:
    """ "window of 1d ending 2026-03-02 10:00 UTC, 500 rows" for the group's latest window."""
    item = group.window
    end = _when(item) if item else None
    if item is None or end is None:
        return None
    length = f"of {_span(item.window_s)} " if item.window_s else ""
    rows = f", {item.rows} rows" if item.rows is not None else ""
    return f"window {length}ending {end:%Y-%m-%d %H:%M} UTC{rows}"


def group_ack(group: AlertGroup) -> str | None:
    """One command for all of a model's firing alerts, when the group holds two or more."""
    return f"mlmaint alerts ack --model {group.scope}" if group.firing > 1 else None


def _command(item: AlertItem, scope: str) -> tuple[str, str | None]:
    """(what to do, the command) for an item that calls for action."""
    kind = item.kind
    if kind in _CHECK_KINDS:
        # The alerting window, not the one ending now (which may say something else).
        at = at_text(item)
        return "see the window's measures with", f"mlmaint check {scope}" + (
            f" --at {at}" if at else ""
        )
    if kind == StageKind.MONITORING and item.subject == "check workers":
        # A run given up (or refused) on the `checks` workers: daemon/checking/remote.py.
        return (
            "check that `mlmaint worker --queue checks` runs with this config and reaches "
            "the broker and the store (mlmaint_check_queue_lag_seconds on /metrics); "
            "see the queue and the workers with",
            "mlmaint status",
        )
    if kind == StageKind.MONITORING:
        return "see why it has no reference with", f"mlmaint check {scope}"
    if kind == StageKind.FRAMEWORK:
        return "see the advisories and fixed releases with", "mlmaint frameworks"
    if kind == StageKind.RETRAIN:
        if item.subject == "failure":
            return "read the job's error, fix it and retry with", f"mlmaint retrain {scope}"
        if item.subject == "promotion":
            return "if the new version misbehaves, roll back with", (
                f"mlmaint retrain rollback {scope}"
            )
        if item.subject == "rollback":
            return "once the cause is fixed, let retraining promote again with", (
                f"mlmaint retrain unpin {scope}"
            )
        return "nothing to do; the retrain history is in", "mlmaint status"
    return "see", "mlmaint alerts list"


def next_step(item: AlertItem, scope: str, group: AlertGroup | None = None) -> NextStep:
    """The step an item ends with. In a `group`, what the group says once (its shared
    evidence link, one ack for all its firing alerts) is left out of the item's."""
    if item.change is Change.RESOLVED:
        return NextStep(says="nothing to do")
    says, command = _command(item, scope)
    ack = f"mlmaint alerts ack {item.alert_id}" if item.change is not Change.NOTICE else None
    link = item.link
    if group is not None:
        if group.shared_link is not None and link == group.shared_link:
            link = None
        if group_ack(group) is not None:
            ack = None
    return NextStep(says=says, command=command, link=link, runbook=item.runbook, ack=ack)


def _same(text: str) -> str:
    return text


def _backticks(text: str) -> str:
    return f"`{text}`"


def _labelled(url: str, label: str) -> str:
    return f"{label}: {url}"


def plain(
    step: NextStep,
    *,
    quote: Callable[[str], str] = _same,
    code: Callable[[str], str] = _backticks,
    link: Callable[[str, str], str] = _labelled,
) -> str:
    """The step as one line of text: "Next: see … with `mlmaint check churn`; evidence: URL…".

    A channel with markup passes `quote` (for the text it must escape), `code` (a
    command, escaped and marked as code) and `link` (url, label -> its link syntax).
    """
    command = f" {code(step.command)}" if step.command else ""
    parts = [f"Next: {quote(step.says)}{command}"]
    if step.link:
        parts.append(link(step.link, "evidence"))
    if step.runbook:
        parts.append(link(step.runbook, "runbook"))
    if step.ack:
        parts.append(f"acknowledge to stop repeats: {code(step.ack)}")
    return "; ".join(parts)
