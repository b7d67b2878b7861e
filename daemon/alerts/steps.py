"""What a person does next about an alert: every item of a message ends with it.

Worked out when a message is rendered, from the item's data (its kind, scope,
change and id), so a better wording reaches rows already queued. A step is a
command to run, the evidence to open or the runbook of the kind
(`[alerts.runbooks]`); firing alerts add how to silence their repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from checks.interface import CheckKind
from daemon.alerts.finding import StageKind
from daemon.alerts.message import AlertItem, Change

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


def _command(item: AlertItem, scope: str) -> tuple[str, str | None]:
    """(what to do, the command) for an item that calls for action."""
    kind = item.kind
    if kind in _CHECK_KINDS:
        return "see the window's measures with", f"mlmaint check {scope}"
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


def next_step(item: AlertItem, scope: str) -> NextStep:
    """The step an item ends with."""
    if item.change is Change.RESOLVED:
        return NextStep(says="nothing to do")
    says, command = _command(item, scope)
    ack = f"mlmaint alerts ack {item.alert_id}" if item.change is not Change.NOTICE else None
    return NextStep(says=says, command=command, link=item.link, runbook=item.runbook, ack=ack)


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
