"""A simulated production for the demo and the soak benchmark: a churn model's traffic.

Six numeric and categorical features, a label that depends on them through a
logistic model, and a scenario with a change point: from `drift_day` on, customers'
charges and usage shift (covariate drift), a new plan appears, and the relation
between usage and churn changes (concept drift that only the decay check can see
directly). Everything is a function of the seed and the day, so runs repeat.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

NUMERIC = ("tenure_months", "monthly_charges", "support_calls", "usage_gb")
CATEGORICAL = ("plan", "region")
PLANS = ("basic", "plus", "premium")
REGIONS = ("north", "south", "east", "west")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    start: datetime
    days: int = 42
    drift_day: int = 21
    rows_per_day: int = 1500
    # Labels arrive this many days after the prediction.
    label_delay_days: int = 2
    seed: int = 7

    def day_start(self, day: int) -> datetime:
        return self.start + timedelta(days=day)

    def drifted(self, day: int) -> bool:
        return day >= self.drift_day


def _rng(seed: int, *parts: object) -> np.random.Generator:
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def features(scenario: Scenario, day: int, n: int | None = None) -> pd.DataFrame:
    """The day's feature rows (no predictions yet)."""
    n = scenario.rows_per_day if n is None else n
    rng = _rng(scenario.seed, "features", day)
    drifted = scenario.drifted(day)
    plan_p = [0.5, 0.35, 0.15]
    plans = rng.choice(PLANS, size=n, p=plan_p).astype(object)
    if drifted:
        # A new "unlimited" plan takes a share of the traffic.
        plans[rng.random(n) < 0.12] = "unlimited"
    return pd.DataFrame(
        {
            "tenure_months": rng.gamma(2.0, 12.0, n).round(1),
            "monthly_charges": rng.normal(70 + (22 if drifted else 0), 18, n).round(2),
            "support_calls": rng.poisson(1.2 if not drifted else 1.5, n).astype(float),
            "usage_gb": rng.lognormal(3.0 + (0.45 if drifted else 0.0), 0.5, n).round(2),
            "plan": plans,
            "region": rng.choice(REGIONS, size=n, p=[0.3, 0.3, 0.2, 0.2]).astype(object),
        }
    )


def churn_probability(frame: pd.DataFrame, drifted: bool) -> np.ndarray:
    """The true label model; after the change point heavy usage drives churn."""
    usage_effect = 0.045 if drifted else -0.02
    logit = (
        -0.6
        - 0.05 * frame["tenure_months"].to_numpy()
        + 0.025 * (frame["monthly_charges"].to_numpy() - 70)
        + 0.55 * frame["support_calls"].to_numpy()
        + usage_effect * (frame["usage_gb"].to_numpy() - 20)
        + np.where(frame["plan"].to_numpy() == "premium", -0.6, 0.0)
        + np.where(frame["plan"].to_numpy() == "unlimited", 0.5, 0.0)
    )
    return 1.0 / (1.0 + np.exp(-logit))


def labels(scenario: Scenario, day: int, frame: pd.DataFrame) -> np.ndarray:
    rng = _rng(scenario.seed, "labels", day)
    p = churn_probability(frame, scenario.drifted(day))
    return (rng.random(len(frame)) < p).astype(int)


def training_frame(scenario: Scenario, n: int = 6000) -> pd.DataFrame:
    """Labelled history from before the simulation starts: the first training set."""
    frame = features(scenario, -1, n)
    frame["label"] = labels(scenario, -1, frame)
    return frame


def traffic(scenario: Scenario, day: int) -> pd.DataFrame:
    """The day's prediction rows before scoring: ids, timestamps, features, latency."""
    frame = features(scenario, day)
    rng = _rng(scenario.seed, "ops", day)
    n = len(frame)
    seconds = np.sort(rng.uniform(0, 86400, n))
    start = pd.Timestamp(scenario.day_start(day))
    frame.insert(0, "timestamp", start + pd.to_timedelta(seconds, unit="s"))
    frame.insert(0, "prediction_id", [f"d{day:03d}-{i:05d}" for i in range(n)])
    frame["latency_ms"] = rng.gamma(3.0, 12.0 if day < scenario.days - 7 else 20.0, n).round(2)
    errors = np.full(n, None, dtype=object)
    errors[rng.random(n) < 0.004] = "timeout"
    frame["error"] = errors
    return frame
