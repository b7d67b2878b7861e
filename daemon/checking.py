"""The daemon side of the checks: settings to specs, reference and window in, runs stored.

`run_checks` is the one entry point with data in hand (the demo calls it per
simulated day); `check_model` loads the window and the reference from the
store first; `run_drift`, `run_quality`, `run_performance` and
`run_operations` are the scheduler's jobs. Each run of a check kind becomes a
`check_runs` row with its measures in `check_metrics` (the trend charts), and
each subject becomes an alert `Finding`: firing when something is wrong,
not firing when it is fine (so a firing alert resolves), and no finding when
there is not enough data to say.

A check that fails unexpectedly is stored with status "error" and logged; it
never takes the daemon down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.calibration import (
    CALIBRATION_VERSION,
    CalibrationError,
    ReferenceCalibration,
    calibrate_drift,
    estimated_band,
    realized_band,
)
from checks.drift import ColumnKind, ColumnSpec, DriftCheck, DriftSpec, Method, exceeds
from checks.interface import (
    LABEL,
    PREDICTION,
    SCORE,
    CheckError,
    CheckKind,
    CheckResult,
    Measure,
    Status,
    TaskKind,
)
from checks.methods import fits
from checks.operations import OperationsCheck, OperationsSpec
from checks.performance import (
    DecaySpec,
    EstimatedPerformanceCheck,
    EstimationSpec,
    Metric,
    PerformanceCheck,
    default_metric,
    parse_metric,
)
from checks.quality import QualityCheck, QualitySpec
from checks.reference import ReferenceCache, ReferenceStats, build_reference, frame_digest
from checks.thresholds import BandMode, ThresholdMode
from daemon.alerts.finding import MONITORING, Finding
from daemon.config import ModelSettings, ReferenceKind, Settings, Severity
from daemon.store.tables import CheckMetric, CheckRun, Model

if TYPE_CHECKING:
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)

CRITICAL_RATIO = 2.0
ALL_KINDS = tuple(CheckKind)

# Reference statistics by content digest, for the life of the process: computed
# once per model version, reused by every window and every check kind; a model's
# superseded reference (the version before a retrain) is dropped.
_REFERENCES = ReferenceCache()

WindowLoader = Callable[[Session, ModelSettings, datetime, datetime], pd.DataFrame]


class ReferenceUnavailable(CheckError):
    def __init__(self, model: str, why: str) -> None:
        super().__init__(f"model {model}: no reference ({why})")
        self.why = why


# --------------------------------------------------------------------------- settings -> specs


def drift_method(method: Method | None) -> Method | None:
    """The config's method is the checks' own; None ("auto") is Evidently's selection."""
    return method


def _output_columns(model: ModelSettings) -> list[tuple[str, ColumnKind]]:
    """Prediction, score and label drift: numeric unless the task's classes are strings."""
    kind = ColumnKind.CATEGORICAL if model.task is TaskKind.MULTICLASS else ColumnKind.NUMERIC
    cols = [(PREDICTION, kind)]
    if model.schema_.score:
        cols.append((SCORE, ColumnKind.NUMERIC))
    cols.append((LABEL, kind))
    return cols


def _config_name(model: ModelSettings, column: str) -> str:
    """The schema's name of a reserved window column (drift.columns keys use it)."""
    schema = model.schema_
    return {PREDICTION: schema.prediction, SCORE: schema.score or SCORE, LABEL: schema.label}.get(
        column, column
    )


def drift_spec(model: ModelSettings) -> DriftSpec:
    settings = model.checks.drift
    columns: list[ColumnSpec] = []
    features = [(c, ColumnKind.NUMERIC) for c in model.schema_.numeric] + [
        (c, ColumnKind.CATEGORICAL) for c in model.schema_.categorical
    ]
    for name, kind, in_dataset in [
        *((n, k, True) for n, k in features),
        *((n, k, False) for n, k in _output_columns(model)),
    ]:
        own = settings.columns.get(_config_name(model, name))
        if own and own.method is not None:
            # Refused at config load when it cannot fit the column.
            method = drift_method(own.method)
        else:
            # The global method applies to the columns it fits; the rest keep auto
            # (chi-square on the categoricals, Evidently's choice on the numerics).
            method = drift_method(settings.method)
            if method is not None and not fits(method, kind):
                method = None
        threshold: float | None
        if own and own.threshold is not None:
            threshold, basis = own.threshold, "configured for this column"
        else:
            threshold, basis = settings.threshold, "configured for the model"
        columns.append(
            ColumnSpec(
                name=name,
                kind=kind,
                method=method,
                threshold=threshold,
                threshold_basis=basis,
                weight=own.weight if own else 1.0,
                in_dataset=in_dataset,
            )
        )
    return DriftSpec(
        columns=tuple(columns),
        drift_share=settings.drift_share,
        min_rows=model.checks.min_rows,
        thresholds=settings.thresholds,
        false_alarm_rate=settings.false_alarm_rate,
        persistence=settings.persistence.rule() if settings.persistence else None,
    )


def quality_spec(model: ModelSettings) -> QualitySpec:
    q = model.checks.quality
    return QualitySpec(
        numeric=model.schema_.numeric,
        categorical=model.schema_.categorical,
        max_missing_share=q.max_missing_share,
        max_new_category_share=q.max_new_category_share,
        max_out_of_range_share=q.max_out_of_range_share,
        min_rows=model.checks.min_rows,
    )


def decay_spec(model: ModelSettings, *, seed: int = 0) -> DecaySpec:
    p = model.checks.performance
    task = model.task
    metric = (
        parse_metric(p.metric, task)
        if p.metric
        else default_metric(task, model.schema_.score is not None)
    )
    return DecaySpec(
        task=task,
        metric=metric,
        max_absolute_drop=p.max_absolute_drop,
        max_relative_drop=p.max_relative_drop,
        min_labelled=p.min_labelled,
        bootstrap=p.bootstrap,
        confidence=p.confidence,
        seed=seed,
        mode=p.thresholds,
        band_sigmas=p.band_sigmas,
        band_quantile=p.band_quantile,
    )


def estimation_spec(model: ModelSettings) -> EstimationSpec | None:
    """CBPE applies to binary classifiers with a probability score."""
    p = model.checks.performance
    if not p.estimate or model.task is not TaskKind.BINARY or model.schema_.score is None:
        return None
    metric = parse_metric(p.metric, TaskKind.BINARY) if p.metric else Metric.ROC_AUC
    if metric not in (Metric.ROC_AUC, Metric.ACCURACY, Metric.F1):
        metric = Metric.ROC_AUC
    return EstimationSpec(
        metric=metric,
        max_absolute_drop=p.max_absolute_drop,
        max_relative_drop=p.max_relative_drop,
        min_rows=model.checks.min_rows,
        mode=p.thresholds,
        band_sigmas=p.band_sigmas,
        band_quantile=p.band_quantile,
    )


def operations_spec(model: ModelSettings) -> OperationsSpec:
    o = model.checks.operations
    return OperationsSpec(
        max_latency_p95_ms=o.max_latency_p95_ms,
        max_latency_p99_ms=o.max_latency_p99_ms,
        max_error_rate=o.max_error_rate,
        max_memory_mb=o.max_memory_mb,
        min_rows=model.checks.min_rows,
    )


def enabled_kinds(model: ModelSettings) -> tuple[CheckKind, ...]:
    c = model.checks
    kinds = []
    if c.drift.enabled:
        kinds.append(CheckKind.DRIFT)
    if c.quality.enabled:
        kinds.append(CheckKind.QUALITY)
    if c.performance.enabled:
        kinds.append(CheckKind.PERFORMANCE)
        if estimation_spec(model) is not None:
            kinds.append(CheckKind.ESTIMATED_PERFORMANCE)
    if c.operations.enabled:
        kinds.append(CheckKind.OPERATIONS)
    return tuple(kinds)


# --------------------------------------------------------------------------- reference


def reference_stats(
    model: ModelSettings,
    frame: pd.DataFrame,
    *,
    digest: str | None = None,
    cache: ReferenceCache | None = None,
) -> ReferenceStats:
    """The reference's statistics for this model's layout, cached by content digest.

    The frame is typed by the one typing (`daemon.frames.check_schema`) before
    any statistic, so a reference read by pandas (bool, int or float coded
    categoricals, a `category` dtype) counts the same values a window holds.
    The cache key covers the content with its dtypes (`frame_digest`) and the
    schema it is typed against.
    """
    from daemon.frames import check_schema, typed_check

    cache = _REFERENCES if cache is None else cache
    numeric = model.schema_.numeric
    categorical = model.schema_.categorical
    outputs = _output_columns(model)
    numeric = (*numeric, *(c for c, k in outputs if k is ColumnKind.NUMERIC))
    categorical = (*categorical, *(c for c, k in outputs if k is ColumnKind.CATEGORICAL))
    frame = normalize_reference(model, frame)
    key_digest = digest or frame_digest(frame)
    layout = hashlib.sha256(
        "\x1f".join((*numeric, "|", *categorical, "|", repr(check_schema(model)))).encode()
    ).hexdigest()
    score = SCORE if model.task is TaskKind.BINARY and model.schema_.score else None
    return cache.get(
        (key_digest, layout),
        lambda: build_reference(
            typed_check(frame, model),
            numeric,
            categorical,
            score=score,
            label=LABEL,
            digest=key_digest,
        ),
        owner=model.name,
    )


def normalize_reference(model: ModelSettings, frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the schema's prediction, score and label columns to the window's names."""
    schema = model.schema_
    names = {schema.prediction: PREDICTION, schema.label: LABEL}
    if schema.score:
        names[schema.score] = SCORE
    rename = {a: b for a, b in names.items() if a != b and a in frame and b not in frame}
    return frame.rename(columns=rename) if rename else frame


def read_table(path: Path, model: str, *, text: Iterable[str] = ()) -> pd.DataFrame:
    """A reference file: Parquet or CSV, by suffix; unreadable is `ReferenceUnavailable`.

    CSV columns named in `text` (the categoricals) are read as the cells
    spell them (`checks.typed.text_category`), as a CSV log's are: "True" is
    "true", "1.0" is "1", "01234" stays a code, an empty cell is missing.
    """
    import pyarrow as pa

    from checks.typed import text_cells

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            as_text = list(text)
            frame = pd.read_csv(
                path,
                dtype=dict.fromkeys(as_text, str),
                # Only an empty cell is missing: "NA" is a category as a CSV log stores it.
                keep_default_na=False,
                na_values=[""],
            )
            for column in as_text:
                if column in frame:
                    frame[column] = text_cells(frame[column])
            return frame
    except (OSError, ValueError, pa.ArrowException) as exc:
        # A corrupt or truncated file: an insufficient-data run that names it, not a crash.
        raise ReferenceUnavailable(model, f"cannot read {path}: {exc}") from exc
    raise ReferenceUnavailable(model, f"unknown reference format {suffix!r} of {path}")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_reference(
    session: Session,
    model: ModelSettings,
    *,
    load_window: WindowLoader | None = None,
) -> tuple[pd.DataFrame, str]:
    """The reference frame and its content digest, from the kind the model configures."""
    ref = model.reference
    match ref.kind:
        case ReferenceKind.FILE:
            assert ref.path is not None  # validated by ReferenceSettings
            if not ref.path.exists():
                raise ReferenceUnavailable(model.name, f"file {ref.path} not found")
            return read_table(ref.path, model.name, text=_text_columns(model)), _file_digest(
                ref.path
            )
        case ReferenceKind.SNAPSHOT:
            row = session.scalars(select(Model).where(Model.name == model.name)).one_or_none()
            if row is None or not row.reference_uri:
                raise ReferenceUnavailable(
                    model.name,
                    "none recorded for the serving version; see [models.reference] in config.toml",
                )
            path = Path(row.reference_uri.removeprefix("file://"))
            if not path.exists():
                raise ReferenceUnavailable(model.name, f"snapshot {path} not found")
            frame = read_table(path, model.name, text=_text_columns(model))
            return frame, row.reference_sha256 or _file_digest(path)
        case ReferenceKind.WINDOW:
            assert ref.start is not None and ref.end is not None  # validated
            start = _parse_time(ref.start)
            end = _parse_time(ref.end)
            frame = (load_window or default_window_loader())(session, model, start, end)
            if frame.empty:
                raise ReferenceUnavailable(model.name, f"no rows between {start} and {end}")
            return frame, frame_digest(frame)
        case _:
            assert_never(ref.kind)


def _text_columns(model: ModelSettings) -> tuple[str, ...]:
    """The columns a CSV reference holds as categorical text, under the file's names."""
    schema = model.schema_
    classes = (schema.prediction, schema.label) if model.task is TaskKind.MULTICLASS else ()
    return (*schema.categorical, *classes)


def _parse_time(text: str) -> datetime:
    from datetime import UTC

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- calibration


class _CalibrationCache:
    """Calibrations by key for the life of the process (a few; the store keeps them all)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: dict[str, ReferenceCalibration] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> ReferenceCalibration | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, value: ReferenceCalibration) -> None:
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.pop(next(iter(self._items)))


_CALIBRATIONS = _CalibrationCache()


def calibration_key(model: ModelSettings, ref: ReferenceStats) -> str:
    """What the calibration depends on: the reference, the columns and their methods, the
    metrics and what is calibrated, and the calibration's own version."""
    drift = drift_spec(model)
    parts: list[str] = [str(CALIBRATION_VERSION), ref.digest, ",".join(ref.columns)]
    if model.checks.drift.enabled and drift.thresholds is ThresholdMode.CALIBRATED:
        parts += [f"{c.name}:{c.kind.value}:{c.method}:{c.threshold}" for c in drift.columns]
    decay = decay_spec(model)
    if model.checks.performance.enabled and decay.mode is BandMode.BAND:
        parts += ["realized", decay.task.value, decay.metric.value]
        est = estimation_spec(model)
        if est is not None:
            parts += ["estimated", est.metric.value, str(est.decision_threshold)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def calibrate(model: ModelSettings, ref: ReferenceStats) -> ReferenceCalibration:
    """Compute what the model's settings calibrate on this reference (seconds, once)."""
    drift = drift_spec(model)
    found = None
    if model.checks.drift.enabled and drift.thresholds is ThresholdMode.CALIBRATED:
        found = calibrate_drift(drift.columns, ref, workers=drift.workers)
    realized = estimated = None
    decay = decay_spec(model)
    if model.checks.performance.enabled and decay.mode is BandMode.BAND:
        realized = realized_band(decay.task, decay.metric, ref.frame)
        est = estimation_spec(model)
        if est is not None:
            estimated = estimated_band(est.metric, ref, decision_threshold=est.decision_threshold)
    return ReferenceCalibration(drift=found, realized=realized, estimated=estimated)


def reference_calibration(
    model: ModelSettings,
    ref: ReferenceStats,
    now: datetime,
    *,
    sessions: sessionmaker[Session] | None = None,
) -> ReferenceCalibration:
    """The reference's calibration: from memory, else the store, else computed and stored."""
    from daemon.store.calibrations import load_calibration, save_calibration

    key = calibration_key(model, ref)
    found = _CALIBRATIONS.get(key)
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
            _CALIBRATIONS.put(key, found)
            return found
    began = time.perf_counter()
    found = calibrate(model, ref)
    took = time.perf_counter() - began
    log.info(
        "model %s: calibrated thresholds on the reference (%d rows) in %.2fs",
        model.name,
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
    _CALIBRATIONS.put(key, found)
    return found


# --------------------------------------------------------------------------- window


def default_window_loader() -> WindowLoader:
    """The store's window query (daemon/store/windows.py) on the session's engine."""
    from daemon.store.windows import load_window

    def loader(
        session: Session, model: ModelSettings, start: datetime, end: datetime
    ) -> pd.DataFrame:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        frame: pd.DataFrame = load_window(engine, model, start, end)
        return frame

    return loader


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, kw_only=True)
class KindRun:
    result: CheckResult
    duration_s: float
    evidence_path: Path | None = None
    run_id: int | None = None


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

    def result(self, kind: CheckKind) -> CheckResult:
        return self.runs[kind].result

    @property
    def firing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.firing)


def _severity(ratio: float) -> Severity:
    return Severity.CRITICAL if ratio >= CRITICAL_RATIO else Severity.WARNING


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4f}"


def findings_of(model: str, result: CheckResult, link: str | None = None) -> list[Finding]:
    """One finding per judged subject (measures with a threshold and an OK/ALERT status)."""
    out: list[Finding] = []
    for m in result.measures:
        if m.threshold is None or m.status not in (Status.OK, Status.ALERT):
            continue
        subject = _subject(result.kind, m)
        verb = "beyond" if m.alerting else "within"
        notes = "; ".join(x for x in (m.detail, f"threshold {m.basis}" if m.basis else None) if x)
        out.append(
            Finding(
                scope=model,
                kind=result.kind.value,
                subject=subject,
                firing=m.alerting,
                severity=_severity(m.severity_ratio) if m.alerting else Severity.INFO,
                summary=(
                    f"{model}: {result.kind.value} {subject} {m.name} = {_fmt(m.value)}, "
                    f"{verb} threshold {_fmt(m.threshold)}" + (f" ({notes})" if notes else "")
                ),
                value=m.value,
                threshold=m.threshold,
                link=link if result.kind is CheckKind.DRIFT else None,
                details={"measure": m.name, "rows": result.rows, "basis": m.basis},
            )
        )
    return out


def _subject(kind: CheckKind, m: Measure) -> str:
    if kind is CheckKind.DRIFT:
        # One alert per column whatever test judged it (the method may change with size).
        return m.subject
    if kind in (CheckKind.PERFORMANCE, CheckKind.ESTIMATED_PERFORMANCE):
        return m.subject
    return f"{m.subject}.{m.name}"


def _build(
    kind: CheckKind,
    model: ModelSettings,
    ref: ReferenceStats,
    baseline: Mapping[str, float] | None,
    calibration: ReferenceCalibration | None = None,
    history: Mapping[str, tuple[bool, ...]] | None = None,
) -> DriftCheck | QualityCheck | PerformanceCheck | EstimatedPerformanceCheck | OperationsCheck:
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
            est = estimation_spec(model)
            if est is None:
                raise CheckError("estimated performance needs a binary task with a score")
            return EstimatedPerformanceCheck(
                spec=est,
                reference=ref,
                baseline=(baseline or {}).get(est.metric.value),
                band=cal.estimated,
            )
        case CheckKind.OPERATIONS:
            return OperationsCheck(spec=operations_spec(model))
        case _:
            assert_never(kind)


def _evidence(
    model: ModelSettings,
    ref: ReferenceStats,
    window: pd.DataFrame,
    result: CheckResult,
    now: datetime,
    directory: Path,
) -> Path | None:
    from daemon.evidence import write_drift_evidence

    spec = drift_spec(model)
    numeric = tuple(c.name for c in spec.columns if c.kind is ColumnKind.NUMERIC)
    categorical = tuple(c.name for c in spec.columns if c.kind is ColumnKind.CATEGORICAL)
    usable = {m.subject for m in result.measures if m.value is not None}
    path = directory / model.name / f"drift-{now:%Y%m%dT%H%M%SZ}.html"
    try:
        return write_drift_evidence(
            ref.frame,
            window,
            numeric=tuple(c for c in numeric if c in usable),
            categorical=tuple(c for c in categorical if c in usable),
            path=path,
            methods={c.name: c.method.value for c in spec.columns if c.method},
            thresholds={c.name: c.threshold for c in spec.columns if c.threshold is not None},
            drift_share=spec.drift_share,
        )
    except Exception:
        # Evidence is a convenience: the drift result stands without it.
        log.exception("model %s: the drift evidence report failed", model.name)
        return None


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
) -> CheckCycle:
    """Run the model's enabled checks on a window and store each run (when ctx is given).

    `baseline` maps metric names ("roc_auc", "mae") to values recorded at
    training time; without it the reference's own labelled metric is the
    baseline. `evidence_dir` (default: the state dir's `evidence/` when
    drift evidence is enabled) receives Evidently's HTML for alerting drift.
    `calibration` is the reference's calibrated thresholds and bands (computed
    here, once per reference, when not given); `history` the drift columns'
    exceedances in the previous windows, for the persistence rule.
    """
    from daemon.frames import typed_check

    ref = reference if isinstance(reference, ReferenceStats) else reference_stats(model, reference)
    # Typed like the reference (a window from the store is already: this is a no-op then).
    window = typed_check(window, model)
    wanted = tuple(kinds) if kinds is not None else enabled_kinds(model)
    wanted = tuple(k for k in wanted if k in enabled_kinds(model))
    start = window_start or now - model.checks.window
    if evidence_dir is None and ctx is not None:
        evidence_dir = ctx.state_dir / "evidence"
    if calibration is None:
        calibration = reference_calibration(model, ref, now, sessions=ctx.sessions if ctx else None)
    runs: dict[CheckKind, KindRun] = {}
    findings: list[Finding] = []
    for kind in wanted:
        began = time.perf_counter()
        try:
            result = _build(kind, model, ref, baseline, calibration, history).run(window)
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
        evidence = None
        if (
            kind is CheckKind.DRIFT
            and result.status is Status.ALERT
            and model.checks.drift.evidence
            and evidence_dir is not None
        ):
            evidence = _evidence(model, ref, window, result, now, evidence_dir)
        duration = time.perf_counter() - began
        runs[kind] = KindRun(result=result, duration_s=duration, evidence_path=evidence)
        findings.extend(findings_of(model.name, result, str(evidence) if evidence else None))
        log.debug("model %s: %s %s in %.3fs", model.name, kind.value, result.status, duration)
    if ctx is not None:
        with ctx.sessions.begin() as session:
            runs = store_runs(
                session, model.name, runs, start=start, end=now, version=model_version
            )
    return CheckCycle(
        model=model.name,
        now=now,
        window_start=start,
        window_end=now,
        rows=len(window),
        runs=runs,
        findings=tuple(findings),
    )


# --------------------------------------------------------------------------- store


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _finite(float(value)) if isinstance(value, float) else value
    try:
        return _finite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def model_id(session: Session, name: str, now: datetime) -> int:
    from daemon.store.models import ensure_model

    return ensure_model(session, name, now)


def store_runs(
    session: Session,
    model: str,
    runs: Mapping[CheckKind, KindRun],
    *,
    start: datetime,
    end: datetime,
    version: str | None = None,
) -> dict[CheckKind, KindRun]:
    """Write a check_runs row per kind and its check_metrics; returns runs with ids."""
    mid = model_id(session, model, end)
    stored: dict[CheckKind, KindRun] = {}
    for kind, run in runs.items():
        r = run.result
        # Runs are kept once per (model, kind, window end): a cycle re-run after its
        # leader died (with the same `now`) finds the run that leader stored.
        kept = session.scalar(
            select(CheckRun.id)
            .where(CheckRun.model_id == mid, CheckRun.kind == kind.value)
            .where(CheckRun.window_end == end)
            .limit(1)
        )
        if kept is not None:
            stored[kind] = replace(run, run_id=kept)
            continue
        summary = dict(r.summary)
        if r.reason:
            summary["reason"] = r.reason
        row = CheckRun(
            model_id=mid,
            kind=kind.value,
            status=r.status,
            window_start=start,
            window_end=end,
            ran_at=end,
            duration_s=run.duration_s,
            rows=r.rows,
            summary=_jsonable(summary),
            model_version=version,
            evidence_path=str(run.evidence_path) if run.evidence_path else None,
        )
        session.add(row)
        session.flush()
        session.add_all(
            CheckMetric(
                run_id=row.id,
                subject=m.subject[:200],
                name=m.name[:64],
                value=_finite(m.value),
                threshold=_finite(m.threshold),
                alerting=m.alerting,
                detail=m.detail[:200] if m.detail else None,
                basis=m.basis[:200] if m.basis else None,
            )
            for m in r.measures
        )
        stored[kind] = KindRun(
            result=r, duration_s=run.duration_s, evidence_path=run.evidence_path, run_id=row.id
        )
    return stored


# --------------------------------------------------------------------------- jobs


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
) -> CheckCycle:
    """Load the window [now - window, now) and the reference, run, store, alert.

    With `alert`, the findings go to the alert policy in the same transaction
    as nothing else: runs are stored first, so a policy failure loses no run.
    """
    model = ctx.settings.model(name)
    span = window or model.checks.window
    start = now - span
    loader = load_window or default_window_loader()
    began = time.perf_counter()
    with ctx.sessions() as session:
        frame = loader(session, model, start, now)
        try:
            ref_frame, digest = load_reference(session, model, load_window=loader)
        except ReferenceUnavailable as exc:
            log.warning("%s", exc)
            runs: dict[CheckKind, KindRun] = {}
            findings = [monitoring_finding(name, exc.why)]
            for k in kinds or enabled_kinds(model):
                if k not in enabled_kinds(model):
                    continue
                if k is CheckKind.OPERATIONS:
                    # Latency and errors are judged on the window alone: no reference needed.
                    runs[k] = _operations_run(model, frame)
                    findings.extend(findings_of(name, runs[k].result))
                    continue
                runs[k] = KindRun(
                    result=CheckResult(
                        kind=k, status=Status.INSUFFICIENT_DATA, rows=len(frame), reason=str(exc)
                    ),
                    duration_s=0.0,
                )
            with ctx.sessions.begin() as s:
                runs = store_runs(s, name, runs, start=start, end=now)
            if alert:
                from daemon.alerts.policy import apply_findings

                with ctx.sessions.begin() as s:
                    apply_findings(s, ctx.settings, findings, now)
            return CheckCycle(
                model=name,
                now=now,
                window_start=start,
                window_end=now,
                rows=len(frame),
                runs=runs,
                findings=tuple(findings),
            )
        version = session.scalar(select(Model.current_version).where(Model.name == name))
        persistence = model.checks.drift.persistence
        history = (
            drift_history(session, name, now, persistence.windows - 1)
            if persistence is not None and persistence.windows > 1
            else None
        )
    ref = reference_stats(model, ref_frame, digest=digest)
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
    )
    if alert:
        from daemon.alerts.policy import apply_findings

        # With the reference readable, a "not monitored" alert (if one fires) resolves.
        with ctx.sessions.begin() as session:
            apply_findings(
                session, ctx.settings, [*cycle.findings, monitoring_finding(name, None)], now
            )
    log.info(
        "checks %s: %s on %d rows in %.2fs",
        name,
        ", ".join(f"{k.value}={r.result.status.value}" for k, r in cycle.runs.items()),
        cycle.rows,
        time.perf_counter() - began,
    )
    return cycle


def drift_history(
    session: Session, model: str, before: datetime, windows: int
) -> dict[str, tuple[bool, ...]]:
    """Per column, whether it was beyond its threshold in each of the last `windows` drift
    runs before `before`, oldest first (the persistence rule's memory)."""
    runs = list(
        session.scalars(
            select(CheckRun.id)
            .join(Model, Model.id == CheckRun.model_id)
            .where(
                Model.name == model,
                CheckRun.kind == CheckKind.DRIFT.value,
                CheckRun.window_end < before,
            )
            .order_by(CheckRun.window_end.desc(), CheckRun.id.desc())
            .limit(windows)
        )
    )
    if not runs:
        return {}
    beyond: dict[tuple[int, str], bool] = {}
    for run_id, subject, name, value, threshold in session.execute(
        select(
            CheckMetric.run_id,
            CheckMetric.subject,
            CheckMetric.name,
            CheckMetric.value,
            CheckMetric.threshold,
        ).where(CheckMetric.run_id.in_(runs))
    ):
        try:
            method = Method(name)
        except ValueError:
            continue  # the dataset share, not a column
        if value is not None and threshold is not None:
            beyond[(run_id, subject)] = exceeds(method, value, threshold)
    columns = {subject for _, subject in beyond}
    return {c: tuple(beyond.get((run_id, c), False) for run_id in reversed(runs)) for c in columns}


def monitoring_finding(model: str, why: str | None) -> Finding:
    """Whether the model can be checked at all: firing while it has no usable reference.

    Without a reference every check reads "insufficient data" (latency and errors
    included): left to a log line, the model would go unwatched for days. This is
    an ordinary alert (repeats, resolves once a reference is readable again).
    """
    if why is None:
        return Finding(
            scope=model,
            kind=MONITORING,
            subject="reference",
            firing=False,
            severity=Severity.INFO,
            summary=f"{model} is monitored: its reference is readable",
        )
    return Finding(
        scope=model,
        kind=MONITORING,
        subject="reference",
        firing=True,
        severity=Severity.WARNING,
        summary=f"{model} is not monitored: no reference ({why})",
        details={"why": why},
    )


def _job(ctx: JobContext, model: str | None, now: datetime, kinds: tuple[CheckKind, ...]) -> object:
    if model is None:
        raise ValueError("a check job needs a model")
    return check_model(ctx, model, now, kinds=kinds)


def run_drift(ctx: JobContext, model: str | None, now: datetime) -> object:
    return _job(ctx, model, now, (CheckKind.DRIFT,))


def run_quality(ctx: JobContext, model: str | None, now: datetime) -> object:
    return _job(ctx, model, now, (CheckKind.QUALITY,))


def run_performance(ctx: JobContext, model: str | None, now: datetime) -> object:
    return _job(ctx, model, now, (CheckKind.PERFORMANCE, CheckKind.ESTIMATED_PERFORMANCE))


def run_operations(ctx: JobContext, model: str | None, now: datetime) -> object:
    return _job(ctx, model, now, (CheckKind.OPERATIONS,))


# --------------------------------------------------------------------------- table


def cycle_rows(cycle: CheckCycle) -> list[tuple[str, str, str, str, str, str]]:
    """(check, subject, measure, value, threshold, status) rows for a printed table."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    for kind, run in cycle.runs.items():
        r = run.result
        if not r.measures:
            rows.append((kind.value, "-", "-", "-", "-", f"{r.status.value}: {r.reason or ''}"))
        for m in r.measures:
            rows.append(
                (
                    kind.value,
                    m.subject,
                    m.name,
                    _fmt(m.value),
                    (_fmt(m.threshold) + (f" ({m.basis})" if m.basis else ""))
                    if m.threshold is not None
                    else "",
                    m.status.value + (f" ({m.detail})" if m.detail and m.alerting else ""),
                )
            )
    return rows


def print_check(
    settings: Settings,
    name: str,
    *,
    window: str | None = None,
    alert: bool = False,
    now: datetime | None = None,
) -> int:
    """`mlmaint check`: run once, print a table; exit 0, or 1 when something alerts."""
    from datetime import UTC

    from rich.console import Console
    from rich.table import Table

    from daemon.config import parse_duration
    from daemon.jobs import JobContext

    console = Console()
    try:
        settings.model(name)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return 2
    try:
        span = parse_duration(window) if window else None
    except ValueError as exc:
        console.print(f"[red]bad --window: {exc}[/red]")
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        cycle = check_model(ctx, name, now or datetime.now(UTC), window=span, alert=alert)
    finally:
        ctx.close()
    table = Table(
        title=f"{name}: {cycle.rows} rows, {cycle.window_start:%Y-%m-%d %H:%M} to "
        f"{cycle.window_end:%Y-%m-%d %H:%M} UTC"
    )
    for column in ("check", "subject", "measure", "value", "threshold", "status"):
        table.add_column(column)
    colours = {"alert": "red", "ok": "green", "insufficient_data": "yellow", "error": "magenta"}
    for row in cycle_rows(cycle):
        status = row[5].split(" ")[0].rstrip(":")
        table.add_row(*row[:5], f"[{colours.get(status, 'white')}]{row[5]}[/]")
    console.print(table)
    for run in cycle.runs.values():
        if run.evidence_path:
            console.print(f"evidence: {run.evidence_path}")
    return 1 if cycle.firing else 0
