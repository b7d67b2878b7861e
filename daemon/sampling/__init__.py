"""Sampling production predictions and their labels into the store.

The jobs the scheduler and the demo call, each a function of
(JobContext, model, now): `sample_predictions`, `ingest_labels`,
`purge_expired`; pushed rows (the HTTP API) go through `ingest_records` and
`ingest_label_records`; `sampling_status` feeds `mlmaint status`.
"""

from daemon.sampling.sampler import (
    LabelOutcome,
    PurgeOutcome,
    SampleOutcome,
    ingest_label_records,
    ingest_labels,
    ingest_records,
    purge_expired,
    sample_predictions,
    sampled,
)
from daemon.sampling.status import ModelSamplingStatus, sampling_status

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
