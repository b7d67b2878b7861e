"""The job table: what each stage runs, and the jobs the config asks for.

A `Stage` names what a job does; `job_function` maps it to the function that does
it (imported lazily, so start-up stays light); `build_jobs` turns the config into
one `JobSpec` per (model, stage) and one per global stage.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, assert_never

from daemon.config import ModelSettings, RunOn, Schedule, Settings

if TYPE_CHECKING:
    from daemon.jobs import JobContext

JobFn = Callable[["JobContext", str | None, datetime], object]
GlobalJobFn = Callable[["JobContext", datetime], object]
ModelJobFn = Callable[["JobContext", str, datetime], object]


def _per_model(fn: ModelJobFn) -> JobFn:
    """Per-model jobs take the model's name."""

    def run(ctx: JobContext, model: str | None, now: datetime) -> object:
        if model is None:
            raise ValueError(f"{getattr(fn, '__name__', 'job')} runs for a model, none given")
        return fn(ctx, model, now)

    run.__qualname__ = run.__name__ = getattr(fn, "__name__", "job")
    # `__wrapped__` names the job function itself, so the table can be checked by identity.
    return functools.update_wrapper(run, fn, assigned=(), updated=())


def _global(fn: GlobalJobFn) -> JobFn:
    """Jobs without a model take (ctx, now); the scheduler calls every job the same way."""

    def run(ctx: JobContext, _model: str | None, now: datetime) -> object:
        return fn(ctx, now)

    run.__qualname__ = run.__name__ = getattr(fn, "__name__", "job")
    # `__wrapped__` names the job function itself, so the table can be checked by identity.
    return functools.update_wrapper(run, fn, assigned=(), updated=())


class Stage(enum.StrEnum):
    """What a job does. Per-model stages run once per configured model."""

    SAMPLE = "sample"
    LABELS = "labels"
    # A model's own expired rows.
    RETENTION = "retention"
    # Once for all models, on the retention schedule: evidence pages and job history.
    SWEEP = "sweep"
    # Every enabled check of a model, in one cycle: one window, one alert message.
    CHECKS = "checks"
    # With `[checks] run_on = "celery"`: the findings of runs the workers finished,
    # applied by the leader (the one writer of alert state) in window order.
    COLLECT_CHECKS = "collect_checks"
    RETRAIN_POLICY = "retrain_policy"
    RETRAIN_POLL = "retrain_poll"
    DELIVER = "deliver"
    FRAMEWORKS = "frameworks"
    # `frameworks verify` on a schedule: only when `frameworks.verify_schedule` is set.
    FRAMEWORKS_VERIFY = "frameworks_verify"
    REPORT = "report"

    @property
    def per_model(self) -> bool:
        return self not in (
            Stage.SWEEP,
            Stage.COLLECT_CHECKS,
            Stage.DELIVER,
            Stage.FRAMEWORKS,
            Stage.FRAMEWORKS_VERIFY,
            Stage.REPORT,
            Stage.RETRAIN_POLL,
        )


def job_function(stage: Stage) -> JobFn:
    """The function that runs `stage`; imported here so start-up stays light."""
    match stage:
        case Stage.SAMPLE:
            from daemon.sampling import sample_predictions

            return _per_model(sample_predictions)
        case Stage.LABELS:
            from daemon.sampling import ingest_labels

            return _per_model(ingest_labels)
        case Stage.RETENTION:
            from daemon.retention import apply_retention

            return _per_model(apply_retention)
        case Stage.SWEEP:
            # What the models share (the evidence directory, the job history): swept
            # once, not once per model.
            from daemon.retention import sweep_all

            return _global(sweep_all)
        case Stage.CHECKS:
            from daemon.checking.job import run_model_checks

            return run_model_checks
        case Stage.COLLECT_CHECKS:
            from daemon.checking.remote import collect_checks

            return _global(collect_checks)
        case Stage.RETRAIN_POLICY:
            from daemon.retraining.job import retrain_policy

            # Retrain findings are applied with the job state they come from.
            return retrain_policy
        case Stage.RETRAIN_POLL:
            from daemon.retraining.job import poll_jobs

            return poll_jobs
        case Stage.DELIVER:
            # Not only delivery: repeats and resolutions that fell due are queued first.
            from daemon.alerts.jobs import alert_cycle

            return _global(alert_cycle)
        case Stage.FRAMEWORKS:
            from daemon.frameworks.job import scan_frameworks

            # Its alerts are applied in the transaction that stores the findings.
            return _global(scan_frameworks)
        case Stage.FRAMEWORKS_VERIFY:
            from daemon.frameworks.verify import verify_scheduled

            return _global(verify_scheduled)
        case Stage.REPORT:
            from daemon.report.deliver import weekly_report

            return _global(weekly_report)
        case _:
            assert_never(stage)


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One scheduled job: a stage, its subject (a model or none) and its cadence."""

    stage: Stage
    model: str | None
    schedule: Schedule

    @property
    def id(self) -> str:
        return job_id(self.stage, self.model)


def job_id(stage: Stage, model: str | None) -> str:
    """A job's id: "drift:churn", "deliver"."""
    return f"{stage.value}:{model}" if model else stage.value


def _model_jobs(model: ModelSettings, settings: Settings) -> Iterator[JobSpec]:
    name = model.name
    yield JobSpec(stage=Stage.SAMPLE, model=name, schedule=model.sampling.schedule)
    if model.labels is not None:
        yield JobSpec(stage=Stage.LABELS, model=name, schedule=model.sampling.schedule)
    yield JobSpec(stage=Stage.RETENTION, model=name, schedule=settings.service.retention_schedule)
    checks = model.checks
    # One job for all of a model's checks: they share a cadence and a window, and a
    # cycle's findings go to the alert policy together, so people get one message
    # per model and cycle (four jobs made three Slack posts in the same second).
    if any(
        c.enabled for c in (checks.drift, checks.quality, checks.performance, checks.operations)
    ):
        yield JobSpec(stage=Stage.CHECKS, model=name, schedule=checks.schedule)
    if model.retrain.enabled:
        yield JobSpec(stage=Stage.RETRAIN_POLICY, model=name, schedule=model.retrain.schedule)


def build_jobs(settings: Settings) -> tuple[JobSpec, ...]:
    """Every job the config asks for, in a stable order."""
    jobs: list[JobSpec] = []
    for model in settings.models:
        jobs.extend(_model_jobs(model, settings))
    jobs.append(
        JobSpec(stage=Stage.SWEEP, model=None, schedule=settings.service.retention_schedule)
    )
    if settings.checks.run_on is RunOn.CELERY:
        every = settings.checks.celery.collect_every
        jobs.append(JobSpec(stage=Stage.COLLECT_CHECKS, model=None, schedule=Schedule(every=every)))
    if any(m.retrain.enabled for m in settings.models):
        jobs.append(
            JobSpec(
                stage=Stage.RETRAIN_POLL,
                model=None,
                schedule=settings.service.retrain_poll_schedule,
            )
        )
    jobs.append(
        JobSpec(
            stage=Stage.DELIVER, model=None, schedule=Schedule(every=settings.alerts.delivery_every)
        )
    )
    if settings.frameworks.enabled:
        jobs.append(
            JobSpec(stage=Stage.FRAMEWORKS, model=None, schedule=settings.frameworks.schedule)
        )
    verify = settings.frameworks.verify_schedule
    if settings.frameworks.enabled and verify is not None:
        jobs.append(JobSpec(stage=Stage.FRAMEWORKS_VERIFY, model=None, schedule=verify))
    if settings.report.enabled:
        jobs.append(JobSpec(stage=Stage.REPORT, model=None, schedule=settings.report.schedule))
    return tuple(jobs)
