"""The check runs sent to workers, as the store keeps them (`check_tasks`).

One row per (model, kinds, window end). The leader inserts it or keeps the one there
(`queue_task`); a worker claims it (`claim_task`), then writes its findings and marks
it done (`finish_task`) after the window's runs are stored (each kind's run replaces
the one of the same window, daemon/checking/records.py). A run delivered twice is
done once in effect: the second delivery of a done run does nothing, and a second
computation of a running one replaces the same runs. The findings travel as
versioned JSON (`findings_json` / `findings_from_json`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.interface import CheckKind
from daemon.alerts.finding import AlertKind, Finding, StageKind
from daemon.checking.records import jsonable
from daemon.config import Severity
from daemon.store.tables import CheckTask, CheckTaskState

FINDINGS_VERSION = 1


class CheckTaskError(Exception):
    """A check task that cannot be read or claimed as asked."""


def kinds_key(kinds: Iterable[CheckKind] | None) -> str:
    """The stored spelling of a run's kinds: sorted values, comma-joined ("" for all,
    from a leader older than the explicit kinds)."""
    return "" if kinds is None else ",".join(sorted(k.value for k in kinds))


def kinds_of(key: str) -> tuple[CheckKind, ...] | None:
    return None if not key else tuple(CheckKind(k) for k in key.split(","))


def _kind(value: str) -> AlertKind:
    try:
        return CheckKind(value)
    except ValueError:
        return StageKind(value)


def finding_json(f: Finding) -> dict[str, object]:
    return {
        "scope": f.scope,
        "kind": f.kind.value,
        "subject": f.subject,
        "firing": f.firing,
        "severity": f.severity.value,
        "summary": f.summary,
        "value": jsonable(f.value),
        "threshold": jsonable(f.threshold),
        "link": f.link,
        "details": jsonable(dict(f.details)),
        "event_id": f.event_id,
        "window_end": f.window_end.isoformat() if f.window_end else None,
        "window_s": f.window.total_seconds() if f.window is not None else None,
        "rows": f.rows,
    }


def finding_of(data: Mapping[str, object]) -> Finding:
    def opt_float(key: str) -> float | None:
        value = data.get(key)
        return None if value is None else float(cast(float, value))

    end, span, rows = data.get("window_end"), data.get("window_s"), data.get("rows")
    return Finding(
        scope=str(data["scope"]),
        kind=_kind(str(data["kind"])),
        subject=str(data["subject"]),
        firing=bool(data["firing"]),
        severity=Severity(str(data["severity"])),
        summary=str(data["summary"]),
        value=opt_float("value"),
        threshold=opt_float("threshold"),
        link=cast(str | None, data.get("link")),
        details=cast(Mapping[str, object], data.get("details") or {}),
        event_id=cast(str | None, data.get("event_id")),
        window_end=datetime.fromisoformat(str(end)) if end is not None else None,
        window=timedelta(seconds=float(cast(float, span))) if span is not None else None,
        rows=int(cast(int, rows)) if rows is not None else None,
    )


def findings_json(findings: Sequence[Finding]) -> dict[str, object]:
    return {"version": FINDINGS_VERSION, "findings": [finding_json(f) for f in findings]}


def findings_from_json(data: Mapping[str, object] | None) -> list[Finding]:
    if data is None:
        return []
    version = data.get("version")
    if version != FINDINGS_VERSION:
        raise CheckTaskError(
            f"check task findings of version {version}, this daemon reads {FINDINGS_VERSION}: "
            "a worker newer than the leader? run one version on both"
        )
    items = data.get("findings")
    if not isinstance(items, list):
        raise CheckTaskError("check task findings: no list of findings")
    return [finding_of(cast(Mapping[str, object], item)) for item in items]


@dataclass(frozen=True, kw_only=True)
class Queued:
    """What `queue_task` did: the row's id and attempt, and whether to send it."""

    task_id: int
    attempt: int
    # False: the run was queued before (a cycle run again) and is not sent twice.
    send: bool
    # The model's previous window was still unfinished when this one was queued.
    overran: bool


def queue_task(
    session: Session,
    model: str,
    kinds: Iterable[CheckKind] | None,
    window_end: datetime,
    now: datetime,
    deadline: timedelta,
) -> Queued:
    """Insert the run's row, or keep the one there (a cycle sent again never doubles)."""
    key = kinds_key(kinds)
    if session.get_bind().dialect.name == "postgresql":
        # Two leaders for a moment (a lock handed over) queue one row, not two.
        session.execute(
            select(CheckTask.id)
            .where(CheckTask.model == model, CheckTask.kinds == key)
            .with_for_update()
            .limit(1)
        )
    row = session.scalar(
        select(CheckTask).where(
            CheckTask.model == model, CheckTask.kinds == key, CheckTask.window_end == window_end
        )
    )
    if row is not None:
        return Queued(task_id=row.id, attempt=row.attempts, send=False, overran=row.overran)
    behind = session.scalar(
        select(CheckTask.id)
        .where(
            CheckTask.model == model,
            CheckTask.kinds == key,
            CheckTask.window_end < window_end,
            CheckTask.state.in_((CheckTaskState.QUEUED.value, CheckTaskState.RUNNING.value)),
        )
        .limit(1)
    )
    row = CheckTask(
        model=model,
        kinds=key,
        window_end=window_end,
        state=CheckTaskState.QUEUED.value,
        attempts=1,
        queued_at=now,
        deadline=now + deadline,
        overran=behind is not None,
    )
    session.add(row)
    session.flush()
    return Queued(task_id=row.id, attempt=1, send=True, overran=row.overran)


def claim_task(
    session: Session, task_id: int, attempt: int, worker: str, now: datetime
) -> CheckTask | str:
    """Mark the run running on `worker`, or say why not (a text for the log): it is
    done already (a second delivery of a finished run), no longer wanted (given up,
    or gone), or sent again since this attempt (the newer attempt does it)."""
    row = session.get(CheckTask, task_id, with_for_update=True)
    if row is None:
        return "gone from the store (applied and cleaned up, or another store)"
    if row.state == CheckTaskState.DONE.value:
        return f"done already by {row.worker or 'another worker'}"
    if row.state == CheckTaskState.FAILED.value:
        return "given up by the leader or failed"
    if row.attempts != attempt:
        return f"sent again since (attempt {row.attempts} does it)"
    row.state = CheckTaskState.RUNNING.value
    row.worker = worker[:200]
    row.started_at = now
    return row


def fail_task(
    session: Session, task_id: int, findings: Sequence[Finding], *, error: str, now: datetime
) -> bool:
    """Mark the run failed for good with its error (no send again can help: a config
    the worker refuses); the leader applies `findings`, which say why."""
    row = session.get(CheckTask, task_id, with_for_update=True)
    if row is None or row.state in (CheckTaskState.DONE.value, CheckTaskState.FAILED.value):
        return False
    row.state = CheckTaskState.FAILED.value
    row.finished_at = now
    row.error = error[:4000]
    row.findings = findings_json(findings)
    return True


def finish_task(
    session: Session,
    task_id: int,
    findings: Sequence[Finding],
    *,
    worker: str,
    now: datetime,
    duration_s: float,
    error: str | None = None,
) -> bool:
    """Write the run's findings and mark it done; False when another delivery did first."""
    row = session.get(CheckTask, task_id, with_for_update=True)
    if row is None or row.state == CheckTaskState.DONE.value:
        return False
    row.state = CheckTaskState.DONE.value
    row.worker = worker[:200]
    row.finished_at = now
    row.duration_s = duration_s
    row.findings = findings_json(findings)
    row.error = error[:4000] if error else None
    return True
