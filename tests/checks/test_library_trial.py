"""What a new user of `import checks` met: a status that hides a missing column,
text labels, text in a numeric column, and defaults that were not the daemon's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import checks
from checks import defaults
from checks.interface import Status
from daemon.config.model_checks import ChecksSettings


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    age = rng.normal(40 + shift, 10, n)
    churn = 1 / (1 + np.exp(-(age - 45) / 5))
    return pd.DataFrame(
        {
            "age": age,
            "visits": rng.poisson(3, n).astype("int64"),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "score": np.clip(churn + rng.normal(0, 0.05, n), 0, 1),
            "label": rng.random(n) < churn,
        }
    )


def test_a_feature_missing_from_the_current_frame_is_not_ok() -> None:
    rng = np.random.default_rng(10)
    reference, current = _frame(rng, 2000), _frame(rng, 500)
    result = checks.check_drift(reference, current.drop(columns="visits"))
    assert result.status is Status.ERROR
    assert result.reason is not None and "visits missing from the current frame" in result.reason
    assert not result.alerting
    # The columns that could be measured still are.
    assert result.measure("age", "wasserstein").status is Status.OK
    # A drifted column keeps the result alerting; the reason still names the gap.
    drifted = checks.check_drift(reference, _frame(rng, 500, shift=8).drop(columns="plan"))
    assert drifted.status is Status.ALERT
    assert drifted.reason is not None and "plan missing from the current frame" in drifted.reason
    # The quality check says the same about the window (the daemon's view too).
    quality = checks.check_quality(reference, current.drop(columns="visits"))
    assert quality.measure("schema", "missing_columns").status is Status.ALERT


def test_a_column_in_neither_frame_is_a_value_error() -> None:
    rng = np.random.default_rng(11)
    reference, current = _frame(rng, 300), _frame(rng, 300)
    with pytest.raises(ValueError, match=r"unknown column 'nope': in neither frame.*age"):
        checks.check_drift(reference, current, numeric=["nope"])
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        checks.check_quality(reference, current, categorical=["nope"])


def test_text_labels_need_the_positive_class() -> None:
    rng = np.random.default_rng(12)
    reference, current = _frame(rng, 4000), _frame(rng, 2000)
    as_bool = checks.estimate_performance(reference, current.drop(columns="label"))
    texts = reference.assign(label=np.where(reference["label"], "yes", "no"))
    with pytest.raises(ValueError, match=r"labels in 'label' are text \(no, yes\).*positive="):
        checks.estimate_performance(texts, current.drop(columns="label"))
    with pytest.raises(ValueError, match=r"positive='si' is not a label.*no, yes"):
        checks.estimate_performance(texts, current.drop(columns="label"), positive="si")
    as_text = checks.estimate_performance(texts, current.drop(columns="label"), positive="yes")
    assert as_text.status is Status.OK, as_text.reason
    assert as_text == as_bool
    # The other class as positive is a different question, answered all the same.
    flipped = texts.assign(score=1 - texts["score"])
    other = checks.estimate_performance(
        flipped, current.drop(columns="label").assign(score=1 - current["score"]), positive="no"
    )
    assert other.measure("roc_auc", "estimated").value == pytest.approx(
        as_bool.measure("roc_auc", "estimated").value, abs=0.02
    )


def test_text_in_a_numeric_column_is_non_numeric_not_missing() -> None:
    rng = np.random.default_rng(13)
    reference, current = _frame(rng, 1000), _frame(rng, 400)
    current["age"] = current["age"].astype(object)
    current.loc[:39, "age"] = "abc"
    current.loc[40:59, "age"] = None
    current.loc[60:79, "age"] = "  "
    current.loc[80:99, "age"] = "41.5"
    result = checks.check_quality(reference, current)
    assert result.measure("age", "non_numeric_share").value == pytest.approx(40 / 400)
    assert result.measure("age", "non_numeric_share").status is Status.ALERT
    assert result.measure("age", "missing_share").value == pytest.approx(40 / 400)
    # A column of text only.
    only_text = checks.check_quality(reference, current.assign(visits="abc"))
    assert only_text.measure("visits", "non_numeric_share").value == 1.0
    assert only_text.measure("visits", "missing_share").value == 0.0


def test_the_library_uses_the_daemons_defaults() -> None:
    daemon = ChecksSettings()
    assert daemon.min_rows == defaults.MIN_ROWS == 100
    assert daemon.drift.false_alarm_rate == defaults.FALSE_ALARM_RATE
    assert daemon.quality.max_missing_share == defaults.MAX_MISSING_SHARE
    assert daemon.performance.min_labelled == defaults.MIN_LABELLED
    rng = np.random.default_rng(14)
    reference = _frame(rng, 3000)
    for n, status in ((99, Status.INSUFFICIENT_DATA), (100, Status.OK)):
        current = _frame(rng, n)
        drift = checks.check_drift(reference, current)
        assert drift.status is status, (n, drift.reason)
        quality = checks.check_quality(reference, current)
        assert (quality.status is Status.INSUFFICIENT_DATA) is (n < 100), (n, quality.reason)
        performance = checks.estimate_performance(reference, current.drop(columns="label"))
        assert (performance.status is Status.INSUFFICIENT_DATA) is (n < 100), performance.reason
    assert checks.check_drift(reference, _frame(rng, 10)).reason == "10 rows, 100 needed"
    assert checks.check_drift(reference, _frame(rng, 10), min_rows=5).status is Status.OK


def test_a_text_prediction_column_takes_the_same_positive_class() -> None:
    rng = np.random.default_rng(15)
    reference, current = _frame(rng, 4000), _frame(rng, 2000).drop(columns="label")

    def words(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.assign(predicted=np.where(frame["score"] >= 0.5, "yes", "no"))
        if "label" in out:
            out["label"] = np.where(out["label"], "yes", "no")
        return out

    kwargs = {"prediction": "predicted", "metric": "accuracy"}
    with pytest.raises(ValueError, match="labels in 'label' are text"):
        checks.estimate_performance(words(reference), words(current), **kwargs)
    as_text = checks.estimate_performance(
        words(reference), words(current), positive="yes", **kwargs
    )
    as_default = checks.estimate_performance(reference, current, metric="accuracy")
    assert as_text.measure("accuracy", "estimated").value == pytest.approx(
        as_default.measure("accuracy", "estimated").value
    )
    with pytest.raises(ValueError, match="labels in 'predicted' are text"):
        checks.estimate_performance(reference, words(current), **kwargs)


def test_a_score_or_label_column_missing_is_an_error_naming_it() -> None:
    rng = np.random.default_rng(16)
    reference, current = _frame(rng, 2000), _frame(rng, 500).drop(columns="label")
    # The window as a user exports it: the scores under another name than asked for.
    renamed = current.rename(columns={"score": "proba"})
    result = checks.estimate_performance(reference, renamed)
    assert result.status is Status.ERROR
    assert result.reason == "score column 'score' missing from the current frame"
    assert not result.measures
    named = checks.estimate_performance(
        reference.rename(columns={"score": "p"}), current, score="p"
    )
    assert named.status is Status.ERROR
    assert named.reason == "score column 'p' missing from the current frame"
    unlabelled = checks.estimate_performance(reference.drop(columns="label"), current)
    assert unlabelled.status is Status.ERROR
    assert unlabelled.reason == "label column 'label' missing from the reference"
    asked = checks.estimate_performance(reference, current, prediction="predicted")
    assert asked.reason == "prediction column 'predicted' missing from the current frame"
    # With every column there, the same frames give an estimate.
    assert checks.estimate_performance(reference, current).status is Status.OK


def test_a_boolean_column_compares_alike_however_each_frame_spells_it() -> None:
    import io

    rng = np.random.default_rng(17)
    flags = rng.random(3000) < 0.3
    # The reference as a CSV from outside: pandas reads True/False back as bool.
    text = _frame(rng, 3000).assign(is_student=flags).to_csv(index=False)
    reference = pd.read_csv(io.StringIO(text))
    assert reference["is_student"].dtype == bool
    window = _frame(rng, 800)
    same = rng.random(800) < 0.3
    for spelled in (
        np.where(same, "yes", "no"),
        np.where(same, "True", "False"),
        np.where(same, "1", "0"),
        same.astype(int),
        np.where(same, "true", "false"),
    ):
        current = window.assign(is_student=spelled)
        drift = checks.check_drift(reference, current)
        measure = drift.measure("is_student", "jensenshannon")
        assert measure.status is Status.OK, (spelled[:3], measure)
        quality = checks.check_quality(reference, current)
        assert quality.measure("is_student", "new_category_share").value == 0.0, spelled[:3]
    # A window spelled yes/no where the reference is 1/0 integers: one column still.
    codes = reference.assign(is_student=flags.astype(int))
    yes_no = window.assign(is_student=np.where(same, "yes", "no"))
    assert checks.check_drift(codes, yes_no).measure("is_student", "jensenshannon").value < 0.05
    # Named, a 0/1 column in both frames is boolean too (unnamed, it may be a count).
    ones = window.assign(is_student=same.astype(int))
    named = checks.check_drift(codes, ones, boolean=["is_student"])
    assert named.measure("is_student", "jensenshannon").status is Status.OK
