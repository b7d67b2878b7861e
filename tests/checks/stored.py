"""Rows of `tests.checks.frames.window` stored as the sampler stores predictions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from daemon.store.features import stored_row
from daemon.store.tables import Prediction
from tests.checks.frames import CATEGORICAL, NUMERIC


def stored_prediction(
    session: Session,
    model_id: int,
    row: Mapping[str, object],
    ts: datetime,
    now: datetime,
    *,
    prediction_id: str | None = None,
) -> Prediction:
    """`row` (one record of a window) as a labelled `Prediction` at `ts`; `now` dates
    the features' first sighting. The id is the row's unless `prediction_id` is given."""
    return Prediction(
        model_id=model_id,
        prediction_id=prediction_id if prediction_id is not None else str(row["prediction_id"]),
        ts=ts,
        **stored_row(
            session, model_id, NUMERIC, {k: row[k] for k in (*NUMERIC, *CATEGORICAL)}, now
        ),
        prediction=str(row["prediction"]),
        score=row["score"],
        label=str(row["label"]),
        latency_ms=row["latency_ms"],
        error=row["error"],
        memory_mb=row["memory_mb"],
    )
