"""Why a segment's performance fell: its own drift, and the whole window's joint drift.

The multivariate check (reconstruction error, domain classifier AUROC) runs on whole
windows only. A segment's performance alert ranked only the segment's own series, so
it said "no feature drifted over the last 8 windows: the fall is not explained by
drift" while the whole window's reconstruction error alerted (1.745 above 1.458) in
those same windows. A segment's ranking takes the whole window's joint drift as a
candidate, and says it is the whole window's.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, CheckResult, Measure, Status
from checks.multivariate import RECONSTRUCTION
from daemon.alerts.finding import WHY, Finding
from daemon.checking.causes import explain, rank_stored
from daemon.checking.findings import in_segment
from daemon.checking.records import KindRun, store_runs
from tests.checks.frames import START, churn_settings

DAYS = 8
SEGMENT = "region=A"
# The reconstruction error's upper band, as the trial's alert printed it.
UPPER = 1.458


def _run(kind: CheckKind, measures: list[Measure]) -> dict[CheckKind, KindRun]:
    status = Status.ALERT if any(m.alerting for m in measures) else Status.OK
    result = CheckResult(kind=kind, status=status, rows=500, measures=tuple(measures))
    return {kind: KindRun(result=result, duration_s=0.0)}


def _drift(values: dict[str, float]) -> dict[CheckKind, KindRun]:
    # PSI distances against 0.1; plan's chi-square p-value against 0.05.
    measures = [Measure(subject=c, name="psi", value=v, threshold=0.1) for c, v in values.items()]
    measures.append(Measure(subject="plan", name="chisquare", value=0.6, threshold=0.05))
    return _run(CheckKind.DRIFT, measures)


def _performance(auc: float) -> dict[CheckKind, KindRun]:
    return _run(
        CheckKind.PERFORMANCE,
        [
            Measure(subject="roc_auc", name="value", value=auc, threshold=0.75),
            Measure(subject="roc_auc", name="baseline", value=0.85, detail="reference"),
        ],
    )


def _store(sessions: sessionmaker[Session], joint: str) -> None:
    """Eight daily windows. The segment's roc_auc falls over the last four, its
    features' drift is noise under their thresholds. The whole window: income drifts
    (its own, not the segment's) and the reconstruction error `joint` ("rises" past
    its band as the segment's roc_auc falls, "rises quietly" the same way within its
    band, or "falls" while alerting below its band)."""
    rng = np.random.default_rng(7)
    step = np.r_[np.zeros(DAYS - 4), np.linspace(0.5, 2.0, 4)]
    error = {
        "rises": 1.2 + 0.2725 * step,
        "rises quietly": 1.2 + 0.1 * step,
        "falls": 1.2 - 0.3 * step,
    }[joint]
    with sessions.begin() as session:
        for day in range(DAYS):
            end = START + timedelta(days=day + 1)
            span = {"start": end - timedelta(days=1), "end": end}
            value = float(error[day])
            alerting = value > UPPER or value < 0.8
            band = UPPER if value >= 1.2 else 0.8
            multivariate = Measure(
                subject=RECONSTRUCTION,
                name="error",
                value=value,
                threshold=band,
                status=Status.ALERT if alerting else Status.OK,
            )
            store_runs(session, "churn", _run(CheckKind.MULTIVARIATE, [multivariate]), **span)
            whole = {"income": 0.05 + 0.1 * step[day], "age": 0.02, "region": 0.03}
            store_runs(session, "churn", _drift(whole), **span)
            store_runs(session, "churn", _performance(0.84 - 0.03 * step[day]), **span)
            # The segment's, stored after the whole window's in the same cycle.
            noise = {c: float(rng.uniform(0.01, 0.06)) for c in ("income", "age", "region")}
            store_runs(session, "churn", _drift(noise), segment=SEGMENT, **span)
            auc = 0.85 - 0.06 * step[day] + float(rng.normal(0, 0.003))
            store_runs(session, "churn", _performance(auc), segment=SEGMENT, **span)


def _told(tmp_path: Path, sessions: sessionmaker[Session]) -> str:
    """The segment's firing roc_auc alert's summary, as the check cycle words it."""
    model = churn_settings(tmp_path, {"kind": "snapshot"}).model("churn")
    firing = in_segment(
        Finding(
            scope="churn",
            kind=CheckKind.PERFORMANCE,
            subject="roc_auc",
            firing=True,
            summary="roc_auc 0.7307 below threshold 0.75",
        ),
        SEGMENT,
    )
    with sessions() as session:
        [told] = explain(session, model, [firing], START + timedelta(days=DAYS), segment=SEGMENT)
    assert told.summary.endswith(str(told.details[WHY]))
    return told.summary


def test_a_segments_fall_follows_the_whole_windows_joint_drift(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    _store(session_factory, "rises")
    summary = _told(tmp_path, session_factory)
    assert summary.startswith("in region=A: roc_auc 0.7307 below threshold 0.75; roc_auc fell ")
    assert "(reference) to " in summary and "no feature drifted" not in summary
    model = churn_settings(tmp_path, {"kind": "snapshot"}).model("churn")
    end = START + timedelta(days=DAYS)
    with session_factory() as session:
        segment = rank_stored(
            session, model, CheckKind.PERFORMANCE, "roc_auc", end, segment=SEGMENT
        )
        whole = rank_stored(session, model, CheckKind.PERFORMANCE, "roc_auc", end)
    assert segment is not None and segment.joint_whole and segment.drifted == ()
    assert [c.subject for c in segment.joint] == [RECONSTRUCTION] and segment.joint[0].r > 0.9
    # The latest window's error, as the whole window's alert printed it.
    assert segment.joint[0].drift == pytest.approx(1.745)
    assert summary.endswith(
        "; it follows the joint drift of the features over the whole window "
        f"(reconstruction error, r = {segment.joint[0].r:.2f})"
    ), summary
    # The segment's own features: none drifted; the whole window's income is not its.
    assert "income" not in summary
    # The whole window's own ranking: its features and its joint drift, said plainly.
    assert whole is not None and not whole.joint_whole
    assert [c.subject for c in whole.causes] == ["income"]
    assert [c.subject for c in whole.joint] == [RECONSTRUCTION]


@pytest.mark.parametrize(
    ("joint", "said"),
    [
        (
            "rises quietly",
            "; no feature drifted in the segment, nor did the whole window's joint drift "
            "alert, over the last 8 windows: the fall is not explained by drift "
            "(a change in how the labels follow the features?)",
        ),
        (
            "falls",
            "; nothing that drifted (the whole window's joint drift) follows it over 8 windows",
        ),
    ],
)
def test_a_segments_words_say_the_joint_drift_is_the_whole_windows(
    tmp_path: Path, session_factory: sessionmaker[Session], joint: str, said: str
) -> None:
    # Never alerting: nothing drifted, in the segment or the whole window. Alerting
    # while falling as roc_auc falls: it drifted, follows nothing, and is said so.
    _store(session_factory, joint)
    summary = _told(tmp_path, session_factory)
    assert summary.endswith(said), summary
