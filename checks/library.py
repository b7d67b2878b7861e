"""The checks as a library: a reference frame and a current frame in, a CheckResult out.

The daemon builds its checks from config.toml; these functions build the same
checks from keyword arguments, with the daemon's defaults (checks/defaults.py:
at least 100 rows in the current frame, thresholds calibrated for a 1%
false-alarm rate, performance judged against a band from the reference's
chunks), so a notebook and the daemon agree on the same data.
Both frames are typed by the one typing function (checks/typed.py) first.

    import checks
    result = checks.check_drift(reference_df, current_df)
    result.status, result.alerting, result.measure("age", "wasserstein")

Columns not named are found from the reference: numbers are numeric features,
text, categories and booleans categorical ones (a boolean however spelled, True,
"false", "yes", 1 beside "no", is "true"/"false" in both frames; `boolean=` names
such columns); the reserved columns (score,
label, prediction, prediction_id, timestamp, latency_ms, error, memory_mb) are
never features. A feature named that is in neither frame is a ValueError; one
missing from a frame makes the drift result's status ERROR (or keeps ALERT) with
a reason naming it, as the quality check alerts on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from checks import defaults
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
    CheckKind,
    CheckResult,
    Status,
)
from checks.performance import EstimatedPerformanceCheck, EstimationSpec, Metric
from checks.quality import QualityCheck, QualitySpec
from checks.reference import ReferenceStats, build_reference
from checks.thresholds import BandMode, ThresholdMode
from checks.typed import (
    FrameSchema,
    bool_text,
    boolean_spelled,
    canonical_category,
    numeric_series,
    type_frame,
)

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


def _known(
    reference: pd.DataFrame, current: pd.DataFrame, names: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The features absent from the current frame and from the reference.

    A name in neither frame is a mistake, not a finding: a ValueError listing
    the columns the frames hold.
    """
    unknown = [n for n in names if n not in reference.columns and n not in current.columns]
    if unknown:
        held = sorted({str(c) for c in (*reference.columns, *current.columns)} - RESERVED)
        raise ValueError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            f"in neither frame; the frames hold {', '.join(held) or 'no features'}"
        )
    return (
        tuple(n for n in names if n not in current.columns),
        tuple(n for n in names if n not in reference.columns),
    )


def boolean_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    *,
    boolean: Sequence[str] | None = None,
    named_numeric: Sequence[str] | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(numeric, categorical, boolean): the boolean features are categorical ones.

    Named (`boolean=`), or found: a column whose values in both frames are boolean
    spellings (True, "false", "yes", 1, "0", ...), one frame at least spelling them as
    booleans rather than 0/1 only. A reference CSV read by pandas (True/False as bool,
    1/0 as int) and a window of "yes"/"no" then compare as the same two values.
    """
    if boolean is None:
        frames = (reference, current)

        def spelled(name: str) -> bool:
            held = [f[name] for f in frames if name in f.columns]
            return all(
                all(bool_text(v) in ("true", "false") for v in c.dropna().unique()) for c in held
            ) and any(boolean_spelled(c) for c in held)

        fixed = set(named_numeric or ())
        boolean = [c for c in (*numeric, *categorical) if c not in fixed and spelled(c)]
    found = tuple(dict.fromkeys(boolean))
    return (
        tuple(c for c in numeric if c not in found),
        (*categorical, *(c for c in found if c not in categorical)),
        found,
    )


def _reference(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    boolean: tuple[str, ...] = (),
) -> tuple[ReferenceStats, FrameSchema]:
    schema = FrameSchema(numeric=numeric, categorical=categorical, boolean=boolean)
    return build_reference(type_frame(frame, schema), numeric, categorical), schema


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    boolean: Sequence[str] | None = None,
    thresholds: str = "calibrated",
    false_alarm_rate: float = defaults.FALSE_ALARM_RATE,
    drift_share: float = defaults.DRIFT_SHARE,
    min_rows: int = defaults.MIN_ROWS,
) -> CheckResult:
    """Column drift of each feature and dataset drift, as the daemon's drift check.

    Scores follow Evidently 0.7's tests and selection rules. `thresholds`:
    "calibrated" (from the reference itself, for `false_alarm_rate` over all
    columns) or "evidently" (Evidently's fixed defaults). One measure per
    column (subject: the column; name: the method), and `("dataset",
    "drifted_share")` against `drift_share`. Below `min_rows` current rows the
    status is insufficient_data. A feature missing from either frame cannot be
    measured: the status is then ERROR (ALERT if another column drifted) and
    the reason names it.
    """
    from checks.calibration import calibrate_drift

    num, cat = feature_columns(reference, numeric, categorical)
    absent, unreferenced = _known(reference, current, (*num, *cat))
    num, cat, flags = boolean_features(
        reference, current, num, cat, boolean=boolean, named_numeric=numeric
    )
    ref, schema = _reference(reference, num, cat, flags)
    spec = DriftSpec(
        columns=(
            *(ColumnSpec(name=c, kind=ColumnKind.NUMERIC) for c in num),
            *(ColumnSpec(name=c, kind=ColumnKind.CATEGORICAL) for c in cat),
        ),
        drift_share=drift_share,
        min_rows=min_rows,
        thresholds=ThresholdMode(thresholds),
        false_alarm_rate=false_alarm_rate,
    )
    calibration = (
        calibrate_drift(spec.columns, ref, workers=spec.workers)
        if spec.thresholds is ThresholdMode.CALIBRATED
        else None
    )
    check = DriftCheck(spec=spec, reference=ref, calibration=calibration)
    result = check.run(type_frame(current, schema))
    lacking = [
        f"{', '.join(names)} missing from the {where}"
        for names, where in ((absent, "current frame"), (unreferenced, "reference"))
        if names
    ]
    if not lacking:
        return result
    reason = "; ".join([*lacking, *([result.reason] if result.reason else [])])
    status = Status.ALERT if result.status is Status.ALERT else Status.ERROR
    return replace(result, status=status, reason=reason)


def check_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    boolean: Sequence[str] | None = None,
    max_missing_share: float = defaults.MAX_MISSING_SHARE,
    max_new_category_share: float = defaults.MAX_NEW_CATEGORY_SHARE,
    max_out_of_range_share: float = defaults.MAX_OUT_OF_RANGE_SHARE,
    min_rows: int = defaults.MIN_ROWS,
) -> CheckResult:
    """Data quality against the reference: missing values, new categories, values out
    of the reference's range, features absent or not numbers. A share alerts when it
    exceeds the reference's own share by more than its allowance; text in a numeric
    column counts as non_numeric_share, not as missing."""
    num, cat = feature_columns(reference, numeric, categorical)
    _known(reference, current, (*num, *cat))
    num, cat, flags = boolean_features(
        reference, current, num, cat, boolean=boolean, named_numeric=numeric
    )
    ref, _ = _reference(reference, num, cat, flags)
    spec = QualitySpec(
        numeric=num,
        categorical=cat,
        max_missing_share=max_missing_share,
        max_new_category_share=max_new_category_share,
        max_out_of_range_share=max_out_of_range_share,
        min_rows=min_rows,
    )
    # Numeric columns stay as they came: the check itself tells text from missing
    # (in the daemon, such rows are refused at sampling and counted as rejected).
    window = type_frame(current, FrameSchema(categorical=cat, boolean=flags))
    return QualityCheck(spec=spec, reference=ref).run(window)


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
    positive: object = None,
    min_rows: int = defaults.MIN_ROWS,
) -> CheckResult:
    """A binary classifier's performance on `current` estimated without labels (CBPE).

    The labelled, scored `reference` calibrates scores into probabilities; the
    current frame needs the `score` column only. `metric`: roc_auc, accuracy
    or f1. `thresholds`: "band" (outside the reference chunks' mean ± 3σ at the
    window's size) or "margin" (a 5% relative drop from the reference's value).
    The predicted class is the `prediction` column, or score >= `decision_threshold`.
    Labels (and a `prediction` column) are 0/1 or booleans; text labels ("yes",
    "no") need `positive=`, the positive class (a ValueError lists the labels
    seen otherwise). Below `min_rows` scored rows the answer is insufficient_data.
    A score column missing from either frame, a label column missing from the
    reference or a named prediction column missing from the current frame makes
    the status ERROR, the reason naming the column.
    """
    from checks.calibration import estimated_band

    def reserved(frame: pd.DataFrame) -> pd.DataFrame:
        names = {score: SCORE, label: LABEL}
        if prediction is not None:
            names[prediction] = PREDICTION
        out = frame.rename(columns=names)
        given = {LABEL: label, **({PREDICTION: prediction} if prediction is not None else {})}
        for name, column in given.items():
            if name in out:
                out[name] = _zero_one(out[name], positive, column)
        if prediction is None and SCORE in out:
            out[PREDICTION] = (pd.to_numeric(out[SCORE]) >= decision_threshold).astype(float)
        present = tuple(c for c in (SCORE, LABEL, PREDICTION) if c in out)
        return type_frame(out, FrameSchema(numeric=present))

    if positive is not None and label in reference:
        seen = _labels_seen(reference[label])
        if canonical_category(positive) not in seen:
            raise ValueError(
                f"positive={positive!r} is not a label of the reference's {label!r}: "
                f"it holds {', '.join(seen)}"
            )
    lacking = _lacking(reference, current, score=score, label=label, prediction=prediction)
    if lacking:
        # A column the estimate needs is gone: the user named the wrong column or
        # dropped it, which is an error to fix, not a window to wait out.
        return CheckResult(
            kind=CheckKind.ESTIMATED_PERFORMANCE,
            status=Status.ERROR,
            rows=len(current),
            reason="; ".join(lacking),
        )
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


def _lacking(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    score: str,
    label: str,
    prediction: str | None,
) -> list[str]:
    """What the estimate needs and a frame lacks, each named as the caller named it."""
    needs = [
        (reference, "reference", score, "score"),
        (reference, "reference", label, "label"),
        (current, "current frame", score, "score"),
    ]
    if prediction is not None:
        needs.append((current, "current frame", prediction, "prediction"))
    return [
        f"{role} column {column!r} missing from the {where}"
        for frame, where, column, role in needs
        if column not in frame.columns
    ]


def _labels_seen(column: pd.Series) -> list[str]:
    return sorted({t for t in map(canonical_category, column.dropna().unique()) if t is not None})


def _zero_one(column: pd.Series, positive: object, name: str) -> pd.Series:
    """A binary label as 0/1 (missing stays missing): `positive` is 1, else as a number."""
    if positive is not None:
        want = canonical_category(positive)
        texts = [canonical_category(v) for v in column]
        values = [float("nan") if t is None else float(t == want) for t in texts]
        return pd.Series(values, index=column.index, name=column.name, dtype="float64")
    numbers = numeric_series(column)
    text = numbers.isna() & column.notna()
    if text.any():
        seen = _labels_seen(column)
        raise ValueError(
            f"the labels in {name!r} are text ({', '.join(seen[:10])}): "
            f"say which is the positive class with positive=, e.g. positive={seen[-1]!r}"
        )
    return numbers
