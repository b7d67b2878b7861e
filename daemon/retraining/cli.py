"""What retraining prints: `mlmaint retrain`, `retrain rollback`, `retrain unpin`, `worker`.

The commands are where the wall clock is read: each takes the time once and
hands it to the stage as its `now`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from daemon.config import Settings
from daemon.retraining.job import wait_for_jobs
from daemon.retraining.submit import SubmitError, submit_if_due
from daemon.retraining.versions import rollback, unpin


def retrain_command(
    settings: Settings, model: str, *, wait: bool, echo: Callable[[str], None]
) -> int:
    """`mlmaint retrain MODEL`: submit now and, with `wait`, poll until it ends."""
    from daemon.jobs import JobContext

    try:
        settings_model = settings.model(model)
    except KeyError as exc:
        echo(str(exc))
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        now = datetime.now(UTC)
        try:
            decision, job_uid = submit_if_due(ctx, settings_model, now, manual=True)
        except SubmitError as exc:
            echo(str(exc))
            return 1
        if job_uid is None:
            echo(f"{model}: not started: {decision.reason}")
            return 1
        echo(f"{model}: job {job_uid} submitted to the {settings.executor.kind.value} executor")
        if not wait:
            return 0
        findings = wait_for_jobs(
            ctx,
            now,
            timeout_s=settings.executor.timeout.total_seconds() + 60,
            model=model,
            clock=lambda: datetime.now(UTC),
        )
        for finding in findings:
            echo(finding.summary)
            tail = finding.details.get("log_tail")
            if finding.firing and isinstance(tail, str) and tail:
                echo(tail)
        return 1 if any(f.firing for f in findings) else 0
    finally:
        ctx.close()


def parse_pin(pin_for: str | None, until: str | None, now: datetime) -> datetime | None:
    """`--pin-for 7d` or `--until 2026-12-31` (UTC midnight, or a full ISO time) -> expiry."""
    if pin_for is not None and until is not None:
        raise ValueError("give --pin-for or --until, not both")
    if pin_for is not None:
        from daemon.config import parse_duration

        return now + parse_duration(pin_for)
    if until is not None:
        try:
            value = datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"--until {until!r}: not a date or an ISO time") from exc
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def rollback_command(
    settings: Settings,
    model: str,
    *,
    echo: Callable[[str], None],
    pin_for: str | None = None,
    until: str | None = None,
    by: str | None = None,
) -> int:
    """`mlmaint retrain rollback MODEL [--pin-for 7d | --until 2026-12-31]`."""
    from daemon.jobs import JobContext
    from retrain.interface import RegistryError

    try:
        settings.model(model)
    except KeyError as exc:
        echo(str(exc))
        return 2
    now = datetime.now(UTC)
    try:
        expiry = parse_pin(pin_for, until, now)
        if expiry is not None and expiry <= now:
            raise ValueError(f"pin until {expiry.isoformat()} is not in the future")
    except ValueError as exc:
        echo(f"{model}: {exc}")
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        result = rollback(ctx, model, now, until=expiry, by=by)
    except RegistryError as exc:
        echo(f"{model}: {exc}")
        return 1
    finally:
        ctx.close()
    shown = expiry.isoformat() if expiry is not None else f"`mlmaint retrain unpin {model}`"
    echo(
        f"{model}: serving version {result.to_version} again (was {result.from_version}); "
        f"pinned, no automatic promotion until {shown}"
    )
    return 0


def unpin_command(settings: Settings, model: str, *, echo: Callable[[str], None]) -> int:
    """`mlmaint retrain unpin MODEL`."""
    from daemon.jobs import JobContext

    try:
        settings.model(model)
    except KeyError as exc:
        echo(str(exc))
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        pin = unpin(ctx, model, datetime.now(UTC))
    finally:
        ctx.close()
    if pin is None:
        echo(f"{model}: not pinned")
    else:
        echo(f"{model}: unpinned (was pinned to version {pin.version}): promotion may resume")
    return 0


def worker_command(settings: Settings, *, concurrency: int, hostname: str | None) -> None:
    """`mlmaint worker`: a Celery worker consuming the configured queue."""
    from retrain.worker import run_worker

    celery = settings.executor.celery
    run_worker(
        celery.broker_url,
        celery.result_backend,
        celery.queue,
        celery.visibility_timeout,
        concurrency=concurrency,
        hostname=hostname,
    )
