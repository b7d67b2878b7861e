"""The checks as a library: a reference frame and a current frame in, a CheckResult out.

The daemon builds its checks from config.toml; these functions build the same
checks from keyword arguments, with the daemon's defaults (thresholds
calibrated for a 1% false-alarm rate, performance judged against a band from
the reference's chunks), so a notebook and the daemon agree on the same data.
Both frames are typed by the one typing function (checks/typed.py) first.

    import checks
    result = checks.check_drift(reference_df, current_df)
    result.status, result.alerting, result.measure("age", "wasserstein")

Columns not named are found from the reference: numbers are numeric features,
text, categories and booleans categorical ones; the reserved columns (score,
label, prediction, prediction_id, timestamp, latency_ms, error, memory_mb) are
never features.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from checks.drift import ColumnKind, ColumnSpec, DriftCheck, DriftSpec
from checks.interface import (
    ERROR,
    LABEL,
    LATENCY,
    MEMORY,
    PREDICTION,
    PREDICTION_ID,
    SCORE,
    TIMESTAMP,
    CheckResult,
)
from checks.performance import EstimatedPerformanceCheck, EstimationSpec, Metric
from checks.quality import QualityCheck, QualitySpec
from checks.reference import ReferenceStats, build_reference
from checks.thresholds import BandMode, ThresholdMode
from checks.typed import FrameSchema, type_frame

RESERVED = frozenset({PREDICTION_ID, TIMESTAMP, PREDICTION, SCORE, LABEL, LATENCY, ERROR, MEMORY})


def feature_columns(
    reference: pd.DataFrame,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The numeric and categorical features: as given, or found from the reference's dtypes."""
    columns = [str(c) for c in reference.columns if str(c) not in RESERVED]

    def is_number(name: str) -> bool:
        dtype = reference[name].dtype
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)

    if numeric is None:
        numeric = [c for c in columns if is_number(c) and c not in (categorical or ())]
    if categorical is None:
        categorical = [c for c in columns if not is_number(c) and c not in numeric]
    return tuple(numeric), tuple(categorical)


def _reference(
    frame: pd.DataFrame, numeric: tuple[str, ...], categorical: tuple[str, ...]
) -> tuple[ReferenceStats, FrameSchema]:
    schema = FrameSchema(numeric=numeric, categorical=categorical)
    return build_reference(type_frame(frame, schema), numeric, categorical), schema


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    thresholds: str = "calibrated",
    false_alarm_rate: float = 0.01,
    drift_share: float = 0.5,
) -> CheckResult:
    """Column drift of each feature and dataset drift, as the daemon's drift check.

    Scores follow Evidently 0.7's tests and selection rules. `thresholds`:
    "calibrated" (from the reference itself, for `false_alarm_rate` over all
    columns) or "evidently" (Evidently's fixed defaults). One measure per
    column (subject: the column; name: the method), and `("dataset",
    "drifted_share")` against `drift_share`.
    """
    from checks.calibration import calibrate_drift

    num, cat = feature_columns(reference, numeric, categorical)
    ref, schema = _reference(reference, num, cat)
    spec = DriftSpec(
        columns=(
            *(ColumnSpec(name=c, kind=ColumnKind.NUMERIC) for c in num),
            *(ColumnSpec(name=c, kind=ColumnKind.CATEGORICAL) for c in cat),
        ),
        drift_share=drift_share,
        thresholds=ThresholdMode(thresholds),
        false_alarm_rate=false_alarm_rate,
    )
    calibration = (
        calibrate_drift(spec.columns, ref, workers=spec.workers)
        if spec.thresholds is ThresholdMode.CALIBRATED
        else None
    )
    check = DriftCheck(spec=spec, reference=ref, calibration=calibration)
    return check.run(type_frame(current, schema))


def check_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    max_missing_share: float = 0.05,
    max_new_category_share: float = 0.02,
    max_out_of_range_share: float = 0.05,
) -> CheckResult:
    """Data quality against the reference: missing values, new categories, values out
    of the reference's range, features absent or not numbers. A share alerts when it
    exceeds the reference's own share by more than its allowance."""
    num, cat = feature_columns(reference, numeric, categorical)
    ref, schema = _reference(reference, num, cat)
    spec = QualitySpec(
        numeric=num,
        categorical=cat,
        max_missing_share=max_missing_share,
        max_new_category_share=max_new_category_share,
        max_out_of_range_share=max_out_of_range_share,
    )
    return QualityCheck(spec=spec, reference=ref).run(type_frame(current, schema))


def estimate_performance(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    score: str = SCORE,
    label: str = LABEL,
    prediction: str | None = None,
    metric: str = "roc_auc",
    thresholds: str = "band",
    decision_threshold: float = 0.5,
    min_rows: int = 200,
) -> CheckResult:
    """A binary classifier's performance on `current` estimated without labels (CBPE).

    The labelled, scored `reference` calibrates scores into probabilities; the
    current frame needs the `score` column only. `metric`: roc_auc, accuracy
    or f1. `thresholds`: "band" (outside the reference chunks' mean ± 3σ at the
    window's size) or "margin" (a 5% relative drop from the reference's value).
    The predicted class is the `prediction` column, or score >= `decision_threshold`.
    """
    from checks.calibration import estimated_band

    def reserved(frame: pd.DataFrame) -> pd.DataFrame:
        names = {score: SCORE, label: LABEL}
        if prediction is not None:
            names[prediction] = PREDICTION
        out = frame.rename(columns=names)
        if prediction is None and SCORE in out:
            out[PREDICTION] = (pd.to_numeric(out[SCORE]) >= decision_threshold).astype(float)
        present = tuple(c for c in (SCORE, LABEL, PREDICTION) if c in out)
        return type_frame(out, FrameSchema(numeric=present))

    chosen = Metric(metric)
    ref = build_reference(reserved(reference), (), (), score=SCORE, label=LABEL)
    spec = EstimationSpec(
        metric=chosen,
        mode=BandMode(thresholds),
        decision_threshold=decision_threshold,
        min_rows=min_rows,
    )
    band = (
        estimated_band(chosen, ref, decision_threshold=decision_threshold)
        if spec.mode is BandMode.BAND
        else None
    )
    check = EstimatedPerformanceCheck(spec=spec, reference=ref, band=band)
    return check.run(reserved(current))
