"""A model's settings -> the frozen spec the sampling stage works from.

The only module of this stage that reads a model's settings: the jobs resolve
the model they are handed (a name or its settings) here once, and everything
below them (reading, validation, storing) sees only the `SamplingSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.interface import TaskKind
from daemon.config import (
    FileSource,
    HttpSource,
    ModelSettings,
    SamplingSettings,
    SchemaSettings,
    SqlSource,
)
from daemon.jobs import JobContext


@dataclass(frozen=True, kw_only=True)
class SamplingSpec:
    """What sampling needs of one model: its columns, its sample, its sources."""

    name: str
    task: TaskKind
    schema: SchemaSettings
    # Rate, cap per window, retention, rejects kept, the plausible-time window.
    policy: SamplingSettings
    source: FileSource | SqlSource | HttpSource
    labels: FileSource | SqlSource | HttpSource | None

    @property
    def keeps_all(self) -> bool:
        """Whether every valid row is stored (no sampling rate, no cap): no filtering."""
        return self.policy.rate >= 1.0 and self.policy.max_rows_per_window is None


def spec_of(model: ModelSettings) -> SamplingSpec:
    return SamplingSpec(
        name=model.name,
        task=model.task,
        schema=model.schema_,
        policy=model.sampling,
        source=model.source,
        labels=model.labels,
    )


def _settings(ctx: JobContext, model: str | ModelSettings) -> ModelSettings:
    return ctx.settings.model(model) if isinstance(model, str) else model


def resolve(ctx: JobContext, model: str | ModelSettings) -> SamplingSpec:
    """The spec of the model a job is handed, by name or by its settings."""
    return spec_of(_settings(ctx, model))


def configured(ctx: JobContext) -> tuple[SamplingSpec, ...]:
    """Every configured model's spec, in the config's order."""
    return tuple(spec_of(model) for model in ctx.settings.models)
