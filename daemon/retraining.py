"""The daemon's side of retraining: decide, snapshot, submit, poll, record, promote.

`retrain_policy(ctx, model, now)` reads the store (check runs, jobs) and hands
the facts to `retrain.policy.decide`; a yes builds the training snapshot (the
current reference plus recent labelled samples, minus the newest share kept as
the holdout), submits a `RetrainSpec` and records a `RetrainJob`.
`poll_jobs(ctx, model, now)` asks the executors, records state changes and,
after a promotion, points the model at its new version and reference.

A job's end (or a failed submit) goes to the alert policy in the transaction
that records it, so a crash can never lose the alert. Both functions also
return those `Finding`s, for information only: callers must not apply them
again. Each decision is an event, told once (deduplicated by the job id):
promoted (the metric, champion score -> challenger score), kept the champion
(both scores), failed or timed out (the error); a rollback is one too.

A rollback pins the model to the version it rolled back to, until `retrain
unpin` or the expiry given: while the pin holds the policy submits no
automatic job, and a manual job runs with `allow_promotion=False` (registered
and scored, never promoted). The serving version's reference (its MLflow tags)
becomes the model's reference again, so the checks and their baseline follow.

The decision and the job's row are one transaction holding the decision lock
(one for all models): a manual `mlmaint retrain` and the scheduled policy
cannot both submit, two models cannot both take the last place under
`executor.max_concurrent`, and a job is on record (QUEUED, no external id yet)
before it is submitted.

Times in the store are the job clock's `now` (simulated in the demo); a job's
deadline is wall-clock time, because it bounds a real process.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from checks.interface import Status, TaskKind
from daemon.alerts.finding import Finding
from daemon.alerts.policy import apply_findings
from daemon.config import ExecutorKind, ModelSettings, Settings, Severity
from daemon.frames import typed_training
from daemon.private import private_dir, private_file
from daemon.store import features
from daemon.store.engine import transaction
from daemon.store.tables import CheckRun, Model, Prediction, RetrainJob
from retrain.interface import (
    DataRef,
    Executor,
    JobState,
    JobStatus,
    Resources,
    RetrainOutcome,
    RetrainSpec,
    TrainerKind,
)
from retrain.policy import Decision, PolicyInput, Trigger, decide

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm import Session

    from daemon.jobs import JobContext
    from retrain.registry import Rollback

log = logging.getLogger(__name__)

ACTIVE = (JobState.QUEUED, JobState.RUNNING)
# How many recent check runs per kind the failing streak looks at.
STREAK_LOOKBACK = 100
LOG_TAIL_CHARS = 20_000


class SubmitError(RuntimeError):
    """The executor refused a job: its row is FAILED and its alert applied already."""

    def __init__(self, job_uid: str, finding: Finding) -> None:
        super().__init__(finding.summary)
        self.job_uid = job_uid
        self.finding = finding


# --------------------------------------------------------------------------- wiring


def tracking_uri(settings: Settings) -> str:
    """The MLflow URI with a relative SQLite path made absolute: jobs run elsewhere."""
    uri = settings.mlflow.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and uri != prefix + ":memory:":
        path = Path(uri.removeprefix(prefix)).resolve()
        # Made 0600 before MLflow opens it (an empty file is an empty database).
        private_file(path)
        return f"{prefix}{path}"
    return uri


def artifact_location(settings: Settings, model: str) -> str:
    root = settings.mlflow.artifact_root.resolve()
    private_dir(root)
    return (root / model).as_uri()


def make_executor(settings: Settings, kind: str | None = None) -> Executor:
    """The executor a job runs on: the configured one, or the one a job row names."""
    chosen = ExecutorKind(kind or settings.executor.kind)
    match chosen:
        case ExecutorKind.LOCAL:
            from retrain.executors.local import LocalExecutor

            workdir = settings.service.state_dir / "retrain-jobs"
            python = settings.executor.python
            if python is None:
                return LocalExecutor(workdir)
            return LocalExecutor(workdir, python=str(python))
        case ExecutorKind.CELERY:
            from retrain.executors.celery import CeleryExecutor

            celery = settings.executor.celery
            return CeleryExecutor(
                celery.broker_url, celery.result_backend, celery.queue, celery.visibility_timeout
            )


class _Executors:
    """The executors of one stage run: made on first use, one per kind."""

    def __init__(self, settings: Settings, given: Executor | None) -> None:
        self.settings = settings
        self.given = given
        self.made: dict[ExecutorKind, Executor] = {}

    def get(self, kind: str | None = None) -> Executor:
        if self.given is not None:
            return self.given
        chosen = ExecutorKind(kind or self.settings.executor.kind)
        if chosen not in self.made:
            self.made[chosen] = make_executor(self.settings, chosen.value)
        return self.made[chosen]


@contextmanager
def executors_for(settings: Settings, given: Executor | None = None) -> Iterator[_Executors]:
    """Executors made for one call and closed at its end (a given one stays the caller's).

    A Celery executor holds connections: one made per submit or poll and never
    closed would leak them in the long-running daemon.
    """
    executors = _Executors(settings, given)
    try:
        yield executors
    finally:
        for made in executors.made.values():
            try:
                made.close()
            except Exception as exc:
                log.warning("closing the %s executor failed: %s", made.name, exc)


def model_row(session: Session, name: str, now: datetime) -> Model:
    from daemon.store.models import ensure_model

    return session.get_one(Model, ensure_model(session, name, now))


# --------------------------------------------------------------------------- pins


@dataclass(frozen=True, kw_only=True)
class Pin:
    """A model held on one version by a person: no automatic promotion meanwhile."""

    model: str
    version: str
    since: datetime
    # None: until `mlmaint retrain unpin`.
    until: datetime | None
    by: str | None

    def holds(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    @property
    def reason(self) -> str:
        until = (
            self.until.isoformat()
            if self.until is not None
            else f"unpinned (`mlmaint retrain unpin {self.model}`)"
        )
        return f"pinned to version {self.version} until {until}"


def pin_of(row: Model) -> Pin | None:
    """The model's recorded pin, whether it still holds or has expired."""
    if row.pinned_version is None or row.pinned_at is None:
        return None
    return Pin(
        model=row.name,
        version=row.pinned_version,
        since=row.pinned_at,
        until=row.pinned_until,
        by=row.pinned_by,
    )


def active_pin(row: Model, now: datetime) -> Pin | None:
    """The pin in force at `now`; an expired pin no longer holds."""
    pin = pin_of(row)
    return pin if pin is not None and pin.holds(now) else None


# --------------------------------------------------------------------------- data


def recent_labelled(
    session: Session, model_id: int, model: ModelSettings, now: datetime
) -> pd.DataFrame:
    """Labelled sampled predictions from the last `recent_labelled`, oldest first."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    schema = model.schema_
    since = now - model.retrain.recent_labelled
    rows = session.execute(
        select(
            Prediction.prediction_id,
            Prediction.ts,
            Prediction.layout_id,
            Prediction.numeric_features,
            Prediction.categorical_features,
            Prediction.label,
        )
        .where(
            Prediction.model_id == model_id,
            Prediction.label.is_not(None),
            Prediction.ts >= since,
            Prediction.ts <= now,
        )
        .order_by(Prediction.ts, Prediction.prediction_id)
    ).all()
    layout_ids = [r.layout_id for r in rows]
    layouts = features.layouts_of(session, model_id)
    numbers = features.unpack(
        pa.array([r.numeric_features for r in rows], pa.binary()),
        np.asarray(layout_ids, dtype=np.int64),
        layouts,
        schema.numeric,
    )
    data: dict[str, object] = {
        "prediction_id": [r.prediction_id for r in rows],
        "timestamp": [r.ts for r in rows],
    }
    for c in schema.numeric:
        data[c] = numbers[c].to_numpy(zero_copy_only=False)
    for c in schema.categorical:
        data[c] = [r.categorical_features.get(c) for r in rows]
    stored = [r.label for r in rows]
    if model.task is TaskKind.BINARY:
        # A binary label is stored as the number it spells; rows stored before the one
        # typing say "1.0" where new ones say "1": both are read as one class.
        from checks.typed import text_category

        stored = [None if v is None else text_category(v) for v in stored]
    data[schema.label] = stored
    columns = ["prediction_id", "timestamp", *schema.features, schema.label]
    # Typed by the one typing: numerics always float (a column of whole numbers must
    # not turn int64 in a model signature), a missing categorical stays missing, the
    # label as stored (canonical text) or a float for regression.
    return typed_training(pd.DataFrame(data, columns=columns), model)


def build_snapshots(
    reference: pd.DataFrame | None,
    recent: pd.DataFrame,
    model: ModelSettings,
    directory: Path,
) -> tuple[DataRef, DataRef | None]:
    """Training snapshot (reference + older recent rows) and the holdout (newest rows)."""
    import pandas as pd

    from retrain.snapshot import write_snapshot

    schema = model.schema_
    columns = [*schema.features, schema.label]
    recent = typed_training(recent, model) if len(recent) else recent
    n_holdout = round(len(recent) * model.retrain.holdout_share)
    holdout = recent.iloc[len(recent) - n_holdout :] if n_holdout else recent.iloc[:0]
    train_recent = recent.iloc[: len(recent) - n_holdout]
    parts = [train_recent.loc[:, ["prediction_id", *columns]]] if len(train_recent) else []
    if reference is not None and len(reference):
        ref = typed_training(reference, model)
        if "prediction_id" not in ref.columns:
            ref = ref.assign(prediction_id=[f"ref-{i:09d}" for i in range(len(ref))])
        held = set(holdout["prediction_id"]) if len(holdout) else set()
        parts.insert(0, ref.loc[~ref["prediction_id"].isin(held), ["prediction_id", *columns]])
    if not parts:
        raise ValueError(f"model {model.name}: no reference and no labelled rows to train on")
    train = pd.concat(parts, ignore_index=True).drop_duplicates("prediction_id", keep="last")
    train_ref = write_snapshot(train, directory, columns)
    holdout_ref = (
        write_snapshot(holdout.loc[:, ["prediction_id", *columns]], directory, columns)
        if len(holdout)
        else None
    )
    return train_ref, holdout_ref


def build_spec(
    settings: Settings,
    model: ModelSettings,
    job_id: str,
    trigger: str,
    snapshot: DataRef,
    holdout: DataRef | None,
    *,
    allow_promotion: bool = True,
) -> RetrainSpec:
    from daemon.checking.specs import decay_spec
    from retrain.versions import code_version, framework_versions

    retrain = model.retrain
    return RetrainSpec(
        job_id=job_id,
        model=model.name,
        task=TaskKind(model.task.value),
        trigger=trigger,
        numeric=model.schema_.numeric,
        categorical=model.schema_.categorical,
        label=model.schema_.label,
        snapshot=snapshot,
        holdout=holdout,
        trainer=TrainerKind(retrain.trainer.value),
        target=retrain.target,
        params=dict(retrain.params),
        seed=retrain.seed,
        resources=Resources(gpus=retrain.gpus, memory_gb=retrain.memory_gb),
        deadline=datetime.now(UTC) + settings.executor.timeout,
        code_version=code_version(),
        framework_versions=framework_versions(),
        tracking_uri=tracking_uri(settings),
        artifact_location=artifact_location(settings, model.name),
        experiment=f"{settings.mlflow.experiment_prefix}-{model.name}",
        registered_model=model.name,
        alias=retrain.alias,
        promote_margin=retrain.promote_margin,
        # The metric the performance check alerts on decides the promotion too.
        metric=decay_spec(model).metric,
        python_path=retrain.python_path,
        allow_promotion=allow_promotion,
    )


# --------------------------------------------------------------------------- policy


def _streaks(
    session: Session,
    model_id: int,
    since: datetime | None,
    now: datetime,
    kinds: Sequence[str] = ("drift", "performance", "estimated_performance"),
) -> list[bool]:
    """The failing passes of the kind with the longest failing streak, newest first.

    Each check kind (drift, performance, ...) runs on its own cadence, so streaks
    are counted per kind. Insufficient data and errors neither count nor break a
    streak: they say nothing about the model.
    """
    from retrain.policy import failing_streak

    query = (
        select(CheckRun.kind, CheckRun.status)
        .where(
            CheckRun.model_id == model_id,
            CheckRun.ran_at <= now,
            CheckRun.kind.in_(list(kinds)),
        )
        .order_by(CheckRun.ran_at.desc(), CheckRun.id.desc())
        .limit(STREAK_LOOKBACK * 8)
    )
    if since is not None:
        query = query.where(CheckRun.ran_at > since)
    by_kind: dict[str, list[bool]] = {}
    for kind, status in session.execute(query):
        if status in (Status.OK, Status.ALERT):
            by_kind.setdefault(kind, []).append(status == Status.ALERT)
    return max(by_kind.values(), key=failing_streak, default=[])


def _facts(
    session: Session,
    settings: Settings,
    model: ModelSettings,
    row: Model,
    now: datetime,
    manual: bool,
) -> PolicyInput:
    last_job_at = session.scalar(
        select(func.max(RetrainJob.created_at)).where(RetrainJob.model_id == row.id)
    )
    active_model = session.scalar(
        select(func.count())
        .select_from(RetrainJob)
        .where(RetrainJob.model_id == row.id, RetrainJob.state.in_(ACTIVE))
    )
    active_all = session.scalar(
        select(func.count()).select_from(RetrainJob).where(RetrainJob.state.in_(ACTIVE))
    )
    return PolicyInput(
        now=now,
        manual=manual,
        passes_failed=_streaks(session, row.id, last_job_at, now, model.retrain.on_failing),
        failing_runs=model.retrain.failing_runs,
        every=model.retrain.every,
        min_interval=model.retrain.min_interval,
        last_job_at=last_job_at,
        serving_since=row.created_at,
        model_has_active_job=bool(active_model),
        active_jobs=int(active_all or 0),
        max_concurrent=settings.executor.max_concurrent,
        pinned=pin.reason if (pin := active_pin(row, now)) is not None else None,
    )


def _read_reference(row: Model) -> pd.DataFrame | None:
    import pandas as pd

    if row.reference_uri is None:
        return None
    from retrain.interface import DataRef
    from retrain.snapshot import read_snapshot

    if row.reference_sha256:
        return read_snapshot(DataRef(uri=row.reference_uri, sha256=row.reference_sha256, rows=0))
    return pd.read_parquet(row.reference_uri)


def policy_decision(
    ctx: JobContext, model: str, now: datetime, *, manual: bool = False
) -> Decision:
    """What the retrain policy would decide for `model` at `now`, submitting nothing."""
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        return decide(_facts(session, ctx.settings, ctx.settings.model(model), row, now, manual))


def retrain_policy(
    ctx: JobContext,
    model: str | None,
    now: datetime,
    *,
    manual: bool = False,
    executor: Executor | None = None,
) -> list[Finding]:
    """Decide for one model (or each with retraining enabled) and submit where due.

    Returns the alerts of failed submits (applied already) and, when `manual`,
    a not-started notice for a model the policy said no to (a reply to whoever
    asked, not an alert).
    """
    names = [model] if model is not None else [m.name for m in ctx.settings.models]
    findings: list[Finding] = []
    with executors_for(ctx.settings, executor) as executors:
        for name in names:
            settings_model = ctx.settings.model(name)
            if not settings_model.retrain.enabled and not manual:
                continue
            try:
                decision, job_uid = _submit_if_due(ctx, settings_model, now, manual, executors)
            except SubmitError as exc:
                # On record and alerted already; the other models still get their turn.
                findings.append(exc.finding)
                continue
            if job_uid is None and manual:
                findings.append(
                    Finding(
                        scope=name,
                        kind="retrain",
                        subject="request",
                        firing=False,
                        severity=Severity.INFO,
                        summary=f"retrain of {name} not started: {decision.reason}",
                    )
                )
    return findings


def submit_if_due(
    ctx: JobContext,
    model: ModelSettings,
    now: datetime,
    *,
    manual: bool = False,
    executor: Executor | None = None,
) -> tuple[Decision, str | None]:
    """The policy's decision and, when it said yes, the submitted job's uid.

    Raises `SubmitError` when the executor refuses the job (its row is FAILED
    and its alert applied by then).
    """
    with executors_for(ctx.settings, executor) as executors:
        return _submit_if_due(ctx, model, now, manual, executors)


# Retrain decisions of every model, one at a time: `max_concurrent` counts all jobs.
DECISION_LOCK = "mlmaint-retrain-decisions"


def _lock_decisions(session: Session, model_id: int) -> None:
    """Hold the decision lock until commit: one retrain decision at a time, any model.

    A decision counts the active jobs of its model and of all models, then records its
    job: two decisions interleaving could both see room under `max_concurrent`.
    """
    if session.get_bind().dialect.name == "postgresql":
        from daemon.leader import lock_key

        session.execute(select(func.pg_advisory_xact_lock(lock_key(DECISION_LOCK))))
        return
    # SQLite has no row locks and pysqlite starts a transaction at the first write
    # only: a write now takes the database's write lock, so a concurrent decision
    # waits here, then reads the job this one recorded.
    session.execute(update(Model).where(Model.id == model_id).values(name=Model.name))


def _submit_if_due(
    ctx: JobContext,
    model: ModelSettings,
    now: datetime,
    manual: bool,
    executors: _Executors,
) -> tuple[Decision, str | None]:
    started = time.monotonic()
    with transaction(ctx.sessions) as session:
        row = model_row(session, model.name, now)
        _lock_decisions(session, row.id)
        decision = decide(_facts(session, ctx.settings, model, row, now, manual))
        if not decision.submit or decision.trigger is None:
            log.debug("retrain policy for %s: no (%s)", model.name, decision.reason)
            return decision, None
        reference = _read_reference(row) if model.retrain.include_reference else None
        recent = recent_labelled(session, row.id, model, now)
        job_uid = uuid.uuid4().hex
        snapshot, holdout = build_snapshots(
            reference, recent, model, ctx.state_dir / "snapshots" / model.name
        )
        # Only a manual job gets this far while pinned: it may register, not promote.
        spec = build_spec(
            ctx.settings,
            model,
            job_uid,
            decision.trigger.value,
            snapshot,
            holdout,
            allow_promotion=active_pin(row, now) is None,
        )
        chosen = executors.get()
        # On record before it exists anywhere else: the no-duplicate guard of the
        # next decision sees it. If the daemon stops before recording the executor's
        # id, polling finds the job again by its job id, or ends it at its deadline.
        session.add(
            RetrainJob(
                job_uid=job_uid,
                model_id=row.id,
                trigger=decision.trigger.value,
                state=JobState.QUEUED,
                executor=chosen.name,
                external_id=None,
                spec=json.loads(spec.to_json()),
                snapshot_sha256=snapshot.sha256,
                created_at=now,
                deadline_at=spec.deadline,
            )
        )
    try:
        external_id = chosen.submit(spec)
    except Exception as exc:
        log.exception("retrain job %s for %s: submit failed", job_uid, model.name)
        with transaction(ctx.sessions) as session:
            job = session.scalars(select(RetrainJob).where(RetrainJob.job_uid == job_uid)).one()
            status = JobStatus(
                state=JobState.FAILED, error=f"submit failed: {type(exc).__name__}: {exc}"
            )
            finding = _finish(session, ctx.settings, job, model.name, status, now)
        assert finding is not None  # a FAILED status always makes one
        raise SubmitError(job_uid, finding) from exc
    with transaction(ctx.sessions) as session:
        session.execute(
            update(RetrainJob).where(RetrainJob.job_uid == job_uid).values(external_id=external_id)
        )
    log.info(
        "retrain policy for %s: submitted job %s (%s: %s; %d training rows, %s holdout) in %.1fs",
        model.name,
        job_uid,
        decision.trigger.value,
        decision.reason,
        snapshot.rows,
        holdout.rows if holdout else "no",
        time.monotonic() - started,
    )
    return decision, job_uid


# --------------------------------------------------------------------------- polling


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _finding(model: str, job: RetrainJob, status: JobStatus) -> Finding:
    """The job's decision as an event, told once (its id is the job's)."""
    outcome = status.outcome
    details: dict[str, object] = {
        "job_id": job.job_uid,
        "trigger": job.trigger,
        "executor": job.executor,
        "state": status.state.value,
        "snapshot_sha256": job.snapshot_sha256,
    }
    if status.state is JobState.SUCCEEDED and outcome is not None:
        details.update(
            version=outcome.registered_version,
            champion_version=outcome.champion_version,
            metric=outcome.metric,
            challenger_score=outcome.challenger_score,
            champion_score=outcome.champion_score,
            run_id=outcome.run_id,
            reason=outcome.reason,
        )
        metric = outcome.metric or "score"
        if outcome.promoted and outcome.champion_version is None:
            subject = "promotion"
            summary = (
                f"{model}: promoted version {outcome.registered_version}, the first to serve "
                f"({metric} {_score(outcome.challenger_score)} on the holdout)"
            )
        elif outcome.promoted:
            subject = "promotion"
            summary = (
                f"{model}: promoted version {outcome.registered_version} over version "
                f"{outcome.champion_version}: {metric} {_score(outcome.champion_score)} -> "
                f"{_score(outcome.challenger_score)}"
            )
        elif outcome.registered_version is None:
            subject = "promotion skipped"
            summary = f"{model}: kept version {outcome.champion_version}: {outcome.reason}"
        else:
            subject = "promotion skipped"
            summary = (
                f"{model}: kept version {outcome.champion_version}, retrained version "
                f"{outcome.registered_version} not promoted: {metric} champion "
                f"{_score(outcome.champion_score)}, challenger "
                f"{_score(outcome.challenger_score)} ({outcome.reason})"
            )
        return Finding(
            scope=model,
            kind="retrain",
            subject=subject,
            firing=False,
            severity=Severity.INFO,
            summary=summary,
            details=details,
            event_id=job.job_uid,
        )
    details["log_tail"] = (status.log_tail or "")[-4000:]
    return Finding(
        scope=model,
        kind="retrain",
        subject="failure",
        # Firing: something went wrong (`mlmaint retrain` exits 1); told once all the same.
        firing=True,
        severity=Severity.WARNING,
        summary=f"{model}: retrain job {job.job_uid} {status.state.value}: "
        f"{status.error or 'no error reported'}",
        details=details,
        event_id=job.job_uid,
    )


def poll_jobs(
    ctx: JobContext,
    model: str | None,
    now: datetime,
    *,
    executor: Executor | None = None,
) -> list[Finding]:
    """Ask the executors about queued and running jobs; record what changed.

    Each job's change and its alert commit together. A job that cannot be
    polled (a lost job directory, an executor that is gone) is retried until
    its deadline, then recorded FAILED: it must not hold a slot forever.
    """
    with transaction(ctx.sessions) as session:
        query = (
            select(RetrainJob.id, Model.name)
            .join(Model, Model.id == RetrainJob.model_id)
            .where(RetrainJob.state.in_(ACTIVE))
            .order_by(RetrainJob.id)
        )
        if model is not None:
            query = query.where(Model.name == model)
        active = session.execute(query).all()
    findings: list[Finding] = []
    with executors_for(ctx.settings, executor) as executors:
        for job_id, name in active:
            with transaction(ctx.sessions) as session:
                job = session.get_one(
                    RetrainJob, job_id, with_for_update=True, populate_existing=True
                )
                if job.state not in ACTIVE:
                    continue  # another poller recorded its end meanwhile
                status = _poll(executors, job)
                finding = (
                    None
                    if status is None
                    else _finish(session, ctx.settings, job, name, status, now)
                )
            if finding is not None:
                findings.append(finding)
    return findings


def _poll(executors: _Executors, job: RetrainJob) -> JobStatus | None:
    """The executor's word on a job; None while it cannot say and the deadline is ahead."""
    deadline = job.deadline_at or datetime.now(UTC)
    if job.external_id is None:
        # Submitted by a daemon that stopped before recording the executor's id (or
        # being submitted right now): the executor may know the job by its job id.
        try:
            job.external_id = executors.get(job.executor).locate(job.job_uid)
        except Exception as exc:
            log.warning("retrain job %s: cannot ask its executor: %s", job.job_uid, exc)
        if job.external_id is not None:
            log.info("retrain job %s found at its executor as %s", job.job_uid, job.external_id)
        elif datetime.now(UTC) <= deadline:
            return None
        else:
            return JobStatus(
                state=JobState.FAILED,
                error="never reached its executor (the daemon stopped while submitting it)",
            )
    try:
        return executors.get(job.executor).poll(job.external_id, deadline)
    except Exception as exc:
        # One broken job must not stop the rest; past its deadline it ends here.
        error = f"{type(exc).__name__}: {exc}"
        if datetime.now(UTC) <= deadline:
            log.warning("retrain job %s: cannot poll: %s", job.job_uid, error)
            return None
        return JobStatus(
            state=JobState.FAILED,
            error=f"still unreachable at its deadline {deadline.isoformat()}: {error}",
        )


def _finish(
    session: Session,
    settings: Settings,
    job: RetrainJob,
    model: str,
    status: JobStatus,
    now: datetime,
) -> Finding | None:
    """Record a job's status and, when it ended, apply its alert in the same transaction."""
    pin = _pinned_against(session, job, status, now)
    if pin is not None:
        status = _undo_promotion(settings, model, pin, status)
    finding = _record(session, job, model, status, now)
    if finding is not None and pin is not None and status.outcome is not None:
        finding = replace(
            finding,
            summary=f"{model}: retrained version {status.outcome.registered_version} not "
            f"promoted: {pin.reason} (the job began before the pin; the alias is back on "
            f"version {pin.version})",
        )
    if finding is not None:
        apply_findings(session, settings, [finding], now)
    return finding


def _pinned_against(
    session: Session, job: RetrainJob, status: JobStatus, now: datetime
) -> Pin | None:
    """The pin a job's promotion runs into: it was submitted before a rollback pinned it."""
    outcome = status.outcome
    if status.state is not JobState.SUCCEEDED or outcome is None or not outcome.promoted:
        return None
    pin = active_pin(session.get_one(Model, job.model_id), now)
    if pin is None or pin.version == outcome.registered_version:
        return None
    return pin


def _undo_promotion(settings: Settings, model: str, pin: Pin, status: JobStatus) -> JobStatus:
    """Put the serving alias back on the pinned version and record why on the new one."""
    from retrain import registry

    outcome = status.outcome
    assert outcome is not None and outcome.registered_version is not None  # see _pinned_against
    client = registry.client(tracking_uri(settings))
    client.set_registered_model_alias(model, settings.model(model).retrain.alias, pin.version)
    reason = f"promotion undone: {pin.reason} (it had been promoted: {outcome.reason})"
    registry.record_decision(client, model, outcome.registered_version, reason)
    log.warning(
        "retrain of %s promoted version %s against its pin to version %s: undone",
        model,
        outcome.registered_version,
        pin.version,
    )
    return replace(status, outcome=replace(outcome, promoted=False, reason=reason))


def _record(
    session: Session, job: RetrainJob, model: str, status: JobStatus, now: datetime
) -> Finding | None:
    if status.state is JobState.RUNNING and job.state == JobState.QUEUED:
        job.state = JobState.RUNNING
        job.started_at = now
        return None
    if not status.state.finished:
        return None
    job.state = status.state
    job.started_at = job.started_at or now
    job.finished_at = now
    job.log_tail = (status.log_tail or "")[-LOG_TAIL_CHARS:] or None
    job.error = status.error
    outcome = status.outcome
    if outcome is not None:
        job.outcome = json.loads(outcome.to_json())
        job.registered_version = outcome.registered_version
        job.promoted = outcome.promoted
        if outcome.traceback and not job.log_tail:
            job.log_tail = outcome.traceback[-LOG_TAIL_CHARS:]
    if status.state is JobState.SUCCEEDED and outcome is not None and outcome.promoted:
        row = session.get_one(Model, job.model_id)
        row.current_version = outcome.registered_version
        row.reference_uri = outcome.reference_uri
        row.reference_sha256 = outcome.reference_sha256 or outcome.snapshot_sha256
    log.info(
        "retrain job %s for %s: %s%s",
        job.job_uid,
        model,
        status.state.value,
        f" ({status.error})" if status.error else "",
    )
    return _finding(model, job, status)


def wait_for_jobs(
    ctx: JobContext,
    now: datetime,
    *,
    timeout_s: float = 600,
    poll_s: float = 0.5,
    model: str | None = None,
    executor: Executor | None = None,
) -> list[Finding]:
    """Poll until no job is queued or running (the demo and `mlmaint retrain` use this).

    The findings are applied already (see `poll_jobs`): they are returned to be shown.
    """
    findings: list[Finding] = []
    limit = time.monotonic() + timeout_s
    while True:
        findings.extend(poll_jobs(ctx, model, now, executor=executor))
        if not active_jobs(ctx, model):
            return findings
        if time.monotonic() > limit:
            raise TimeoutError(f"retrain jobs still active after {timeout_s:.0f}s")
        time.sleep(poll_s)


def active_jobs(ctx: JobContext, model: str | None = None) -> Sequence[str]:
    with transaction(ctx.sessions) as session:
        query = (
            select(RetrainJob.job_uid)
            .join(Model, Model.id == RetrainJob.model_id)
            .where(RetrainJob.state.in_(ACTIVE))
        )
        if model is not None:
            query = query.where(Model.name == model)
        return list(session.scalars(query))


# --------------------------------------------------------------------------- versions


def register_initial_version(
    ctx: JobContext, model: str, reference: pd.DataFrame, now: datetime
) -> RetrainOutcome:
    """Train on `reference`, register it, give it the serving alias, make it the reference.

    Runs in this process through the same job code as any retrain (trigger
    "initial", no holdout: the first version serves).
    """
    from retrain.job import execute
    from retrain.snapshot import write_snapshot

    settings_model = ctx.settings.model(model)
    schema = settings_model.schema_
    columns = [*schema.features, schema.label]
    # The newest share of the history is held out: the first version's baseline and
    # the calibration of its scores come from rows it never saw.
    frame = typed_training(reference, settings_model)
    n_holdout = round(len(frame) * settings_model.retrain.holdout_share)
    directory = ctx.state_dir / "snapshots" / model
    snapshot = write_snapshot(frame.iloc[: len(frame) - n_holdout], directory, columns)
    holdout = (
        write_snapshot(frame.iloc[len(frame) - n_holdout :], directory, columns)
        if n_holdout
        else None
    )
    job_uid = uuid.uuid4().hex
    spec = build_spec(
        ctx.settings, settings_model, job_uid, Trigger.INITIAL.value, snapshot, holdout
    )
    outcome = execute(spec)
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        state = outcome.state
        session.add(
            RetrainJob(
                job_uid=job_uid,
                model_id=row.id,
                trigger=Trigger.INITIAL.value,
                state=state,
                executor="inline",
                spec=json.loads(spec.to_json()),
                outcome=json.loads(outcome.to_json()),
                snapshot_sha256=snapshot.sha256,
                created_at=now,
                started_at=now,
                finished_at=now,
                deadline_at=spec.deadline,
                registered_version=outcome.registered_version,
                promoted=outcome.promoted,
                log_tail=outcome.traceback,
                error=outcome.error,
            )
        )
        if outcome.promoted:
            row.current_version = outcome.registered_version
            row.reference_uri = outcome.reference_uri or snapshot.uri
            row.reference_sha256 = outcome.reference_sha256 or snapshot.sha256
    return outcome


def rollback(
    ctx: JobContext,
    model: str,
    now: datetime,
    *,
    until: datetime | None = None,
    by: str | None = None,
) -> Rollback:
    """Move the serving alias back to the previous champion, pin it, restore its reference.

    The model stays pinned to the rolled-back-to version until `unpin`, or until
    `until`. Its reference becomes that version's (from its tags): the checks and
    their baseline follow the serving version. A version with no reference of its
    own leaves the model without one (and the checks say so) rather than keeping
    the rolled-back version's. The rollback is told once, as an event.
    """
    from retrain.registry import rollback as registry_rollback

    if until is not None and until <= now:
        raise ValueError(f"pin until {until.isoformat()} is not in the future")
    settings_model = ctx.settings.model(model)
    who = by or "unknown"
    until_text = until.isoformat() if until is not None else "unpinned"
    note = f"by {who} at {now.isoformat()}, pinned until {until_text}"
    result = registry_rollback(
        tracking_uri(ctx.settings), model, settings_model.retrain.alias, note=note
    )
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        row.current_version = result.to_version
        row.reference_uri = result.reference_uri
        row.reference_sha256 = result.reference_sha256
        row.pinned_version = result.to_version
        row.pinned_at = now
        row.pinned_until = until
        row.pinned_by = who
        pin = pin_of(row)
        assert pin is not None  # just set
        finding = Finding(
            scope=model,
            kind="retrain",
            subject="rollback",
            firing=False,
            severity=Severity.WARNING,
            summary=f"{model}: rolled back from version {result.from_version} to version "
            f"{result.to_version} by {who} at {now.isoformat()}; {pin.reason}",
            details={
                "from_version": result.from_version,
                "to_version": result.to_version,
                "by": who,
                "pinned_until": until.isoformat() if until is not None else None,
                "reference_uri": result.reference_uri,
            },
            event_id=f"rollback:{result.from_version}->{result.to_version}@{now.isoformat()}",
        )
        apply_findings(session, ctx.settings, [finding], now)
    log.info(
        "rolled %s back from version %s to %s (%s)",
        model,
        result.from_version,
        result.to_version,
        pin.reason,
    )
    return result


def unpin(ctx: JobContext, model: str, now: datetime) -> Pin | None:
    """Lift the model's pin (expired or not); returns the pin that was lifted, if any."""
    with transaction(ctx.sessions) as session:
        row = model_row(session, model, now)
        pin = pin_of(row)
        row.pinned_version = None
        row.pinned_at = None
        row.pinned_until = None
        row.pinned_by = None
    if pin is not None:
        log.info("unpinned %s from version %s", model, pin.version)
    return pin


def model_pins(ctx: JobContext, now: datetime) -> list[tuple[Pin, bool]]:
    """Every recorded pin and whether it still holds at `now` (status, the report)."""
    with transaction(ctx.sessions) as session:
        rows = session.scalars(
            select(Model).where(Model.pinned_version.is_not(None)).order_by(Model.name)
        )
        pins = [pin for pin in map(pin_of, rows) if pin is not None]
    return [(pin, pin.holds(now)) for pin in pins]


# --------------------------------------------------------------------------- commands


def retrain_command(
    settings: Settings, model: str, *, wait: bool, echo: Callable[[str], None]
) -> int:
    """`mlmaint retrain MODEL`: submit now and, with `wait`, poll until it ends."""
    from daemon.jobs import JobContext

    try:
        settings_model = settings.model(model)
    except KeyError as exc:
        echo(str(exc.args[0]))
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
            ctx, now, timeout_s=settings.executor.timeout.total_seconds() + 60, model=model
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
        echo(str(exc.args[0]))
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
        echo(str(exc.args[0]))
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
