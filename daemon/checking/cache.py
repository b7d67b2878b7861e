"""The checks' memory between runs: reference statistics, calibrations, loss models.

One `CheckCache` belongs to the service (it lives on the `JobContext`) and is
handed to every check job; the scheduler's worker threads use it at once, so
every read and write of its dictionaries holds its lock. A reference's
statistics and its calibration take seconds to compute, and are computed
outside the lock: two threads missing the same key at once both build it, and
the first one stored is kept (both are the same numbers), so a slow build
never stalls the other models' checks.

The store keeps every calibration (`daemon/store/calibrations.py`); this is
only the process's quick path to them. The module imports nothing heavy:
`daemon/jobs.py` builds a cache for every context.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:
    from checks.calibration import ReferenceCalibration
    from checks.performance import LossModel
    from checks.reference import ReferenceStats

ReferenceKey = tuple[str, ...]
T = TypeVar("T")


class CheckCache:
    """Reference statistics by (digest, layout) and calibrations by key, LRU, thread-safe.

    A reference lookup may name its `owner` (a model): an owner holds one
    reference at a time, so when its reference changes (a retrain's new
    snapshot, an edited file) the one it held is dropped unless another owner
    still holds it. Without this, every superseded version's reference stayed
    in a long-running daemon's memory until `size` others pushed it out.
    """

    # One reference version per model, a few hundred models: a fleet of 100 models kept
    # only 64 fitted multivariate references at first, and an LRU smaller than the fleet
    # misses on every model of every cycle, refitting each (a second a model).
    def __init__(self, size: int = 256, calibrations: int = 256, fitted: int = 256) -> None:
        self._size = size
        self._calibration_size = calibrations
        self._lock = threading.Lock()
        self._items: OrderedDict[ReferenceKey, ReferenceStats] = OrderedDict()
        self._owners: dict[str, ReferenceKey] = {}
        self._calibrations: dict[str, ReferenceCalibration] = {}
        # DLE's fitted loss models: like the statistics, one per reference version, and
        # never stored (a model is no plain data): as many as the references kept.
        self._loss_models: OrderedDict[str, LossModel] = OrderedDict()
        self._fitted_size = fitted
        self._fitted: OrderedDict[ReferenceKey, object] = OrderedDict()
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ references

    def reference(
        self,
        key: ReferenceKey,
        build: Callable[[], ReferenceStats],
        *,
        owner: str | None = None,
    ) -> ReferenceStats:
        """The statistics under `key`, built (outside the lock) and kept when missing."""
        found = self.get(key, owner=owner)
        if found is not None:
            return found
        return self.put(key, build())

    def get(self, key: ReferenceKey, *, owner: str | None = None) -> ReferenceStats | None:
        """The statistics under `key` (now the most recently used), or None, counted."""
        with self._lock:
            if owner is not None:
                held = self._owners.get(owner)
                self._owners[owner] = key
                if held is not None and held != key and held not in self._owners.values():
                    self._items.pop(held, None)
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: ReferenceKey, stats: ReferenceStats) -> ReferenceStats:
        """Keep `stats` under `key`, dropping the least recently used beyond the size.

        When another thread stored the key first, its statistics are kept and
        returned, so every caller holds the same object for one reference.
        """
        with self._lock:
            kept = self._items.get(key)
            if kept is not None:
                self._items.move_to_end(key)
                return kept
            self._items[key] = stats
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            return stats

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # ------------------------------------------------------------------ calibrations

    def calibration(self, key: str) -> ReferenceCalibration | None:
        with self._lock:
            return self._calibrations.get(key)

    def put_calibration(self, key: str, value: ReferenceCalibration) -> None:
        """Keep a calibration; beyond the size the oldest stored is dropped (a few per model)."""
        with self._lock:
            self._calibrations.pop(key, None)
            self._calibrations[key] = value
            while len(self._calibrations) > self._calibration_size:
                self._calibrations.pop(next(iter(self._calibrations)))

    # ------------------------------------------------------------------ loss models

    def loss_model(self, key: str) -> LossModel | None:
        with self._lock:
            found = self._loss_models.get(key)
            if found is not None:
                self._loss_models.move_to_end(key)
            return found

    def put_loss_model(self, key: str, value: LossModel) -> LossModel:
        """Keep a fitted loss model (the first one stored when two threads fit it)."""
        with self._lock:
            kept = self._loss_models.get(key)
            if kept is not None:
                self._loss_models.move_to_end(key)
                return kept
            self._loss_models[key] = value
            while len(self._loss_models) > self._size:
                self._loss_models.popitem(last=False)
            return value

    # ------------------------------------------------------------------ fitted models

    def fitted(self, key: ReferenceKey, build: Callable[[], T]) -> T:
        """What a check fits on a reference version (the multivariate check's PCA and
        band), built outside the lock when missing; the key names the reference's digest
        and what the fit depends on, so one object per reference version and settings."""
        with self._lock:
            found = self._fitted.get(key)
            if found is not None:
                self._fitted.move_to_end(key)
                return cast(T, found)
        built = build()
        with self._lock:
            kept = self._fitted.setdefault(key, built)
            self._fitted.move_to_end(key)
            while len(self._fitted) > self._fitted_size:
                self._fitted.popitem(last=False)
            return cast(T, kept)
