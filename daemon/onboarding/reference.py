"""The reference for the serving version: typed, scored, and recorded.

A file or dataset reference is typed like every window, scored by the champion
when it holds no predictions, and recorded on the version's tags and the
store's `models` row, as a retrain records one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from daemon.config import Settings
from daemon.onboarding.registered import final_estimator
from daemon.onboarding.request import FIRST_WINDOW, OnboardError, OnboardRequest, Schema

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from sqlalchemy import Engine

    from daemon.store.versions import VersionRecord
    from retrain.interface import DataRef


def scored_reference(
    frame: pd.DataFrame,
    schema: Schema,
    task: TaskKind,
    positive: str | None,
    scorer_uri: str,
) -> tuple[pd.DataFrame, list[str], bool]:
    """The reference as a window holds it: features, label, prediction (and score).

    Binary: label and prediction 0/1, score P(positive), as the retrain job writes
    its scored holdouts. Predictions the file holds are kept; otherwise the
    champion scores the rows. Returns the frame, its columns and whether it has a score.
    """
    import numpy as np

    from checks.typed import FrameSchema, canonical_category, type_frame
    from retrain.model_scoring import Output, load_scorer

    label = schema.roles["label"]
    prediction, score = schema.roles["prediction"], schema.roles.get("score")
    out = type_frame(
        frame,
        FrameSchema(
            numeric=schema.numeric,
            categorical=schema.categorical,
            label=label,
            label_numeric=task is TaskKind.REGRESSION,
            boolean=schema.boolean,
        ),
    )
    columns = [*schema.features]
    has_label = label in out.columns
    if has_label:
        columns.append(label)
    has_prediction = prediction in out.columns
    has_score = score is not None and score in out.columns
    binary = task is TaskKind.BINARY
    if not has_prediction or (binary and score is not None and not has_score):
        scorer = load_scorer(scorer_uri, TaskKind(task.value), positive)
        predicted = np.asarray(scorer.predict(out.loc[:, list(schema.features)]))
        if binary and scorer.gives is Output.PROBABILITY:
            out["score"] = predicted.astype(np.float64)
            out["prediction"] = (predicted >= 0.5).astype(np.float64)
            has_score = True
        elif binary:
            out["prediction"] = np.asarray(
                [canonical_category(v) == positive for v in predicted], dtype=np.float64
            )
            has_score = False
        elif task is TaskKind.REGRESSION:
            out["prediction"] = predicted.astype(np.float64)
        else:
            out["prediction"] = [canonical_category(v) for v in predicted]
    else:
        rename = {prediction: "prediction"}
        if has_score and score is not None:
            rename[score] = "score"
        out = out.rename(columns=rename)
        if binary:
            out["prediction"] = _zero_one(out["prediction"], positive)
            if has_score:
                out["score"] = out["score"].astype(np.float64)
    if binary and has_label:
        out[label] = _zero_one(out[label], positive)
    columns.append("prediction")
    if binary and has_score:
        columns.append("score")
    return out, columns, has_score


def _zero_one(column: pd.Series, positive: str | None) -> pd.Series:
    """A binary label or prediction as 0.0/1.0 (missing stays NaN): the window's form."""
    import numpy as np

    from checks.typed import canonical_category

    texts = [canonical_category(v) for v in column]
    values = [np.nan if t is None else float(t == positive) for t in texts]
    return column.__class__(values, index=column.index, dtype=np.float64)


def positive_class(
    request: OnboardRequest, estimator: object | None, frame: pd.DataFrame | None, label: str
) -> str | None:
    """The positive class as canonical text: given, else the greatest of the model's classes."""
    from checks.typed import canonical_category

    if request.positive is not None:
        return canonical_category(request.positive)
    classes = getattr(final_estimator(estimator), "classes_", None) if estimator else None
    if classes is None and frame is not None and label in frame.columns:
        classes = frame[label].dropna().unique()
    found = () if classes is None else list(classes)
    texts = sorted({t for t in (canonical_category(c) for c in found) if t is not None})
    if not texts:
        raise OnboardError(
            "cannot tell the positive class of this binary model: give --positive LABEL"
        )
    return texts[-1]


def reference_dir(settings: Settings, name: str) -> Path:
    return (settings.service.state_dir / "references" / name).resolve()


def record_reference(
    engine: Engine,
    mlflow_client: MlflowClient | None,
    name: str,
    version: str,
    reference: DataRef | None,
    now: datetime,
    versions: Sequence[VersionRecord] = (),
) -> None:
    """The serving version and its reference, on the version's tags and the models row;
    and every registered version of the model with its aliases (`versions`)."""
    from sqlalchemy.orm import Session

    from daemon.store.models import ensure_model
    from daemon.store.tables import Model
    from daemon.store.versions import record_versions
    from retrain import registry

    if mlflow_client is not None and reference is not None:
        mlflow_client.set_model_version_tag(name, version, registry.TAG_REFERENCE, reference.uri)
        mlflow_client.set_model_version_tag(
            name, version, registry.TAG_REFERENCE_DIGEST, reference.sha256
        )
    if mlflow_client is not None:
        registry.record_decision(
            mlflow_client,
            name,
            version,
            "onboarded by mlmaint"
            + (f": reference {reference.sha256[:12]}" if reference else ": no reference file"),
        )
    with Session(engine) as session, session.begin():
        row = session.get_one(Model, ensure_model(session, name, now))
        row.current_version = version
        if versions:
            record_versions(session, row.id, versions, now)
        if reference is not None:
            row.reference_uri = reference.uri
            row.reference_sha256 = reference.sha256


def reference_kind(request: OnboardRequest) -> str:
    if request.reference == FIRST_WINDOW:
        return "window"
    return "snapshot"
