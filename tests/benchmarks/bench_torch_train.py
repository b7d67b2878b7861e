"""Torch trainer speed on the CPU: rows/s on 100,000 rows x 25 features.

Run: .venv/bin/python tests/benchmarks/bench_torch_train.py [--rows N] [--epochs E]
Prints the torch trainer's throughput (training rows processed per second of
the epoch loop, and the whole fit including preprocessing) and, as the peer,
the scikit-learn trainer (LogisticRegression on the same preprocessing) fitting
the same frame once, with the ratio.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from checks.interface import TaskKind
from retrain.interface import DataRef, RetrainSpec, TrainerKind
from retrain.trainers.sklearn import SklearnTrainer
from retrain.trainers.torch import TorchTrainer

NUMERIC = tuple(f"n{i}" for i in range(20))
CATEGORICAL = tuple(f"c{i}" for i in range(5))


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NUMERIC)))
    out = pd.DataFrame(x, columns=list(NUMERIC))
    logit = x[:, :5].sum(axis=1)
    for j, column in enumerate(CATEGORICAL):
        codes = rng.integers(0, 10 + 5 * j, size=rows)
        out[column] = [f"v{c}" for c in codes]
        logit += (codes % 3 - 1) * 0.5
    out["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int).astype(str)
    return out


def spec(trainer: TrainerKind, params: dict[str, int | float]) -> RetrainSpec:
    return RetrainSpec(
        job_id="bench",
        model="bench",
        task=TaskKind.BINARY,
        trigger="manual",
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        label="label",
        snapshot=DataRef(uri="memory", sha256="0" * 64, rows=0),
        holdout=None,
        trainer=trainer,
        params=params,
        deadline=datetime.now(UTC) + timedelta(hours=1),
        tracking_uri="unused",
        artifact_location="unused",
        experiment="bench",
        registered_model="bench",
    )


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    train = frame(args.rows)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, rows={args.rows}, "
        f"features={len(NUMERIC) + len(CATEGORICAL)} ({len(NUMERIC)} numeric, "
        f"{len(CATEGORICAL)} categorical)"
    )

    # patience above epochs: every epoch runs, so the figure is per row trained.
    torch_params = {"max_epochs": args.epochs, "patience": args.epochs + 1, "batch_size": 512}
    started = time.perf_counter()
    trained = TorchTrainer().fit(train, spec(TrainerKind.TORCH, torch_params), "cpu")
    fit_s = time.perf_counter() - started
    loop_rate = trained.metrics["rows_per_s"]
    epochs = int(trained.metrics["epochs_run"])
    whole_rate = trained.metrics["train_rows"] * epochs / fit_s
    print(
        f"torch trainer: {epochs} epochs in {fit_s:.2f}s; epoch loop {loop_rate:,.0f} rows/s, "
        f"whole fit {whole_rate:,.0f} rows/s"
    )

    started = time.perf_counter()
    SklearnTrainer().fit(train, spec(TrainerKind.SKLEARN, {"max_iter": 200}), "cpu")
    sk_s = time.perf_counter() - started
    sk_rate = args.rows / sk_s
    print(
        f"peer, sklearn trainer (LogisticRegression, one fit): {sk_s:.2f}s, {sk_rate:,.0f} rows/s"
    )
    print(f"ratio torch epoch-loop rows/s / sklearn fit rows/s: {loop_rate / sk_rate:.2f}")


if __name__ == "__main__":
    main()
