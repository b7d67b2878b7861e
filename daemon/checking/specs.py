"""Settings to check specs: the only reader of a model's settings in the checking stage.

Each `[models.checks.*]` table becomes the frozen spec its check takes
(`drift_spec`, `quality_spec`, `decay_spec`, `estimation_spec`, `dle_spec`,
`operations_spec`, `multivariate_spec`), and the model's schema becomes the columns a reference is
summarised over (`reference_layout`), the names its file spells them by
(`output_names`, `text_columns`). The other rooms take these and never look
at the settings' fields themselves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from checks.drift import ColumnKind, ColumnSpec, DriftSpec
from checks.interface import LABEL, PREDICTION, SCORE, CheckKind, TaskKind
from checks.methods import Method, fits
from checks.multivariate import MultivariateSpec
from checks.operations import OperationsSpec
from checks.performance import (
    DLE_METRICS,
    DecaySpec,
    DLESpec,
    EstimationSpec,
    Metric,
    default_metric,
    parse_metric,
)
from checks.quality import QualitySpec
from checks.thresholds import BandMode, ThresholdMode
from daemon.config import ModelSettings


def output_columns(model: ModelSettings) -> list[tuple[str, ColumnKind]]:
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
        *((n, k, False) for n, k in output_columns(model)),
    ]:
        own = settings.columns.get(_config_name(model, name))
        method: Method | None
        if own and own.method is not None:
            # Refused at config load when it cannot fit the column.
            method = own.method
        else:
            # The global method applies to the columns it fits; the rest keep auto
            # (chi-square on the categoricals, Evidently's choice on the numerics).
            method = settings.method
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


def dle_spec(model: ModelSettings) -> DLESpec | None:
    """DLE applies to regression models: MAE or RMSE as the performance metric says,
    RMSE (the regression default) when it names another."""
    p = model.checks.performance
    if not p.estimate or model.task is not TaskKind.REGRESSION:
        return None
    metric = parse_metric(p.metric, TaskKind.REGRESSION) if p.metric else Metric.RMSE
    return DLESpec(
        metric=metric if metric in DLE_METRICS else Metric.RMSE,
        max_absolute_drop=p.max_absolute_drop,
        max_relative_drop=p.max_relative_drop,
        min_rows=model.checks.min_rows,
        mode=p.thresholds,
        band_sigmas=p.band_sigmas,
        band_quantile=p.band_quantile,
    )


def estimates(model: ModelSettings) -> bool:
    """Whether the model's performance is estimated without labels (CBPE or DLE)."""
    return estimation_spec(model) is not None or dle_spec(model) is not None


def operations_spec(model: ModelSettings) -> OperationsSpec:
    o = model.checks.operations
    return OperationsSpec(
        max_latency_p95_ms=o.max_latency_p95_ms,
        max_latency_p99_ms=o.max_latency_p99_ms,
        max_error_rate=o.max_error_rate,
        max_memory_mb=o.max_memory_mb,
        min_rows=model.checks.min_rows,
        errors_logged=model.schema_.error is not None,
    )


def multivariate_spec(model: ModelSettings) -> MultivariateSpec:
    """The model's input features together (not its outputs)."""
    m = model.checks.multivariate
    return MultivariateSpec(
        numeric=model.schema_.numeric,
        categorical=model.schema_.categorical,
        variance=m.variance,
        band_sigmas=m.band_sigmas,
        classifier=m.classifier,
        classifier_threshold=m.classifier_threshold,
        classifier_rows=m.classifier_rows,
        min_rows=model.checks.min_rows,
    )


def check_window(model: ModelSettings) -> timedelta:
    """How far back from `now` a scheduled check's window reaches."""
    return model.checks.window


def drift_evidence(model: ModelSettings) -> bool:
    """Whether an alerting drift run writes its evidence page."""
    return model.checks.drift.evidence


def persistence_lookback(model: ModelSettings) -> int:
    """How many earlier drift windows the persistence rule reads (0: none, or no rule)."""
    persistence = model.checks.drift.persistence
    return persistence.windows - 1 if persistence is not None and persistence.windows > 1 else 0


def enabled_kinds(model: ModelSettings) -> tuple[CheckKind, ...]:
    c = model.checks
    kinds = []
    if c.drift.enabled:
        kinds.append(CheckKind.DRIFT)
    if c.quality.enabled:
        kinds.append(CheckKind.QUALITY)
    if c.performance.enabled:
        kinds.append(CheckKind.PERFORMANCE)
        if estimates(model):
            kinds.append(CheckKind.ESTIMATED_PERFORMANCE)
    if c.operations.enabled:
        kinds.append(CheckKind.OPERATIONS)
    if c.multivariate.enabled:
        kinds.append(CheckKind.MULTIVARIATE)
    return tuple(kinds)


# --------------------------------------------------------------------------- reference layout


@dataclass(frozen=True, kw_only=True)
class ReferenceLayout:
    """The columns a model's reference statistics cover, and a key for that layout."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # The probability score column when the task is binary (CBPE and the AUC band).
    score: str | None
    # Columns, kinds and the typing schema: a cached reference is reused only under it.
    key: str


def reference_layout(model: ModelSettings) -> ReferenceLayout:
    """The features plus the window's output columns, by kind, under the window's names."""
    from daemon.frames import check_schema

    outputs = output_columns(model)
    numeric = (
        *model.schema_.numeric,
        *(c for c, k in outputs if k is ColumnKind.NUMERIC),
    )
    categorical = (
        *model.schema_.categorical,
        *(c for c, k in outputs if k is ColumnKind.CATEGORICAL),
    )
    key = hashlib.sha256(
        "\x1f".join((*numeric, "|", *categorical, "|", repr(check_schema(model)))).encode()
    ).hexdigest()
    score = SCORE if model.task is TaskKind.BINARY and model.schema_.score else None
    return ReferenceLayout(numeric=numeric, categorical=categorical, score=score, key=key)


def output_names(model: ModelSettings) -> dict[str, str]:
    """The schema's prediction, score and label column names to the window's names."""
    schema = model.schema_
    names = {schema.prediction: PREDICTION, schema.label: LABEL}
    if schema.score:
        names[schema.score] = SCORE
    return names


def text_columns(model: ModelSettings) -> tuple[str, ...]:
    """The columns a CSV reference holds as categorical text, under the file's names."""
    schema = model.schema_
    classes = (schema.prediction, schema.label) if model.task is TaskKind.MULTICLASS else ()
    return (*schema.categorical, *classes)


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True, kw_only=True)
class CalibrationTargets:
    """What the model's settings calibrate on its reference; None where nothing is."""

    # The drift columns, when drift runs with calibrated thresholds.
    drift: DriftSpec | None
    # The realized performance metric, when performance runs with bands.
    decay: DecaySpec | None
    # The estimated (CBPE) metric, with the bands, when the model has one.
    estimation: EstimationSpec | None
    # The estimated (DLE) metric of a regression model, with the bands.
    dle: DLESpec | None = None


def calibration_targets(model: ModelSettings) -> CalibrationTargets:
    drift = drift_spec(model)
    decay = decay_spec(model)
    banded = model.checks.performance.enabled and decay.mode is BandMode.BAND
    calibrated = model.checks.drift.enabled and drift.thresholds is ThresholdMode.CALIBRATED
    return CalibrationTargets(
        drift=drift if calibrated else None,
        decay=decay if banded else None,
        estimation=estimation_spec(model) if banded else None,
        dle=dle_spec(model) if banded else None,
    )
