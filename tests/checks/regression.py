"""Synthetic regression windows whose noise grows in one region of the input space.

The model predicts the target's conditional mean exactly; its error is the noise,
whose spread rises from 0.5 to 2.0 as `x1` crosses 1. The reference draws `x1`
around 0, so about one row in six lies where the model errs most: enough for a
loss model to learn the rise. A window shifted along `x1` moves into that region
(covariate shift: P(y | x) unchanged), and its realized MAE and RMSE grow.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from tests.checks.frames import START

NUMERIC = ("x1", "x2")
CATEGORICAL = ("region",)


def noise_sd(x1: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 + 1.5 / (1.0 + np.exp(-4.0 * (x1 - 1.0))))


def regression_window(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """`n` rows; `shift` moves x1's mean (0: the reference's population)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    region = rng.choice(["north", "south", "west"], n, p=[0.5, 0.3, 0.2]).astype(object)
    mean = 3.0 * x1 + 2.0 * x2 + 1.0 * (region == "south")
    label = mean + rng.normal(0.0, 1.0, n) * noise_sd(x1)
    return pd.DataFrame(
        {
            "prediction_id": [f"r{seed}-{i}" for i in range(n)],
            "timestamp": [START + timedelta(seconds=i) for i in range(n)],
            "x1": x1,
            "x2": x2,
            "region": region,
            "prediction": mean,
            "label": label,
        }
    )
