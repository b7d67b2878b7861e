"""The checking stage's scheduled entry points: (ctx, model, now) -> a stored cycle.

`check_model` loads the window [now - window, now) and the reference from the
store, runs the checks (`daemon/checking/run.py`), stores the runs and hands
the findings to the alert policy; `run_model_checks` is the scheduler's job
(every enabled check of the model in one cycle, its findings applied together). The
reference statistics and calibrations come from the service's `CheckCache`
on the context. Time is the `now` each job is given; the wall clock only
measures how long a run took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from checks.interface import CheckError, CheckKind, CheckResult, Status
from checks.operations import OperationsCheck
from daemon.alerts.finding import Finding
from daemon.checking.findings import findings_of, monitoring_finding
from daemon.checking.records import KindRun, current_version, drift_history, store_runs
from daemon.checking.references import (
    ReferenceUnavailable,
    WindowLoader,
    default_window_loader,
    load_reference,
    reference_stats,
)
from daemon.checking.rejections import rejection_findings
from daemon.checking.run import CheckCycle, run_checks
from daemon.checking.segments import run_segments
from daemon.checking.specs import (
    check_window,
    enabled_kinds,
    operations_spec,
    persistence_lookback,
)
from daemon.config import ModelSettings, RunOn

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


def _operations_run(model: ModelSettings, frame: pd.DataFrame) -> KindRun:
    """The operations check of a model without a reference (it needs none)."""
    began = time.perf_counter()
    try:
        result = OperationsCheck(spec=operations_spec(model)).run(frame)
    except CheckError as exc:
        result = CheckResult(
            kind=CheckKind.OPERATIONS, status=Status.ERROR, rows=len(frame), reason=str(exc)
        )
    return KindRun(result=result, duration_s=time.perf_counter() - began)


def of_window(
    findings: Sequence[Finding], start: datetime, end: datetime, rows: int
) -> list[Finding]:
    """The findings stamped with the window they were judged on (for the policy's
    past-window guard and for the message: its end, length and rows)."""
    return [replace(f, window_end=end, window=end - start, rows=rows) for f in findings]


def reference_cache_dir(ctx: JobContext) -> Path:
    """Where a reference's statistics are kept between processes (stats_file.py)."""
    return ctx.state_dir / "cache" / "references"


def check_model(
    ctx: JobContext,
    name: str,
    now: datetime,
    *,
    kinds: Iterable[CheckKind] | None = None,
    window: timedelta | None = None,
    baseline: Mapping[str, float] | None = None,
    load_window: WindowLoader | None = None,
    alert: bool = True,
    store: bool = True,
    backfill: bool = False,
) -> CheckCycle:
    """Load the window [now - window, now) and the reference, run, store, alert.

    With `alert`, the findings go to the alert policy in the same transaction
    as nothing else: runs are stored first, so a policy failure loses no run.
    Without `store`, the runs are computed and returned only (a window of another
    length than the configured one: its measures do not compare with the stored
    ones). `backfill` marks the stored runs as a past window's (no retrain streak).
    """
    if alert and not store:
        raise ValueError("findings of a run that is not stored cannot reach the alert policy")
    cycle, findings = judge_model(
        ctx,
        name,
        now,
        kinds=kinds,
        window=window,
        baseline=baseline,
        load_window=load_window,
        store=store,
        backfill=backfill,
    )
    if alert:
        from daemon.alerts.policy import apply_findings

        with ctx.sessions.begin() as session:
            apply_findings(session, ctx.settings, findings, now)
    return cycle


def judge_model(
    ctx: JobContext,
    name: str,
    now: datetime,
    *,
    kinds: Iterable[CheckKind] | None = None,
    window: timedelta | None = None,
    baseline: Mapping[str, float] | None = None,
    load_window: WindowLoader | None = None,
    store: bool = True,
    backfill: bool = False,
) -> tuple[CheckCycle, list[Finding]]:
    """`check_model` short of the alert policy: the cycle, and the findings (stamped
    with their window) that the policy is to be handed. A `checks` worker stops here;
    the leader applies them (daemon/checking/remote.py)."""
    model = ctx.settings.model(name)
    kinds = tuple(kinds) if kinds is not None else None
    span = window or check_window(model)
    start = now - span
    loader = load_window or default_window_loader()
    began = time.perf_counter()
    critical_ratio = ctx.settings.alerts.critical_ratio
    with ctx.sessions() as session:
        frame = loader(session, model, start, now)
        # Rows refused at the door never reach the window: their share is judged apart.
        rejected = (
            rejection_findings(session, model, start, now, critical_ratio=critical_ratio)
            if kinds is None or CheckKind.QUALITY in kinds
            else []
        )
        try:
            # After the window, not beside it on a thread: both parse on the GIL and the
            # same cores, and side by side they took longer than one after the other
            # (issue 17, tests/benchmarks/bench_cli.py).
            ref_frame, digest = load_reference(session, model, load_window=loader)
        except ReferenceUnavailable as exc:
            log.warning("%s", exc)
            runs: dict[CheckKind, KindRun] = {}
            findings = [monitoring_finding(name, exc.why), *rejected]
            for k in kinds or enabled_kinds(model):
                if k not in enabled_kinds(model):
                    continue
                if k is CheckKind.OPERATIONS:
                    # Latency and errors are judged on the window alone: no reference needed.
                    runs[k] = _operations_run(model, frame)
                    findings.extend(
                        findings_of(
                            name, runs[k].result, critical_ratio=critical_ratio, window_end=now
                        )
                    )
                    continue
                runs[k] = KindRun(
                    result=CheckResult(
                        kind=k, status=Status.INSUFFICIENT_DATA, rows=len(frame), reason=str(exc)
                    ),
                    duration_s=0.0,
                )
            if store:
                with ctx.sessions.begin() as s:
                    runs = store_runs(s, name, runs, start=start, end=now, backfill=backfill)
            return CheckCycle(
                model=name,
                now=now,
                window_start=start,
                window_end=now,
                rows=len(frame),
                runs=runs,
                findings=tuple(findings),
            ), of_window(findings, start, now, len(frame))
        version = current_version(session, name)
        lookback = persistence_lookback(model)
        history = drift_history(session, name, now, lookback) if lookback else None
    ref = reference_stats(
        model, ref_frame, digest=digest, cache=ctx.check_cache, directory=reference_cache_dir(ctx)
    )
    cycle = run_checks(
        ctx,
        model,
        now,
        frame,
        ref,
        kinds=kinds,
        baseline=baseline,
        window_start=start,
        model_version=version,
        history=history,
        store=store,
        backfill=backfill,
    )
    parts = run_segments(
        ctx,
        model,
        now,
        frame,
        ref,
        kinds=kinds,
        window_start=start,
        model_version=version,
        store=store,
        backfill=backfill,
    )
    cycle = replace(cycle, segments=parts.cycles, unchecked_segments=parts.unchecked)
    # With the reference readable, a "not monitored" alert (if one fires) resolves.
    findings = of_window(
        [
            *cycle.findings,
            *(f for part in cycle.segments for f in part.findings),
            *rejected,
            monitoring_finding(name, None),
        ],
        start,
        now,
        cycle.rows,
    )
    log.info(
        "checks %s: %s on %d rows in %.2fs",
        name,
        ", ".join(f"{k.value}={r.result.status.value}" for k, r in cycle.runs.items()),
        cycle.rows,
        time.perf_counter() - began,
    )
    return cycle, findings


def run_model_checks(ctx: JobContext, model: str | None, now: datetime) -> object:
    """The scheduled check cycle: every enabled check, one apply of their findings."""
    if model is None:
        raise ValueError("a check job needs a model")
    if ctx.settings.checks.run_on is RunOn.CELERY:
        from daemon.checking.remote import send_checks

        # The leader schedules; a `checks` worker computes; `collect_checks` applies.
        return send_checks(ctx, model, now)
    return check_model(ctx, model, now)
