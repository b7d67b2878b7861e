"""Which device a job trains on: the choice is pure, so it is tested without a GPU."""

from __future__ import annotations

from collections.abc import Sequence

from retrain.interface import TrainerKind


def select_device(
    requested_gpus: int, cuda_available: bool, device_count: int, visible: Sequence[int] = ()
) -> str:
    """`cuda:N` when CUDA is there (even if the spec asked for none: it only gets faster),
    `cpu` otherwise.

    `visible` are GPU indexes already claimed on this machine by other jobs; the first
    free one is taken, and when all are busy the job shares `cuda:0` rather than
    failing: Celery runs one task per GPU, so this only happens with a hand-run job.
    """
    if requested_gpus < 0:
        raise ValueError(f"requested_gpus must be >= 0, got {requested_gpus}")
    if not cuda_available or device_count <= 0:
        return "cpu"
    for index in range(device_count):
        if index not in visible:
            return f"cuda:{index}"
    return "cuda:0"


def current_device(requested_gpus: int) -> str:
    """The device for this process, asking torch (imported here, never at start-up)."""
    import torch

    available = torch.cuda.is_available()
    return select_device(requested_gpus, available, torch.cuda.device_count() if available else 0)


def job_device(trainer: TrainerKind, requested_gpus: int) -> str:
    """The device a job of `trainer` trains on: scikit-learn's estimators run on the CPU
    whatever the machine holds, so its jobs say `cpu` without importing torch (two
    seconds of every such job); torch and entry-point jobs (the user's code may use
    the GPU) ask torch (`current_device`)."""
    if trainer is TrainerKind.SKLEARN:
        return "cpu"
    return current_device(requested_gpus)
