"""torch trainer: a tabular network with categorical embeddings.

Numeric columns are imputed with the training median and standardized;
categories map to embedding rows (row 0 for unseen or missing). Training holds
out a seeded validation split (`validation_share`) and stops early: once the
validation loss has not improved by `min_delta` for `patience` epochs (or at
`max_epochs`), the weights of the best epoch are kept. It uses CUDA with mixed
precision when present and the CPU otherwise, and seeds everything so a rerun
on the same snapshot gives the same weights and metrics on the same hardware.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from checks.typed import canonical_category
from retrain.evaluate import labels, positive_label
from retrain.interface import Param, RetrainSpec, TrainedModel, TrainerError
from retrain.versions import framework_versions

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch

# Documented in config.toml ([models.retrain] params for trainer = "torch").
DEFAULTS: dict[str, Param] = {
    # A ceiling, not a plan: training stops once the validation loss has not
    # improved by min_delta for `patience` epochs, and keeps the best epoch's weights.
    "max_epochs": 200,
    "patience": 5,
    "min_delta": 1e-4,
    # Seeded share of the training rows the network never fits: it decides the stop.
    "validation_share": 0.1,
    "batch_size": 512,
    "lr": 2e-3,
    "hidden": 64,
    "dropout": 0.1,
    "weight_decay": 1e-5,
}
# The earlier spelling of max_epochs, still read.
ALIASES = {"epochs": "max_epochs"}


def _int(params: dict[str, Param], key: str) -> int:
    return int(params[key])


def _float(params: dict[str, Param], key: str) -> float:
    return float(params[key])


@dataclass(frozen=True)
class Encoding:
    """Preprocessing learned on the training rows, applied identically when serving."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    medians: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    vocab: tuple[tuple[str, ...], ...]
    classes: tuple[str, ...]

    @classmethod
    def learn(cls, frame: pd.DataFrame, spec: RetrainSpec, classes: tuple[str, ...]) -> Encoding:
        medians, means, stds = [], [], []
        for column in spec.numeric:
            values = frame[column].astype(float)
            median = float(values.median()) if values.notna().any() else 0.0
            filled = values.fillna(median)
            medians.append(median)
            means.append(float(filled.mean()))
            std = float(filled.std(ddof=0))
            stds.append(std if std > 1e-12 else 1.0)
        # Canonical text, missing left out: it maps to row 0 with the unseen categories.
        vocab = tuple(
            tuple(sorted({v for v in frame[column].map(canonical_category) if v is not None}))
            for column in spec.categorical
        )
        return cls(
            numeric=spec.numeric,
            categorical=spec.categorical,
            medians=tuple(medians),
            means=tuple(means),
            stds=tuple(stds),
            vocab=vocab,
            classes=classes,
        )

    def numeric_array(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        if not self.numeric:
            return np.zeros((len(frame), 0), dtype=np.float32)
        x = frame.loc[:, list(self.numeric)].astype(float).to_numpy()
        x = np.where(np.isnan(x), np.asarray(self.medians), x)
        scaled: np.ndarray = (x - np.asarray(self.means)) / np.asarray(self.stds)
        return scaled.astype(np.float32)

    def categorical_array(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(frame), len(self.categorical)), dtype=np.int64)
        for j, (column, words) in enumerate(zip(self.categorical, self.vocab, strict=True)):
            index = {w: i + 1 for i, w in enumerate(words)}
            rows = frame[column].map(canonical_category).map(index)
            out[:, j] = rows.fillna(0).to_numpy(dtype=np.int64)
        return out


def build_network(encoding: Encoding, outputs: int, hidden: int, dropout: float) -> torch.nn.Module:
    import torch
    from torch import nn

    class TabularNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dims = [min(16, (len(words) + 2) // 2) for words in encoding.vocab]
            self.embeddings = nn.ModuleList(
                nn.Embedding(len(words) + 1, dim)
                for words, dim in zip(encoding.vocab, dims, strict=True)
            )
            width = len(encoding.numeric) + sum(dims)
            self.body = nn.Sequential(
                nn.Linear(width, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, outputs),
            )

        def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
            parts = [numeric] + [emb(categorical[:, j]) for j, emb in enumerate(self.embeddings)]
            out: torch.Tensor = self.body(torch.cat(parts, dim=1))
            return out

    return TabularNet()


@dataclass
class TorchScorer:
    """The serving side: the encoding, the architecture's size and the CPU weights.

    The network class is rebuilt from these on load, so unpickling needs no class
    defined at module level beyond this one.
    """

    encoding: Encoding
    task: TaskKind
    outputs: int
    hidden: int
    dropout: float
    state: dict[str, object]
    positive: str | None

    def network(self) -> torch.nn.Module:
        net = build_network(self.encoding, self.outputs, self.hidden, self.dropout)
        net.load_state_dict(self.state)
        net.eval()
        return net

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np
        import torch

        net = self.network()
        with torch.no_grad():
            out = net(
                torch.from_numpy(self.encoding.numeric_array(frame)),
                torch.from_numpy(self.encoding.categorical_array(frame)),
            )
        match self.task:
            case TaskKind.BINARY:
                return np.asarray(torch.sigmoid(out[:, 0]).numpy(), dtype=float)
            case TaskKind.MULTICLASS:
                picks = out.argmax(dim=1).numpy()
                return np.asarray([self.encoding.classes[i] for i in picks], dtype=object)
            case TaskKind.REGRESSION:
                return np.asarray(out[:, 0].numpy(), dtype=float)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # warn_only: a few CUDA kernels have no deterministic version; they warn, not fail.
    torch.use_deterministic_algorithms(True, warn_only=True)


def torch_params(given: Mapping[str, Param]) -> dict[str, Param]:
    """The defaults overlaid with `given`; unknown or out-of-range params are errors."""
    own = {ALIASES.get(k, k): v for k, v in given.items()}
    clash = [k for k in ALIASES if k in given and ALIASES[k] in given]
    if clash:
        raise TrainerError(f"give one of {clash[0]} and {ALIASES[clash[0]]}, not both")
    params: dict[str, Param] = {**DEFAULTS, **own}
    unknown = sorted(set(params) - set(DEFAULTS) - {"positive_label"})
    if unknown:
        raise TrainerError(
            f"unknown torch trainer params: {', '.join(unknown)}; known: {', '.join(DEFAULTS)}"
        )
    share = _float(params, "validation_share")
    if not 0 < share <= 0.5:
        raise TrainerError(f"validation_share must be in (0, 0.5], got {share}")
    for key in ("max_epochs", "patience", "batch_size"):
        if _int(params, key) < 1:
            raise TrainerError(f"{key} must be at least 1, got {params[key]}")
    if _float(params, "min_delta") < 0:
        raise TrainerError(f"min_delta must be >= 0, got {params['min_delta']}")
    return params


class TorchTrainer:
    def fit(self, train: pd.DataFrame, spec: RetrainSpec, device: str) -> TrainedModel:
        import numpy as np
        import torch

        params = torch_params(spec.params)
        seed_everything(spec.seed)
        y_text = labels(train, spec)
        positive: str | None = None
        classes: tuple[str, ...] = ()
        match spec.task:
            case TaskKind.BINARY:
                positive = positive_label(spec, y_text)
                target = (y_text == positive).to_numpy().astype(np.float32)
                outputs = 1
            case TaskKind.MULTICLASS:
                classes = tuple(sorted(set(y_text)))
                lookup = {c: i for i, c in enumerate(classes)}
                target = y_text.map(lookup).to_numpy().astype(np.int64)
                outputs = len(classes)
            case TaskKind.REGRESSION:
                target = y_text.to_numpy().astype(np.float32)
                outputs = 1
        if len(train) < 10:
            raise TrainerError(f"{len(train)} training rows: the torch trainer needs at least 10")
        encoding = Encoding.learn(train, spec, classes)
        x_num = torch.from_numpy(encoding.numeric_array(train))
        x_cat = torch.from_numpy(encoding.categorical_array(train))
        y = torch.from_numpy(target)

        generator = torch.Generator().manual_seed(spec.seed)
        order = torch.randperm(len(train), generator=generator)
        n_val = max(1, int(len(train) * _float(params, "validation_share")))
        val_idx, fit_idx = order[:n_val], order[n_val:]

        dev = torch.device(device)
        hidden, dropout = _int(params, "hidden"), _float(params, "dropout")
        net = build_network(encoding, outputs, hidden, dropout).to(dev)
        optimizer = torch.optim.AdamW(
            net.parameters(), lr=_float(params, "lr"), weight_decay=_float(params, "weight_decay")
        )
        amp = dev.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=amp)

        def loss_fn(out: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
            match spec.task:
                case TaskKind.BINARY:
                    return torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], truth)
                case TaskKind.MULTICLASS:
                    return torch.nn.functional.cross_entropy(out, truth)
                case TaskKind.REGRESSION:
                    return torch.nn.functional.mse_loss(out[:, 0], truth)

        tensors = [t.to(dev) for t in (x_num, x_cat, y)]
        val = [t[val_idx.to(dev)] for t in tensors]
        batch = _int(params, "batch_size")
        best_loss, best_state, best_epoch, stale = math.inf, None, 0, 0
        epochs_run = 0
        started = time.perf_counter()
        rows_seen = 0
        stopped_early = False
        min_delta = _float(params, "min_delta")
        for epoch in range(_int(params, "max_epochs")):
            net.train()
            perm = fit_idx[torch.randperm(len(fit_idx), generator=generator)].to(dev)
            for start in range(0, len(perm), batch):
                idx = perm[start : start + batch]
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=amp):
                    loss = loss_fn(net(tensors[0][idx], tensors[1][idx]), tensors[2][idx])
                scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                scaler.step(optimizer)
                scaler.update()
                rows_seen += len(idx)
            epochs_run = epoch + 1
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(val[0], val[1]).float(), val[2]))
            if val_loss < best_loss - min_delta:
                best_loss, best_epoch, stale = val_loss, epoch + 1, 0
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= _int(params, "patience"):
                    stopped_early = True
                    break
        elapsed = time.perf_counter() - started
        assert best_state is not None  # the first epoch always improves on infinity
        scorer = TorchScorer(
            encoding, spec.task, outputs, hidden, dropout, dict(best_state), positive
        )
        versions = framework_versions(("torch", "pandas", "numpy"))
        return TrainedModel(
            scorer=scorer,
            flavor="torch",
            params=dict(params),
            metrics={
                "best_val_loss": best_loss,
                "best_epoch": float(best_epoch),
                "epochs_run": float(epochs_run),
                "stopped_early": float(stopped_early),
                "train_rows": float(len(fit_idx)),
                "rows_per_s": rows_seen / elapsed if elapsed > 0 else 0.0,
            },
            pip_requirements=tuple(f"{k}=={v}" for k, v in versions.items()),
        )
