"""Shared benchmark data: 25-feature prediction rows (20 numeric, 5 categorical)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.config import Settings, parse_config

# Recent: rows stamped from here are inside the plausible-time window of a clock read now.
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
NUMERIC = [f"n{j}" for j in range(20)]
CATEGORICAL = [f"c{j}" for j in range(5)]


def settings(store_url: str, glob: str) -> Settings:
    return parse_config(
        {
            "store": {"url": store_url},
            "models": [
                {
                    "name": "bench",
                    "source": {"kind": "files", "glob": glob, "batch_size": 50_000},
                    "schema": {
                        "numeric": NUMERIC,
                        "categorical": CATEGORICAL,
                        "score": "score",
                        "latency": "latency_ms",
                    },
                }
            ],
        },
        environ={},
    )


def rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r: dict[str, object] = {
            "prediction_id": f"p{seed}-{i}",
            "timestamp": (T0 + timedelta(milliseconds=10 * i)).isoformat(),
        }
        for c in NUMERIC:
            r[c] = round(rng.gauss(50, 10), 6)
        for c in CATEGORICAL:
            r[c] = rng.choice(("red", "green", "blue", "amber"))
        r["prediction"] = float(rng.random() < 0.3)
        r["score"] = round(rng.random(), 6)
        r["latency_ms"] = round(rng.uniform(1, 20), 3)
        out.append(r)
    return out


def write_jsonl(path: Path, data: list[dict[str, object]]) -> None:
    with path.open("w") as f:
        for r in data:
            f.write(json.dumps(r) + "\n")
