"""Synthetic tabular data whose concept can shift, for retraining tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = ("x1", "x2", "x3")
CATEGORICAL = ("plan",)
PLANS = ("basic", "plus", "pro")


def frame(n: int, *, seed: int, concept: str = "a", start: int = 0) -> pd.DataFrame:
    """Binary labels; concept "b" flips the sign of x1 and the plan effect (decay)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    plan = rng.choice(PLANS, size=n)
    plan_effect = np.select([plan == "basic", plan == "pro"], [-1.0, 1.0], 0.0)
    sign = 1.0 if concept == "a" else -1.0
    logit = sign * (2.0 * x[:, 0] + plan_effect) + 0.8 * x[:, 1]
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "prediction_id": [f"p{start + i:07d}" for i in range(n)],
            "x1": x[:, 0],
            "x2": x[:, 1],
            "x3": x[:, 2],
            "plan": plan,
            "label": label.astype(str),
        }
    )
