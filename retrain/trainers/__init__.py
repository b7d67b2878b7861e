"""Trainers: scikit-learn, torch and user entry points behind one `Trainer` protocol."""

from __future__ import annotations

from typing import assert_never

from retrain.interface import Trainer, TrainerKind


def make_trainer(kind: TrainerKind) -> Trainer:
    """The trainer for a kind; heavy frameworks are imported by the trainer's module only."""
    match kind:
        case TrainerKind.SKLEARN:
            from retrain.trainers.sklearn import SklearnTrainer

            return SklearnTrainer()
        case TrainerKind.TORCH:
            from retrain.trainers.torch import TorchTrainer

            return TorchTrainer()
        case TrainerKind.ENTRYPOINT:
            from retrain.trainers.entrypoint import EntrypointTrainer

            return EntrypointTrainer()
        case _:
            assert_never(kind)
