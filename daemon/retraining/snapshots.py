"""The training data of a job: the model's reference plus recent labelled rows, split.

The newest share of the recent rows is the holdout both champion and
challenger are scored on; the rest joins the reference as the training
snapshot. Snapshots are content-hashed and typed like every window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from daemon.frames import typed_training
from daemon.retraining.specs import RetrainPlan
from retrain.interface import DataRef

if TYPE_CHECKING:
    import pandas as pd

    from daemon.store.tables import Model


def read_reference(row: Model) -> pd.DataFrame | None:
    """The model's current reference, checked against its hash when it has one."""
    import pandas as pd

    if row.reference_uri is None:
        return None
    from retrain.snapshot import read_snapshot

    if row.reference_sha256:
        return read_snapshot(DataRef(uri=row.reference_uri, sha256=row.reference_sha256, rows=0))
    return pd.read_parquet(row.reference_uri)


def build_snapshots(
    reference: pd.DataFrame | None,
    recent: pd.DataFrame,
    plan: RetrainPlan,
    directory: Path,
) -> tuple[DataRef, DataRef | None]:
    """Training snapshot (reference + older recent rows) and the holdout (newest rows)."""
    import pandas as pd

    from retrain.snapshot import write_snapshot

    model = plan.model
    schema = model.schema_
    columns = [*schema.features, schema.label]
    recent = typed_training(recent, model) if len(recent) else recent
    n_holdout = round(len(recent) * plan.holdout_share)
    holdout = recent.iloc[len(recent) - n_holdout :] if n_holdout else recent.iloc[:0]
    train_recent = recent.iloc[: len(recent) - n_holdout]
    parts = [train_recent.loc[:, ["prediction_id", *columns]]] if len(train_recent) else []
    if reference is not None and len(reference):
        ref = typed_training(reference, model)
        if "prediction_id" not in ref.columns:
            ref = ref.assign(prediction_id=[f"ref-{i:09d}" for i in range(len(ref))])
        held = set(holdout["prediction_id"]) if len(holdout) else set()
        parts.insert(0, ref.loc[~ref["prediction_id"].isin(held), ["prediction_id", *columns]])
    if not parts:
        raise ValueError(f"model {model.name}: no reference and no labelled rows to train on")
    train = pd.concat(parts, ignore_index=True).drop_duplicates("prediction_id", keep="last")
    train_ref = write_snapshot(train, directory, columns)
    holdout_ref = (
        write_snapshot(holdout.loc[:, ["prediction_id", *columns]], directory, columns)
        if len(holdout)
        else None
    )
    return train_ref, holdout_ref
