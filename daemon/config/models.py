"""[[models]]: one monitored model: its source, schema, sampling, reference, checks, retrain."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from checks.interface import MetricError, TaskKind, parse_metric
from checks.methods import ColumnKind, fits, kinds_of
from daemon.config.common import Duration, Frozen, Schedule, interval
from daemon.config.model_checks import ChecksSettings
from daemon.config.retraining import RetrainSettings
from daemon.config.sources import Source

# The columns a window DataFrame holds besides the features (daemon/store/windows.py).
RESERVED_COLUMNS = (
    "prediction_id",
    "timestamp",
    "prediction",
    "score",
    "label",
    "latency_ms",
    "error",
    "memory_mb",
)


class SchemaSettings(Frozen):
    id: str = "prediction_id"
    timestamp: str = "timestamp"
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    # Categorical features that hold booleans: true/false, yes/no, 1/0 in any case (and
    # JSON booleans) are stored and compared as "true"/"false". Listed here, a column
    # is categorical whether or not `categorical` names it too.
    boolean: tuple[str, ...] = ()
    prediction: str = "prediction"
    score: str | None = None
    label: str = "label"
    latency: str | None = None
    error: str | None = None
    memory: str | None = None
    model_version: str | None = None
    max_string_length: int = Field(default=1024, gt=0)
    # Known values of categorical features: others are kept and counted as new categories.
    categories: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
    # Source columns dropped without counting a row as having an extra column.
    ignore: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _booleans_are_categorical(cls, data: object) -> object:
        if not isinstance(data, Mapping) or not data.get("boolean"):
            return data
        flags, categorical = data["boolean"], data.get("categorical", ())
        if not isinstance(flags, list | tuple) or not isinstance(categorical, list | tuple):
            return data  # the field validators name the wrong type
        extra = [c for c in flags if c not in categorical and c not in data.get("numeric", ())]
        return {**data, "categorical": [*categorical, *extra]} if extra else data

    @model_validator(mode="after")
    def _columns(self) -> Self:
        numeric_flags = sorted(set(self.boolean) & set(self.numeric))
        if numeric_flags:
            raise ValueError(
                f"boolean columns are categorical, not numeric: {', '.join(numeric_flags)}"
            )
        if not self.numeric and not self.categorical:
            raise ValueError("a schema needs at least one numeric or categorical feature")
        features = [*self.numeric, *self.categorical]
        dupes = sorted({c for c in features if features.count(c) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {', '.join(dupes)}")
        clash = sorted(set(features) & set(RESERVED_COLUMNS))
        if clash:
            raise ValueError(
                f"feature names clash with the window's reserved columns: {', '.join(clash)}"
            )
        unknown = sorted(set(self.categories) - set(self.categorical))
        if unknown:
            raise ValueError(f"categories given for non-categorical columns: {', '.join(unknown)}")
        return self

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


class SamplingSettings(Frozen):
    rate: float = Field(default=1.0, gt=0, le=1)
    # Reservoir cap of rows kept per window, so a traffic spike can't flood the store.
    max_rows_per_window: int | None = Field(default=None, gt=0)
    window: Duration = timedelta(hours=1)
    schedule: Schedule = interval("5m")
    retention: Duration = timedelta(days=90)
    max_rejected_kept: int = Field(default=1000, ge=0)
    # The plausible-time window: a row stamped more than `max_ahead` after now, or
    # more than `max_age` (default: `retention`) before it, is rejected as
    # implausible_timestamp on every path.
    max_ahead: Duration = timedelta(days=1)
    max_age: Duration | None = None

    @property
    def oldest_age(self) -> timedelta:
        return self.retention if self.max_age is None else self.max_age


class ReferenceKind(enum.StrEnum):
    SNAPSHOT = "snapshot"
    FILE = "file"
    WINDOW = "window"


class ReferenceSettings(Frozen):
    kind: ReferenceKind = ReferenceKind.SNAPSHOT
    path: Path | None = None
    start: str | None = None
    end: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> Self:
        if self.kind is ReferenceKind.FILE and self.path is None:
            raise ValueError("a file reference needs 'path'")
        if self.kind is ReferenceKind.WINDOW and (self.start is None or self.end is None):
            raise ValueError("a window reference needs 'start' and 'end'")
        return self


class ModelSettings(Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    task: TaskKind = TaskKind.BINARY
    source: Source
    labels: Source | None = None
    schema_: SchemaSettings = Field(alias="schema")
    sampling: SamplingSettings = SamplingSettings()
    reference: ReferenceSettings = ReferenceSettings()
    checks: ChecksSettings = ChecksSettings()
    retrain: RetrainSettings = RetrainSettings()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _drift_columns_known(self) -> Self:
        known = {*self.schema_.features, self.schema_.prediction, self.schema_.label}
        if self.schema_.score:
            known.add(self.schema_.score)
        unknown = sorted(set(self.checks.drift.columns) - known)
        if unknown:
            raise ValueError(
                f"checks.drift.columns names columns not in the schema: {', '.join(unknown)}"
            )
        return self

    @model_validator(mode="after")
    def _metric_fits_task(self) -> Self:
        # Checked at load, not at the first check run: a metric of another task (or a
        # typo) would pass `config check` and `onboard`, then fail every check.
        metric = self.checks.performance.metric
        if metric is not None:
            try:
                parse_metric(metric, self.task)
            except MetricError as exc:
                raise ValueError(f"checks.performance.metric: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _segments_categorical(self) -> Self:
        unknown = [c for c in self.checks.segments if c not in self.schema_.categorical]
        if unknown:
            raise ValueError(
                f"checks.segments: {', '.join(map(repr, unknown))} not among the schema's "
                f"categorical columns ({', '.join(self.schema_.categorical) or 'none'})"
            )
        return self

    def drift_kinds(self) -> dict[str, ColumnKind]:
        """Each column the drift check compares, by its schema name, and its kind.

        Prediction and label are categorical for a multiclass model (class
        names), numeric otherwise; the score is numeric.
        """
        schema = self.schema_
        target = ColumnKind.CATEGORICAL if self.task is TaskKind.MULTICLASS else ColumnKind.NUMERIC
        kinds = dict.fromkeys(schema.numeric, ColumnKind.NUMERIC)
        kinds.update(dict.fromkeys(schema.categorical, ColumnKind.CATEGORICAL))
        kinds[schema.prediction] = target
        if schema.score:
            kinds[schema.score] = ColumnKind.NUMERIC
        kinds[schema.label] = target
        return kinds

    @model_validator(mode="after")
    def _drift_methods_fit(self) -> Self:
        # A global method applies to the columns it fits (the rest keep auto), so it
        # must fit one at least; a column's own method must fit that column.
        kinds = self.drift_kinds()
        drift = self.checks.drift
        problems = []
        for name, own in sorted(drift.columns.items()):
            kind = kinds.get(name)
            method = own.method
            if method is None or kind is None:
                continue
            if not fits(method, kind):
                problems.append(
                    f"checks.drift.columns.{name}.method: {method.value!r} does not apply to "
                    f"the {kind.value} column {name!r} (it applies to "
                    f"{' and '.join(k.value for k in kinds_of(method))} columns only)"
                )
        if drift.method is not None:
            method = drift.method
            if not any(fits(method, kind) for kind in kinds.values()):
                problems.append(
                    f"checks.drift.method: {method.value!r} applies to "
                    f"{' and '.join(k.value for k in kinds_of(method))} columns only, "
                    f"and this model has none"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self
