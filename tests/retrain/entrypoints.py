"""User training entry points for the tests: one that works, two broken ones."""

from __future__ import annotations

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
