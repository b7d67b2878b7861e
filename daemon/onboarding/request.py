"""What onboarding is asked and what it answers: the request, the result, the error.

Also the column roles a prediction log names, shared by the schema inference
and the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from checks.interface import TaskKind
from daemon.config import FileFormat

if TYPE_CHECKING:
    from retrain.interface import DataRef

# How `--reference` names the two references that are not files.
FROM_DATASET = "mlflow-dataset"
FIRST_WINDOW = "first-window"

# Column names a prediction log commonly uses for each role, in order of preference.
ROLE_NAMES: Mapping[str, tuple[str, ...]] = {
    "id": ("prediction_id", "request_id", "id"),
    "timestamp": ("timestamp", "ts", "time", "created_at"),
    "prediction": ("prediction", "predicted", "y_pred", "pred"),
    "score": ("score", "probability", "proba", "prob"),
    "label": ("label", "target", "y"),
    "latency": ("latency_ms", "latency"),
    "error": ("error",),
    "memory": ("memory_mb",),
}
ROLES = tuple(ROLE_NAMES)


class OnboardError(Exception):
    """Onboarding cannot go on; the message says what is wrong and what to give."""


@dataclass(frozen=True, kw_only=True)
class OnboardRequest:
    """What `mlmaint onboard` was asked: the model, where its data is, overrides."""

    name: str
    model_uri: str
    task: TaskKind | None = None
    sample: Path | None = None
    # A file path, FROM_DATASET or FIRST_WINDOW; None: no reference (the model is
    # then reported as not monitored until one is recorded).
    reference: str | None = None
    reference_start: datetime | None = None
    reference_end: datetime | None = None
    logs: str | None = None
    log_format: FileFormat | None = None
    labels: Literal["http", "none"] = "http"
    # Role -> column name given on the command line ("label": "churned").
    columns: Mapping[str, str] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    positive: str | None = None
    metric: str | None = None


@dataclass(frozen=True, kw_only=True)
class Onboarded:
    """What onboarding did: the table, the version and the reference it recorded."""

    name: str
    version: str
    alias: str
    table: str
    reference_kind: str
    reference: DataRef | None = None
    reference_source: str | None = None
    written_to: Path | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Schema:
    """The model's features and the log columns that hold each role."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    roles: Mapping[str, str]
    ignore: tuple[str, ...]
    # The categorical features that hold booleans ([models.schema] boolean).
    boolean: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)
