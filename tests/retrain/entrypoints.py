"""User training entry points for the tests: one that works, two broken ones, a slow one."""

from __future__ import annotations

import time

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline


def good(train: pd.DataFrame, context: object) -> Pipeline:
    numeric = list(context.numeric)  # type: ignore[attr-defined]
    categorical = list(context.categorical)  # type: ignore[attr-defined]
    model = make_pipeline(
        ColumnTransformer([("num", "passthrough", numeric)]), LogisticRegression()
    )
    return model.fit(train[numeric + categorical], train[context.label])  # type: ignore[attr-defined]


def raises(train: pd.DataFrame, context: object) -> LogisticRegression:
    raise RuntimeError(f"user code failed on {len(train)} rows")


def wrong_type(train: pd.DataFrame, context: object) -> dict[str, float]:
    return {"weights": 1.0}


def slow(train: pd.DataFrame, context: object) -> LogisticRegression:
    """Runs long enough to be cancelled while it trains."""
    time.sleep(300)
    raise RuntimeError("slow ended without being cancelled")
