"""One batch of validated rows into the store, on the caller's connection.

Predictions are sampled (`selection.py`), capped per window, checked for new
categories and inserted in bulk (`bulk.py`). Every row stands alone: a row the
database refuses although it passed validation is split out (under savepoints)
and quarantined in rejected_rows with the database's error, in the same
transaction as the good rows and the watermark. Labels are kept for sampled ids
only, joined to their prediction or parked until it arrives.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, select

from daemon.sampling import bulk, failures, records
from daemon.sampling.labels import LabelBatch
from daemon.sampling.outcomes import persisted
from daemon.sampling.rows import Reject, Validated
from daemon.sampling.selection import id_hash, sampled
from daemon.sampling.specs import SamplingSpec
from daemon.store.features import ensure_layout
from daemon.store.models import ensure_model
from daemon.store.tables import Prediction

log = logging.getLogger(__name__)


class BatchStore:
    """Stores validated prediction rows for one model on one connection."""

    def __init__(self, spec: SamplingSpec, model_id: int, layout_id: int, now: datetime) -> None:
        self.spec = spec
        self.model_id = model_id
        self.layout_id = layout_id
        self.now = now
        self.known = {c: frozenset(v) for c, v in spec.schema.categories.items()}

    @classmethod
    def open(cls, conn: Connection, spec: SamplingSpec, now: datetime) -> BatchStore:
        """The model's row and the layout of its numeric features, created if new."""
        model_id = ensure_model(conn, spec.name, now)
        layout_id = ensure_layout(conn, model_id, spec.schema.numeric, now)
        return cls(spec, model_id, layout_id, now)

    @property
    def keeps_all(self) -> bool:
        """Whether every valid row is stored (no sampling rate, no cap): no filtering."""
        return self.spec.keeps_all

    def store(
        self,
        conn: Connection,
        batch: Validated,
        *,
        count: bool = True,
        prepared: bulk.Prepared | None = None,
    ) -> tuple[Counter[str], list[Reject]]:
        """Sample, cap and insert; count outcomes (only inserts when count is False).

        `prepared` is the rows already rendered for the backend's bulk path
        (`bulk.prepare`), valid only when `keeps_all` (the rows go in unfiltered).
        Returns the counts and the rows the store refused (quarantine them with
        `records.keep_rejects`, in the same transaction).
        """
        counts, refused = self._split(conn, batch.table, count, prepared)
        if not count:
            kept = ("sampled", "labels_joined", "labelled")
            return Counter({k: counts[k] for k in kept}), refused
        counts.update(records.reject_counts(batch.rejects))
        counts.update(records.reject_counts(refused))
        return counts, refused

    def _split(
        self, conn: Connection, table: pa.Table, fresh: bool, prepared: bulk.Prepared | None
    ) -> tuple[Counter[str], list[Reject]]:
        """Insert the rows under a savepoint; if the store refuses them for their data,
        halve them until the good rows land and each refused row stands alone."""
        try:
            with failures.savepoint(conn):
                return self._insert(conn, table, fresh, prepared), []
        except failures.STORE_ERRORS as exc:
            if not failures.refuses_row(exc):
                raise
            if table.num_rows <= 1:
                log.debug("model=%s: the store refused a row: %s", self.spec.name, exc)
                return Counter(), [failures.refused(table, exc)]
        mid = table.num_rows // 2
        counts: Counter[str] = Counter()
        refused: list[Reject] = []
        for half in (table.slice(0, mid), table.slice(mid)):
            part_counts, part_refused = self._split(conn, half, fresh, None)
            counts.update(part_counts)
            refused.extend(part_refused)
        return counts, refused

    def _insert(
        self, conn: Connection, table: pa.Table, fresh: bool, prepared: bulk.Prepared | None
    ) -> Counter[str]:
        counts: Counter[str] = Counter()
        rate = self.spec.policy.rate
        if rate < 1.0 and table.num_rows:
            keep = np.fromiter(
                (sampled(pid, rate) for pid in table["prediction_id"].to_pylist()),
                dtype=bool,
                count=table.num_rows,
            )
            counts["skipped"] = int((~keep).sum())
            table = table.filter(pa.array(keep))
        if self.spec.policy.max_rows_per_window is not None and table.num_rows:
            table, capped = self._cap(conn, table)
            counts["capped"] = capped
        for col, values in self.known.items():
            arr = table[col]
            new = pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, pa.array(sorted(values)))))
            counts["new_category"] += int(pc.sum(new).as_py() or 0)
        labelled = self._new_labels(conn, table)
        inserted = bulk.write_predictions(
            conn,
            self.model_id,
            self.layout_id,
            table,
            self.spec.schema.numeric,
            self.spec.schema.categorical,
            now=self.now,
            # Rows read again inside the lag are mostly stored already.
            fresh=fresh,
            prepared=prepared if self.keeps_all else None,
        )
        counts["sampled"] = inserted
        counts["duplicate"] = table.num_rows - inserted
        counts["labelled"] = labelled
        counts["labels_joined"] = (
            records.join_pending_labels(conn, self.model_id) if inserted else 0
        )
        return counts

    def _new_labels(self, conn: Connection, table: pa.Table) -> int:
        """How many of the rows carry a label and are not stored yet: the labels this
        insert stores with their predictions (a stored row keeps what it has)."""
        labels = table["label"]
        if labels.null_count == len(labels):
            return 0
        ids = set(table.filter(pc.is_valid(labels))["prediction_id"].to_pylist())
        return len(ids - records.existing_ids(conn, self.model_id, list(ids)))

    def bump(self, conn: Connection, counts: Counter[str]) -> None:
        """Count a stored batch, in its transaction: its outcomes on the predictions
        stream, and the labels its rows carried as labels joined (stored with their
        predictions; `mlmaint status` counts them with the pushed ones)."""
        day = records.count_day(self.now)
        records.bump_counts(conn, self.model_id, day, records.PREDICTIONS, persisted(counts))
        if counts["labelled"]:
            records.bump_counts(
                conn, self.model_id, day, records.LABELS, {"joined": counts["labelled"]}
            )

    def _cap(self, conn: Connection, table: pa.Table) -> tuple[pa.Table, int]:
        cap = self.spec.policy.max_rows_per_window
        assert cap is not None
        size_us = int(self.spec.policy.window.total_seconds() * 1_000_000)
        ts = pc.cast(table["timestamp"], pa.int64()).to_numpy()
        windows = ts // size_us
        ids = table["prediction_id"].to_pylist()
        keep = np.ones(len(ids), dtype=bool)
        capped = 0
        for w in np.unique(windows):
            idx = np.flatnonzero(windows == w)
            start = datetime.fromtimestamp(int(w) * size_us / 1e6, UTC)
            end = start + self.spec.policy.window
            existing = set(
                conn.scalars(
                    select(Prediction.prediction_id).where(
                        Prediction.model_id == self.model_id,
                        Prediction.ts >= start,
                        Prediction.ts < end,
                    )
                )
            )
            incoming = {ids[i]: int(i) for i in idx if ids[i] not in existing}
            if len(existing) + len(incoming) <= cap:
                continue
            ranked = sorted([*existing, *incoming], key=id_hash)
            winners = set(ranked[:cap])
            evicted = [pid for pid in existing if pid not in winners]
            for i in range(0, len(evicted), 500):
                conn.execute(
                    delete(Prediction).where(
                        Prediction.model_id == self.model_id,
                        Prediction.prediction_id.in_(evicted[i : i + 500]),
                    )
                )
            for pid, i in incoming.items():
                if pid not in winners:
                    keep[i] = False
            capped += len(evicted) + sum(1 for pid in incoming if pid not in winners)
        return table.filter(pa.array(keep)), capped


def store_labels(
    conn: Connection, spec: SamplingSpec, model_id: int, batch: LabelBatch, now: datetime
) -> Counter[str]:
    """Keep the labels of sampled ids, count and quarantine the rest."""
    counts: Counter[str] = Counter()
    rate = spec.policy.rate
    labels = {pid: lab for pid, lab in batch.labels.items() if sampled(pid, rate)}
    counts["skipped"] = len(batch.labels) - len(labels)
    joined, pending = records.write_labels(conn, model_id, labels, now)
    counts["joined"] = joined
    counts["pending"] = pending
    counts.update(records.reject_counts(batch.rejects))
    records.keep_rejects(
        conn, model_id, records.LABELS, batch.rejects, now, spec.policy.max_rejected_kept
    )
    records.bump_counts(conn, model_id, records.count_day(now), records.LABELS, dict(counts))
    return counts
