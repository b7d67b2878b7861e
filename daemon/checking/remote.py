"""Check runs on workers (`[checks] run_on = "celery"`): the leader's half.

`send_checks` is the scheduled check job of a model then: it queues the run's
`check_tasks` row (or keeps the one there) and sends it by task name to the
`checks` queue; a `mlmaint worker --queue checks` computes it and stores its runs
and findings (daemon/checking/worker.py). `collect_checks` is the leader's job that
applies the findings of finished runs: per model strictly in window order (a later
window waits for an earlier one until that is done or given up), each in the
transaction that marks it applied, so a finding is applied once. A run past its
deadline is sent again (its attempt counted) up to `[checks.celery] attempts`, then
given up with a "monitoring" finding that says so. The leader stays the one writer
of alert state.

The deadline counts from when a worker starts the run: the first collect that finds
it running gives it `deadline` from then. A run still waiting in the queue is not
sent again at its deadline (that would stack messages for one run behind a busy or
absent fleet); it is sent again only when the broker may have lost it, once it has
waited `visibility_timeout` plus `deadline`.

The leader sends the kinds it expects explicitly (its config's enabled kinds for
the model); a worker whose config enables others fails the run with an error naming
both (daemon/checking/worker.py), which the leader applies as a firing finding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from checks.interface import CheckKind
from daemon.alerts.finding import Finding
from daemon.checking.findings import monitoring
from daemon.checking.specs import enabled_kinds
from daemon.checking.tasks import findings_from_json, findings_json, queue_task
from daemon.config import Settings
from daemon.store.tables import CheckTask, CheckTaskState

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


class Apply(Protocol):
    """The alert policy's entry (daemon.alerts.policy.apply_findings): `present` is,
    per model, the latest window whose findings were applied before these."""

    def __call__(
        self,
        session: Session,
        settings: Settings,
        findings: Sequence[Finding],
        now: datetime,
        *,
        present: Mapping[str, datetime] | None = None,
    ) -> object: ...


# Applied runs' rows are kept this long (the report's week of daemon health, and more).
KEEP_APPLIED = timedelta(days=35)
PENDING = (CheckTaskState.QUEUED.value, CheckTaskState.RUNNING.value)


def message_id(task_id: int, attempt: int) -> str:
    """The Celery task id of a run's send: one per attempt, known to both sides."""
    return f"mlmaint-check-{task_id}-{attempt}"


def workers_finding(model: str, why: str | None) -> Finding:
    """Whether the model's runs reach the workers: firing when one was given up."""
    return monitoring(
        model,
        "check workers",
        why,
        firing=f"{model}: a check run was given up ({why})",
        resolved=f"{model}: its checks run on the workers again",
    )


def lost_after(ctx: JobContext) -> timedelta:
    """How long a sent run may wait in the queue before the leader takes the broker to
    have lost it and sends it again."""
    settings = ctx.settings.checks.celery
    return settings.visibility_timeout + settings.deadline


def _error_text(row: CheckTask) -> str:
    return f"; last error: {row.error.splitlines()[0][:300]}" if row.error else ""


def _send(
    ctx: JobContext, row_id: int, model: str, end: datetime, kinds: str, attempt: int
) -> None:
    ctx.check_sender(
        ctx.settings.checks.celery,
        [row_id, model, end.isoformat(), kinds, attempt],
        message_id=message_id(row_id, attempt),
    )


def send_checks(
    ctx: JobContext,
    model: str,
    now: datetime,
    *,
    kinds: Iterable[CheckKind] | None = None,
    sent_at: datetime | None = None,
) -> int:
    """Queue the model's check run of the window ending `now` and send it; its row id.

    A cycle that runs again (a leader that died mid-cycle) finds its row and sends
    nothing. A run queued while the model's previous one is unfinished is sent (a
    window is never dropped) and marked: the cycle overran, and that is logged and
    counted, never silently stacked. `sent_at` (default: `now`) is when the run is
    sent, which its deadline counts from (a past window sent now).
    """
    # Explicit, never "all": the worker compares them with its own config's.
    wanted = tuple(kinds) if kinds is not None else enabled_kinds(ctx.settings.model(model))
    with ctx.sessions.begin() as session:
        queued = queue_task(session, model, wanted, now, sent_at or now, lost_after(ctx))
        key = session.get_one(CheckTask, queued.task_id).kinds
    if queued.overran and queued.send:
        log.warning(
            "checks %s: the cycle of %s starts before the previous one finished "
            "(workers behind: see mlmaint_check_queue_lag_seconds)",
            model,
            now.isoformat(),
        )
    if not queued.send:
        log.info("checks %s: the run of %s is queued already", model, now.isoformat())
        return queued.task_id
    try:
        _send(ctx, queued.task_id, model, now, key, queued.attempt)
    except Exception as exc:
        # The row stays queued with its deadline now: the next collect sends it again.
        with ctx.sessions.begin() as session:
            row = session.get_one(CheckTask, queued.task_id)
            row.deadline = now
        raise RuntimeError(f"checks {model}: cannot reach the checks broker: {exc}") from exc
    return queued.task_id


def _apply_row(
    ctx: JobContext, row_id: int, now: datetime, apply: Apply, extra: Sequence[Finding] = ()
) -> bool:
    """Apply a finished run's findings in the transaction that marks it applied."""
    with ctx.sessions.begin() as session:
        row = session.get(CheckTask, row_id, with_for_update=True)
        if row is None or row.applied_at is not None:
            return False
        findings = [*findings_from_json(row.findings), *extra]
        # The present the alerts speak of is the latest window applied, not the latest
        # stored: a worker may have stored a later window before this one was done,
        # and this one comes first (window order), so it fires and resolves as in the
        # daemon.
        latest = session.scalar(
            select(func.max(CheckTask.window_end)).where(
                CheckTask.model == row.model, CheckTask.applied_at.is_not(None)
            )
        )
        apply(
            session,
            ctx.settings,
            findings,
            now,
            present={row.model: latest} if latest is not None else {},
        )
        row.applied_at = now
    return True


def _give_up(ctx: JobContext, row: CheckTask, now: datetime) -> Finding:
    how = (
        f"started on {row.worker} and not finished within its deadline"
        if row.state == CheckTaskState.RUNNING.value
        else "no worker started it (is a `mlmaint worker --queue checks` running?)"
    )
    why = (
        f"the window ending {row.window_end.isoformat()} was sent {row.attempts} time(s); "
        f"{how}" + _error_text(row)
    )
    finding = workers_finding(row.model, why)
    with ctx.sessions.begin() as session:
        fresh = session.get(CheckTask, row.id, with_for_update=True)
        if fresh is not None and fresh.state in PENDING:
            fresh.state = CheckTaskState.FAILED.value
            fresh.finished_at = now
            fresh.findings = findings_json([finding])
    log.error("checks %s: %s", row.model, why)
    return finding


def _resend(ctx: JobContext, row: CheckTask, now: datetime) -> None:
    settings = ctx.settings.checks.celery
    with ctx.sessions.begin() as session:
        fresh = session.get(CheckTask, row.id, with_for_update=True)
        if fresh is None or fresh.state not in PENDING:
            return
        fresh.attempts += 1
        fresh.state = CheckTaskState.QUEUED.value
        fresh.deadline = now + settings.visibility_timeout + settings.deadline
        attempt = fresh.attempts
    if row.state == CheckTaskState.RUNNING.value:
        why = f"started on {row.worker} and passed its deadline"
    else:
        why = "waited in the queue past visibility_timeout + deadline (the broker lost it?)"
    log.warning(
        "checks %s: the run of %s %s%s: sent again, attempt %d",
        row.model,
        row.window_end.isoformat(),
        why,
        _error_text(row),
        attempt,
    )
    _send(ctx, row.id, row.model, row.window_end, row.kinds, attempt)


def _started(ctx: JobContext, row: CheckTask, now: datetime) -> datetime:
    """A running run's deadline: `deadline` from the first collect that saw it running
    (the leader's clock; the queued send's longer wait no longer applies)."""
    due = now + ctx.settings.checks.celery.deadline
    if row.deadline <= due:
        return row.deadline
    with ctx.sessions.begin() as session:
        fresh = session.get(CheckTask, row.id, with_for_update=True)
        if fresh is None or fresh.state != CheckTaskState.RUNNING.value:
            return row.deadline
        fresh.deadline = due
    return due


def collect_checks(ctx: JobContext, now: datetime, *, apply: Apply | None = None) -> int:
    """Apply the findings of finished runs, per model in window order; re-send or give
    up runs past their deadline. Returns how many runs were applied."""
    if apply is None:
        from daemon.alerts.policy import apply_findings

        apply = apply_findings
    attempts = ctx.settings.checks.celery.attempts
    with ctx.sessions() as session:
        rows = list(
            session.scalars(
                select(CheckTask)
                .where(CheckTask.applied_at.is_(None))
                .order_by(CheckTask.model, CheckTask.kinds, CheckTask.window_end)
            )
        )
        session.expunge_all()
    applied = 0
    for _key, group in groupby(rows, key=lambda r: (r.model, r.kinds)):
        for row in group:
            if row.state == CheckTaskState.DONE.value:
                ok = workers_finding(row.model, None)
                applied += _apply_row(ctx, row.id, now, apply, [ok])
                continue
            if row.state == CheckTaskState.FAILED.value:
                log.error(
                    "checks %s: the run of %s failed on %s%s",
                    row.model,
                    row.window_end.isoformat(),
                    row.worker or "a worker",
                    _error_text(row),
                )
                applied += _apply_row(ctx, row.id, now, apply)
                continue
            if row.state == CheckTaskState.RUNNING.value:
                row.deadline = _started(ctx, row, now)
            if row.deadline > now:
                break  # a later window waits for this one
            if row.attempts < attempts:
                _resend(ctx, row, now)
                break
            _give_up(ctx, row, now)
            applied += _apply_row(ctx, row.id, now, apply)
    with ctx.sessions.begin() as session:
        session.execute(
            delete(CheckTask).where(
                CheckTask.applied_at.is_not(None), CheckTask.applied_at < now - KEEP_APPLIED
            )
        )
    if applied:
        log.info("checks collected: %d run(s) applied", applied)
    return applied
