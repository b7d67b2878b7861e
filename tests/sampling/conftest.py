"""Helpers for the sampling tests: a model config, a JobContext on each backend, log writers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.config import Settings, parse_config
from daemon.jobs import JobContext
from daemon.store.engine import make_engine, session_factory

# Recent (yesterday, midnight UTC): rows stamped from here are inside the model's
# plausible-time window (90 days back, 1 day ahead) for a clock read now, as the
# tests that sample with `datetime.now(UTC)` need.
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
NUMERIC = ("age", "income")
CATEGORICAL = ("city",)


def settings_for(
    store_url: str,
    source: Mapping[str, object],
    *,
    labels: Mapping[str, object] | None = None,
    sampling: Mapping[str, object] | None = None,
    task: str = "binary_classification",
    environ: Mapping[str, str] | None = None,
    service: Mapping[str, object] | None = None,
    schema: Mapping[str, object] | None = None,
) -> Settings:
    model: dict[str, object] = {
        "name": "churn",
        "task": task,
        "source": dict(source),
        "schema": {
            "numeric": list(NUMERIC),
            "categorical": list(CATEGORICAL),
            "score": "score",
            "latency": "latency_ms",
            "error": "error",
            "categories": {"city": ["paris", "lyon"]},
            "max_string_length": 64,
        },
    }
    if schema is not None:
        model["schema"] = {**model["schema"], **schema}  # type: ignore[dict-item]
    if labels is not None:
        model["labels"] = dict(labels)
    if sampling is not None:
        model["sampling"] = dict(sampling)
    data: dict[str, object] = {"store": {"url": store_url}, "models": [model]}
    if service is not None:
        data["service"] = dict(service)
    return parse_config(data, environ=environ or {})


def make_ctx(settings: Settings) -> JobContext:
    engine = make_engine(settings.store.url)
    return JobContext(settings=settings, engine=engine, sessions=session_factory(engine))


@pytest.fixture
def ctx_factory(store_url: str) -> Iterator[object]:
    made: list[JobContext] = []

    def build(source: Mapping[str, object], **kwargs: object) -> JobContext:
        ctx = make_ctx(settings_for(store_url, source, **kwargs))  # type: ignore[arg-type]
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        checked_out = ctx.engine.pool.checkedout()  # type: ignore[attr-defined]
        ctx.close()
        assert checked_out == 0, f"{checked_out} connection(s) leaked"


def row(i: int, **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "prediction_id": f"p{i}",
        "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
        "age": 20.0 + i % 50,
        "income": 1000.0 * (i % 7),
        "city": "paris" if i % 3 else "lyon",
        "prediction": float(i % 2),
        "score": 0.5,
        "latency_ms": 3.0,
        "error": None,
    }
    base.update(overrides)
    return base


def write_jsonl(path: Path, rows: list[dict[str, object]], mode: str = "w") -> None:
    with path.open(mode) as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
