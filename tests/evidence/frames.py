"""Frames for the evidence tests and benchmark: any width, drifted columns chosen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from checks.drift import DriftCheck
from checks.interface import CheckResult
from checks.reference import ReferenceStats
from daemon.checking.references import reference_stats
from daemon.checking.specs import drift_spec
from daemon.config import ModelSettings

END = datetime(2026, 11, 19, 12, tzinfo=UTC)


def names(prefix: str, n: int, long: bool = False) -> list[str]:
    pad = "_with_a_rather_long_descriptive_feature_name" * (3 if long else 0)
    return [f"{prefix}{i}{pad}" for i in range(n)]


def settings(
    numeric: Sequence[str],
    categorical: Sequence[str],
    thresholds: str = "evidently",
    columns: Mapping[str, object] | None = None,
    name: str = "wide",
) -> ModelSettings:
    return ModelSettings.model_validate(
        {
            "name": name,
            "source": {"kind": "http"},
            "schema": {"numeric": list(numeric), "categorical": list(categorical)},
            "checks": {
                "min_rows": 10,
                "drift": {"thresholds": thresholds, "columns": dict(columns or {})},
            },
        }
    )


def frame(
    n: int,
    seed: int,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    shifted: Sequence[str] = (),
    cardinality: int = 8,
) -> pd.DataFrame:
    """Normal numerics and Zipf-ish categoricals; `shifted` columns move (drift)."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    moved = set(shifted)
    for name in numeric:
        data[name] = rng.normal(1.5 if name in moved else 0.0, 1.0, n)
    weights = 1.0 / np.arange(1, cardinality + 1)
    for name in categorical:
        p = weights[::-1] if name in moved else weights
        codes = rng.choice(cardinality, n, p=p / p.sum())
        labels = np.array([f"{name[:6]}-value-{k}" for k in range(cardinality)], dtype=object)
        data[name] = labels[codes]
    return pd.DataFrame(data)


def checked(
    model: ModelSettings, reference: pd.DataFrame, window: pd.DataFrame
) -> tuple[ReferenceStats, CheckResult]:
    ref = reference_stats(model, reference)
    return ref, DriftCheck(spec=drift_spec(model), reference=ref).run(window)
