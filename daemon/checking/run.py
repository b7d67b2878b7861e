"""Running a model's checks on a window: results, evidence and findings.

`run_checks` is the one entry point with data in hand (the demo and
`check_model` call it): it builds each enabled check from its spec, runs it on
the window, writes mlmaint's evidence page for an alerting drift (after the
runs are stored: the page and the alert's link name the stored run), turns each
judged subject into an alert `Finding` (firing when something is wrong, not
firing when it is fine, so a firing alert resolves; none when there is not
enough data to say) and, with a context, stores the runs.

A check that fails unexpectedly becomes a run with status "error" and a log
line; it never takes the daemon down. The reference's calibration (its
thresholds and bands) comes from the service's `CheckCache`, else the store,
else it is computed here once per reference version.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from checks.calibration import (
    CALIBRATION_VERSION,
    CalibrationError,
    ReferenceCalibration,
    calibrate_drift,
    estimated_band,
    realized_band,
)
from checks.drift import ColumnDrift, DriftCheck
from checks.interface import CheckError, CheckKind, CheckResult, Status, TaskKind
from checks.multivariate import MultivariateCheck
from checks.operations import OperationsCheck
from checks.performance import (
    DirectLossCheck,
    EstimatedPerformanceCheck,
    LossModel,
    PerformanceCheck,
)
from checks.quality import QualityCheck
from checks.reference import ReferenceStats
from daemon.alerts.finding import Finding
from daemon.checking.cache import CheckCache
from daemon.checking.causes import explain
from daemon.checking.evidence import draft_evidence, evidence_link, write_evidence
from daemon.checking.findings import DEFAULT_CRITICAL_RATIO, findings_of, in_segment
from daemon.checking.importances import Importances
from daemon.checking.loss_models import reference_loss_model
from daemon.checking.records import KindRun, store_runs
from daemon.checking.references import multivariate_reference, reference_stats
from daemon.checking.specs import (
    calibration_targets,
    check_window,
    decay_spec,
    dle_spec,
    drift_evidence,
    drift_spec,
    enabled_kinds,
    estimation_spec,
    multivariate_spec,
    operations_spec,
    quality_spec,
)
from daemon.config import ModelSettings

if TYPE_CHECKING:
    from daemon.evidence.write import Draft
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CheckCycle:
    """One cycle of a model's checks: the results, their findings and stored run ids."""

    model: str
    now: datetime
    window_start: datetime
    window_end: datetime
    rows: int
    runs: Mapping[CheckKind, KindRun]
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    # The segment judged ("region=A"); None: the whole window.
    segment: str | None = None
    # The cycles of the window's segments, when the model has any (segments.py).
    segments: tuple[CheckCycle, ...] = ()
    # (segment, reason) for each segment not checked (too little reference to judge by).
    unchecked_segments: tuple[tuple[str, str], ...] = ()

    def result(self, kind: CheckKind) -> CheckResult:
        return self.runs[kind].result

    @property
    def firing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.firing)


def _build(
    kind: CheckKind,
    model: ModelSettings,
    ref: ReferenceStats,
    baseline: Mapping[str, float] | None,
    calibration: ReferenceCalibration | None = None,
    history: Mapping[str, tuple[bool, ...]] | None = None,
    loss_model: LossModel | None = None,
    cache: CheckCache | None = None,
) -> (
    DriftCheck
    | QualityCheck
    | PerformanceCheck
    | EstimatedPerformanceCheck
    | DirectLossCheck
    | OperationsCheck
    | MultivariateCheck
):
    cal = calibration or ReferenceCalibration()
    match kind:
        case CheckKind.DRIFT:
            return DriftCheck(
                spec=drift_spec(model),
                reference=ref,
                calibration=cal.drift,
                history=history or {},
            )
        case CheckKind.QUALITY:
            return QualityCheck(spec=quality_spec(model), reference=ref)
        case CheckKind.PERFORMANCE:
            spec = decay_spec(model)
            return PerformanceCheck(
                spec=spec,
                reference=ref,
                baseline=(baseline or {}).get(spec.metric.value),
                band=cal.realized,
            )
        case CheckKind.ESTIMATED_PERFORMANCE:
            dle = dle_spec(model)
            if dle is not None:
                return DirectLossCheck(
                    spec=dle,
                    reference=ref,
                    model=loss_model,
                    baseline=(baseline or {}).get(dle.metric.value),
                    band=cal.estimated,
                )
            est = estimation_spec(model)
            if est is None:
                raise CheckError(
                    "estimated performance needs a binary task with a score, or a regression"
                )
            return EstimatedPerformanceCheck(
                spec=est,
                reference=ref,
                baseline=(baseline or {}).get(est.metric.value),
                band=cal.estimated,
            )
        case CheckKind.OPERATIONS:
            return OperationsCheck(spec=operations_spec(model))
        case CheckKind.MULTIVARIATE:
            # Fitted once per reference version (the cache), never per window.
            return MultivariateCheck(
                spec=multivariate_spec(model),
                reference=multivariate_reference(model, ref, cache=cache),
            )
        case _:
            assert_never(kind)


def run_checks(
    ctx: JobContext | None,
    model: ModelSettings,
    now: datetime,
    window: pd.DataFrame,
    reference: pd.DataFrame | ReferenceStats,
    *,
    kinds: Iterable[CheckKind] | None = None,
    baseline: Mapping[str, float] | None = None,
    evidence_dir: Path | None = None,
    window_start: datetime | None = None,
    model_version: str | None = None,
    calibration: ReferenceCalibration | None = None,
    history: Mapping[str, tuple[bool, ...]] | None = None,
    cache: CheckCache | None = None,
    store: bool = True,
    backfill: bool = False,
    segment: str | None = None,
) -> CheckCycle:
    """Run the model's enabled checks on a window and store each run (when ctx is given).

    `baseline` maps metric names ("roc_auc", "mae") to values recorded at
    training time; without it the reference's own labelled metric is the
    baseline. `evidence_dir` (default: the state dir's `evidence/` when
    drift evidence is enabled) receives mlmaint's evidence page of an alerting drift.
    `calibration` is the reference's calibrated thresholds and bands (computed
    here, once per reference, when not given); `history` the drift columns'
    exceedances in the previous windows, for the persistence rule. `cache` keeps
    the reference's statistics and calibration between calls (default: the
    context's; without either, they are computed for this call alone). Without
    `store` nothing is stored and no evidence page written (it would name no run);
    `backfill` marks the stored runs as a past window's. `segment` names the slice
    of the model's window this is ("region=A", daemon/checking/segments.py): its
    runs and alerts are its own, and it writes no evidence page.
    """
    from daemon.frames import typed_check

    if cache is None:
        cache = ctx.check_cache if ctx is not None else CheckCache()
    ref = (
        reference
        if isinstance(reference, ReferenceStats)
        else reference_stats(model, reference, cache=cache)
    )
    # Typed like the reference (a window from the store is already: this is a no-op then).
    window = typed_check(window, model)
    wanted = tuple(kinds) if kinds is not None else enabled_kinds(model)
    wanted = tuple(k for k in wanted if k in enabled_kinds(model))
    start = window_start or now - check_window(model)
    if not store or segment is not None:
        evidence_dir = None
    elif evidence_dir is None and ctx is not None and drift_evidence(model):
        from daemon.evidence.write import evidence_dir as default_dir

        evidence_dir = default_dir(ctx)
    if calibration is None:
        calibration = reference_calibration(
            model, ref, now, cache=cache, sessions=ctx.sessions if ctx else None, segment=segment
        )
    loss_model = (
        reference_loss_model(model, ref, cache=cache)
        if CheckKind.ESTIMATED_PERFORMANCE in wanted
        else None
    )
    runs: dict[CheckKind, KindRun] = {}
    drafts: dict[CheckKind, Draft] = {}
    critical_ratio = (
        ctx.settings.alerts.critical_ratio if ctx is not None else DEFAULT_CRITICAL_RATIO
    )

    def one(kind: CheckKind) -> tuple[CheckResult, tuple[ColumnDrift, ...], float]:
        began = time.perf_counter()
        seen: tuple[ColumnDrift, ...] = ()
        try:
            check = _build(kind, model, ref, baseline, calibration, history, loss_model, cache)
            if isinstance(check, DriftCheck):
                # The drift columns keep what they saw of the window, for the evidence.
                outcome = check.evaluate(window)
                result, seen = outcome.result, outcome.columns
            else:
                result = check.run(window)
        except CheckError as exc:
            result = CheckResult(kind=kind, status=Status.ERROR, rows=len(window), reason=str(exc))
        except Exception as exc:
            log.exception("model %s: the %s check failed", model.name, kind.value)
            result = CheckResult(
                kind=kind,
                status=Status.ERROR,
                rows=len(window),
                reason=f"{type(exc).__name__}: {exc}",
            )
        return result, seen, time.perf_counter() - began

    for kind, (result, seen, duration) in zip(wanted, _each(one, wanted, len(window)), strict=True):
        found = None
        if (
            kind is CheckKind.DRIFT
            and result.status is Status.ALERT
            and drift_evidence(model)
            and evidence_dir is not None
            and segment is None
        ):
            found = draft_evidence(model, ref, window, result, seen, (start, now), evidence_dir)
        if found is not None:
            drafts[kind] = found
            log.debug("model %s: evidence figures in %.3fs", model.name, found.seconds)
        runs[kind] = KindRun(
            result=result, duration_s=duration, evidence_path=found.path if found else None
        )
        log.debug("model %s: %s %s in %.3fs", model.name, kind.value, result.status, duration)
    if ctx is not None and store:
        with ctx.sessions.begin() as session:
            runs = store_runs(
                session,
                model.name,
                runs,
                start=start,
                end=now,
                version=model_version,
                backfill=backfill,
                segment=segment,
            )
    # Pages and links after storing: both name the stored run.
    runs = write_evidence(ctx, model, ref, window, runs, drafts)
    findings = [
        in_segment(f, segment)
        for run in runs.values()
        for f in findings_of(
            model.name,
            run.result,
            evidence_link(ctx, run),
            critical_ratio=critical_ratio,
            window_end=now,
        )
    ]
    if ctx is not None and any(f.firing for f in findings):
        # Why performance fell: the stored windows, this one included.
        with ctx.sessions() as session:
            findings = explain(
                session,
                model,
                findings,
                now,
                segment=segment,
                importances=_importances(ctx, model, model_version, cache),
            )
    return CheckCycle(
        model=model.name,
        now=now,
        window_start=start,
        window_end=now,
        rows=len(window),
        runs=runs,
        findings=tuple(findings),
        segment=segment,
    )


def _importances(
    ctx: JobContext, model: ModelSettings, version: str | None, cache: CheckCache
) -> Callable[[], Importances]:
    """The serving version's feature importances, or why it has none, read when first
    asked (importances.py)."""

    def load() -> Importances:
        from daemon.checking.importances import model_importances

        return model_importances(
            cache, ctx.settings.mlflow.tracking_uri, model.name, version, model.schema_.features
        )

    return load


# A window this long runs its check kinds side by side (below it, threads cost more than
# they save). The checks are pure: they read the window and the reference, both shared
# and never written, and numpy's sorts, sums and the bootstrap's draws release the GIL.
PARALLEL_ROWS = 20_000


def _each(
    run: Callable[[CheckKind], tuple[CheckResult, tuple[ColumnDrift, ...], float]],
    kinds: tuple[CheckKind, ...],
    rows: int,
) -> list[tuple[CheckResult, tuple[ColumnDrift, ...], float]]:
    """`run` of each kind, in the order given: in threads for a long window, so that the
    bootstrap of the performance check does not wait for the drift columns."""
    if rows < PARALLEL_ROWS or len(kinds) < 2:
        return [run(kind) for kind in kinds]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(kinds), thread_name_prefix="mlmaint-check") as pool:
        return list(pool.map(run, kinds))


# --------------------------------------------------------------------------- calibration


def calibration_key(model: ModelSettings, ref: ReferenceStats) -> str:
    """What the calibration depends on: the reference, the columns and their methods, the
    metrics and what is calibrated, and the calibration's own version."""
    targets = calibration_targets(model)
    parts: list[str] = [str(CALIBRATION_VERSION), ref.digest, ",".join(ref.columns)]
    if targets.drift is not None:
        parts += [
            f"{c.name}:{c.kind.value}:{c.method}:{c.threshold}" for c in targets.drift.columns
        ]
    if targets.decay is not None:
        parts += ["realized", targets.decay.task.value, targets.decay.metric.value]
        est = targets.estimation
        if est is not None:
            parts += ["estimated", est.metric.value, str(est.decision_threshold)]
        if targets.dle is not None:
            parts += ["dle", targets.dle.metric.value]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def calibrate(model: ModelSettings, ref: ReferenceStats) -> ReferenceCalibration:
    """Compute what the model's settings calibrate on this reference (seconds, once)."""
    targets = calibration_targets(model)
    found = None
    if targets.drift is not None:
        found = calibrate_drift(targets.drift.columns, ref, workers=targets.drift.workers)
    realized = estimated = None
    if targets.decay is not None:
        realized = realized_band(targets.decay.task, targets.decay.metric, ref.frame)
        est = targets.estimation
        if est is not None:
            estimated = estimated_band(est.metric, ref, decision_threshold=est.decision_threshold)
        if targets.dle is not None:
            # NannyML's DLE thresholds: the metric realized on the reference's chunks.
            estimated = realized_band(TaskKind.REGRESSION, targets.dle.metric, ref.frame)
    return ReferenceCalibration(drift=found, realized=realized, estimated=estimated)


def reference_calibration(
    model: ModelSettings,
    ref: ReferenceStats,
    now: datetime,
    *,
    cache: CheckCache,
    sessions: sessionmaker[Session] | None = None,
    segment: str | None = None,
) -> ReferenceCalibration:
    """The reference's calibration: from the cache, else the store, else computed and stored.

    `segment` names the slice of the reference it is, for the log."""
    from daemon.store.calibrations import load_calibration, save_calibration

    key = calibration_key(model, ref)
    found = cache.calibration(key)
    if found is not None:
        return found
    if sessions is not None:
        with sessions() as session:
            try:
                found = load_calibration(session, key)
            except CalibrationError as exc:
                log.warning("model %s: %s", model.name, exc)
                found = None
        if found is not None:
            cache.put_calibration(key, found)
            return found
    began = time.perf_counter()
    found = calibrate(model, ref)
    took = time.perf_counter() - began
    log.info(
        "model %s: calibrated thresholds on the reference%s (%d rows) in %.2fs",
        model.name,
        f"'s segment {segment}" if segment else "",
        ref.rows,
        took,
    )
    if sessions is not None:
        with sessions.begin() as session:
            save_calibration(
                session,
                model=model.name,
                key=key,
                digest=ref.digest,
                calibration=found,
                now=now,
                duration_s=took,
            )
    cache.put_calibration(key, found)
    return found
