"""Which prediction ids are in a model's sample: a hash of the id against the rate.

The same ids are kept every time, so a label arriving weeks later finds its
prediction (or is skipped for the same reason its prediction was). The optional
cap per window (`batch.py`) is a bottom-k sample on the same hash: the window
keeps the k ids with the smallest hashes, which is a uniform sample whatever
the arrival order, so a replay after a crash converges on the same rows.
"""

from __future__ import annotations

import hashlib

_HASH_SPACE = float(1 << 64)


def id_hash(prediction_id: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(prediction_id.encode("utf-8"), digest_size=8).digest(), "big"
    )


def sampled(prediction_id: str, rate: float) -> bool:
    """Whether an id is in the model's sample: the same answer for every caller, always."""
    return rate >= 1.0 or id_hash(prediction_id) < rate * _HASH_SPACE
