"""Sampling production predictions and their labels into the store.

The jobs the scheduler and the demo call, each a function of
(JobContext, model, now): `sample_predictions`, `ingest_labels`,
`purge_expired` (job.py); pushed rows (the HTTP API) go through
`ingest_records` and `ingest_label_records` (push.py); `sampling_status`
feeds `mlmaint status` (cli.py).

The rooms: specs.py (the model's settings -> a frozen spec, the only reader of
them here), reading.py (sources from their watermark, parsed ahead), files.py
and sql.py (the sources), rows.py, per_row.py and validation.py (rows -> a
canonical table and rejects), labels.py, selection.py (the hash sample),
batch.py (a batch into the store), bulk.py (predictions in bulk), records.py
(every other store write), failures.py (data refused or store down) and
outcomes.py (what a job did).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.sampling.cli import ModelSamplingStatus, sampling_status
    from daemon.sampling.job import ingest_labels, purge_expired, sample_predictions
    from daemon.sampling.outcomes import LabelOutcome, PurgeOutcome, SampleOutcome
    from daemon.sampling.push import ingest_label_records, ingest_records
    from daemon.sampling.selection import sampled

# The names are loaded on first use (PEP 562), not when the package is: an ingest
# request and the scheduler's first sampling job may import these rooms at the same
# moment from two threads, and an __init__ that imports them eagerly would hand one
# of them a half-initialised module.
_HOME = {
    "ModelSamplingStatus": "cli",
    "sampling_status": "cli",
    "ingest_labels": "job",
    "purge_expired": "job",
    "sample_predictions": "job",
    "LabelOutcome": "outcomes",
    "PurgeOutcome": "outcomes",
    "SampleOutcome": "outcomes",
    "ingest_label_records": "push",
    "ingest_records": "push",
    "sampled": "selection",
}


def __getattr__(name: str) -> object:
    room = _HOME.get(name)
    if room is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{room}"), name)


__all__ = [
    "LabelOutcome",
    "ModelSamplingStatus",
    "PurgeOutcome",
    "SampleOutcome",
    "ingest_label_records",
    "ingest_labels",
    "ingest_records",
    "purge_expired",
    "sample_predictions",
    "sampled",
    "sampling_status",
]
