"""A model's frames typed by the one typing (checks/typed.py), from its settings.

Two views of the same schema. A training frame (snapshots, holdouts, the rows
a retrain learns from) holds the features and the label under the schema's
names, the label as canonical text for classification so its classes are the
model's classes. A check frame (windows, references) holds the window's
reserved columns (`RESERVED_COLUMNS`): there the checks read a binary label
and prediction as 0/1 numbers, a multiclass one as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checks.interface import TaskKind
from daemon.config import ModelSettings

if TYPE_CHECKING:
    import pandas as pd

    from checks.typed import FrameSchema


def training_schema(model: ModelSettings) -> FrameSchema:
    """Features and the label under the schema's names (snapshots, holdouts)."""
    from checks.typed import FrameSchema

    schema = model.schema_
    return FrameSchema(
        numeric=schema.numeric,
        categorical=schema.categorical,
        label=schema.label,
        label_numeric=model.task is TaskKind.REGRESSION,
        boolean=schema.boolean,
    )


def check_schema(model: ModelSettings) -> FrameSchema:
    """A window's (or a renamed reference's) columns as the checks read them.

    The error column is left as it is: `checks.operations.is_error` reads it.
    """
    from checks.interface import LABEL, LATENCY, MEMORY, PREDICTION, SCORE
    from checks.typed import FrameSchema

    schema = model.schema_
    numeric_target = model.task is not TaskKind.MULTICLASS
    target = (PREDICTION,)
    return FrameSchema(
        numeric=(
            *schema.numeric,
            *(target if numeric_target else ()),
            SCORE,
            LATENCY,
            MEMORY,
        ),
        categorical=(*schema.categorical, *(() if numeric_target else target)),
        label=LABEL,
        label_numeric=numeric_target,
        boolean=schema.boolean,
    )


def typed_training(frame: pd.DataFrame, model: ModelSettings) -> pd.DataFrame:
    from checks.typed import type_frame

    return type_frame(frame, training_schema(model))


# A frame typed here carries its schema and column dtypes in `attrs`: typing it again
# (a window from the store handed on to the checks) returns it as it is. The mark is
# one string: pandas deep-copies `attrs` into every frame and column derived from the
# frame, and a copied schema object cost the fleet's checks a fifth of their time.
_TYPED = "mlmaint.typed_check"


def _typed_mark(frame: pd.DataFrame, schema: FrameSchema) -> str:
    return repr((schema, tuple((str(c), str(t)) for c, t in frame.dtypes.items())))


def typed_check(frame: pd.DataFrame, model: ModelSettings) -> pd.DataFrame:
    from checks.typed import type_frame

    schema = check_schema(model)
    if frame.attrs.get(_TYPED) == _typed_mark(frame, schema):
        return frame
    out = type_frame(frame, schema)
    out.attrs[_TYPED] = _typed_mark(out, schema)
    return out
