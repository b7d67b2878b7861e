"""Synthetic windows shaped like daemon/store/windows.py's: features plus reserved columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from daemon.config import Settings, parse_config

NUMERIC = ("age", "income", "visits")
CATEGORICAL = ("plan", "region")
START = datetime(2026, 1, 5, tzinfo=UTC)


def window(
    n: int,
    seed: int,
    *,
    shift: float = 0.0,
    scale: float = 1.0,
    new_category: float = 0.0,
    label_shift: float = 0.0,
    concept: bool = False,
    covariate: float = 0.0,
) -> pd.DataFrame:
    """A binary-classification window; the label is drawn from a known P(y | x).

    `shift`/`scale` move age; `new_category` is the share of plans never seen;
    `label_shift` adds to the logit (prior shift); `concept` flips the sign of
    the income effect (only labels can tell); `covariate` shifts income.
    """
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + shift * 10, 10 * scale, n)
    income = rng.normal(covariate, 1.0, n)
    visits = rng.poisson(3, n).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_category:
        plan[rng.random(n) < new_category] = "enterprise"
    region = rng.choice(["eu", "us"], n, p=[0.6, 0.4])
    logit = -0.5 + 0.04 * (age - 40) + 1.5 * income + 0.3 * (plan == "pro")
    true_logit = logit if not concept else -0.5 + 0.04 * (age - 40) - 1.5 * income
    p_true = 1 / (1 + np.exp(-(true_logit + label_shift)))
    label = (rng.random(n) < p_true).astype(float)
    score = 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "prediction_id": [f"{seed}-{i}" for i in range(n)],
            "timestamp": [START + timedelta(seconds=i) for i in range(n)],
            "age": age,
            "income": income,
            "visits": visits,
            "plan": plan,
            "region": region,
            "prediction": (score >= 0.5).astype(float),
            "score": score,
            "label": label,
            "latency_ms": rng.gamma(4.0, 5.0, n),
            "error": np.where(rng.random(n) < 0.01, "timeout", None),
            "memory_mb": rng.normal(300, 10, n),
        }
    )


def churn_config(
    tmp_path: Path,
    reference: dict[str, object],
    url: str = "sqlite://",
    checks: dict[str, object] | None = None,
    **sections: object,
) -> dict[str, object]:
    """A user's config for a `churn` model of these windows, before parsing."""
    return {
        "service": {"state_dir": str(tmp_path / "state")},
        "store": {"url": url},
        **sections,
        "models": [
            {
                "name": "churn",
                "source": {"kind": "http"},
                "schema": {
                    "numeric": list(NUMERIC),
                    "categorical": list(CATEGORICAL),
                    "score": "score",
                    "label": "churned",
                },
                "reference": reference,
                "checks": checks or {},
            }
        ],
    }


def churn_settings(
    tmp_path: Path,
    reference: dict[str, object],
    url: str = "sqlite://",
    checks: dict[str, object] | None = None,
    **sections: object,
) -> Settings:
    """A user's config for a `churn` model of these windows, with the defaults otherwise."""
    return parse_config(churn_config(tmp_path, reference, url, checks, **sections), environ={})


def churn_config_file(
    tmp_path: Path, url: str, reference: Path, *, sections: str = "", checks: str = ""
) -> Path:
    """A user's config.toml for a `churn` model of these windows: the store at `url`,
    `reference` as its reference file (label column "churned"). `sections` (TOML
    tables) come before the model, `checks` (its [models.checks…] tables) after it."""
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[service]
state_dir = "{tmp_path / "state"}"
[store]
url = "{url}"
{sections}
[[models]]
name = "churn"
source = {{ kind = "http" }}
[models.schema]
numeric = ["age", "income", "visits"]
categorical = ["plan", "region"]
score = "score"
label = "churned"
[models.reference]
kind = "file"
path = "{reference}"
{checks}
"""
    )
    return path
