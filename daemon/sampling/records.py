"""What the sampling stage writes to the store, besides the bulk of predictions.

Labels (joined to their predictions, or parked as pending), the daily ingest
counters, the quarantined rejects, the watermarks of each stream, and the
retention purge. Everything runs on a Connection inside the caller's
transaction, so rows and the watermark that says they were read commit
together or not at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import (
    BindParameter,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from daemon.sampling.rows import Reason, Reject, excerpt
from daemon.store.tables import Model, PendingLabel, Prediction, RejectedRow, Watermark

# The streams a model's rows arrive on: their watermarks and counters are kept apart.
PREDICTIONS = "predictions"
LABELS = "labels"

WATERMARK_VERSION = 1


class WatermarkAhead(Exception):
    def __init__(self, model: str, stream: str, version: int) -> None:
        super().__init__(
            f"the {stream} watermark of model {model} has version {version}, newer than "
            f"{WATERMARK_VERSION}: it was written by a newer mlmaint"
        )


def model_id_of(conn: Connection, name: str) -> int | None:
    found = conn.scalar(select(Model.id).where(Model.name == name))
    return None if found is None else int(found)


def count_day(now: datetime) -> str:
    """The day (UTC) whose ingest counters a write at `now` adds to."""
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def existing_ids(conn: Connection, model_id: int, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        found.update(
            conn.execute(
                text(
                    "SELECT prediction_id FROM predictions "
                    "WHERE model_id = :m AND prediction_id IN :ids"
                ).bindparams(_expanding("ids")),
                {"m": model_id, "ids": chunk},
            ).scalars()
        )
    return found


def _expanding(name: str) -> BindParameter[object]:
    return bindparam(name, expanding=True)


# --------------------------------------------------------------------------- labels


def join_pending_labels(conn: Connection, model_id: int) -> int:
    """Attach labels that arrived before their prediction; return how many joined."""
    if not conn.execute(
        text("SELECT 1 FROM pending_labels WHERE model_id = :m LIMIT 1"), {"m": model_id}
    ).first():
        return 0
    joined = conn.execute(
        text(
            "UPDATE predictions SET "
            "label = (SELECT p.label FROM pending_labels p WHERE p.model_id = predictions.model_id"
            " AND p.prediction_id = predictions.prediction_id), "
            "labelled_at = (SELECT p.received_at FROM pending_labels p"
            " WHERE p.model_id = predictions.model_id"
            " AND p.prediction_id = predictions.prediction_id) "
            "WHERE model_id = :m AND prediction_id IN "
            "(SELECT prediction_id FROM pending_labels WHERE model_id = :m)"
        ),
        {"m": model_id},
    ).rowcount
    conn.execute(
        text(
            "DELETE FROM pending_labels WHERE model_id = :m AND EXISTS (SELECT 1 FROM predictions p"
            " WHERE p.model_id = pending_labels.model_id"
            " AND p.prediction_id = pending_labels.prediction_id)"
        ),
        {"m": model_id},
    )
    return int(joined)


def write_labels(
    conn: Connection, model_id: int, labels: Mapping[str, str], now: datetime
) -> tuple[int, int]:
    """Label sampled predictions; park the others as pending. Returns (joined, pending)."""
    if not labels:
        return 0, 0
    ids = list(labels)
    present = existing_ids(conn, model_id, ids)
    if present:
        conn.execute(
            update(Prediction)
            .where(Prediction.model_id == model_id)
            .where(Prediction.prediction_id == _bind("pid"))
            .values(label=_bind("lab"), labelled_at=now)
            .execution_options(synchronize_session=False),
            [{"pid": pid, "lab": labels[pid]} for pid in present],
        )
    pending = [pid for pid in ids if pid not in present]
    if pending:
        # The latest label for an id wins, whether it arrives once or is corrected later.
        _delete_pending(conn, model_id, pending)
        conn.execute(
            insert(PendingLabel),
            [
                {
                    "model_id": model_id,
                    "prediction_id": pid,
                    "label": labels[pid],
                    "received_at": now,
                }
                for pid in pending
            ],
        )
    return len(present), len(pending)


def _delete_pending(conn: Connection, model_id: int, ids: list[str]) -> None:
    for i in range(0, len(ids), 500):
        conn.execute(
            text(
                "DELETE FROM pending_labels WHERE model_id = :m AND prediction_id IN :ids"
            ).bindparams(_expanding("ids")),
            {"m": model_id, "ids": ids[i : i + 500]},
        )


def _bind(name: str) -> BindParameter[object]:
    return bindparam(name)


# --------------------------------------------------------------------------- counters


def bump_counts(
    conn: Connection, model_id: int, day: str, stream: str, counts: Mapping[str, int]
) -> None:
    params = [
        {"m": model_id, "d": day, "s": stream, "o": outcome, "c": count}
        for outcome, count in counts.items()
        if count
    ]
    if not params:
        return
    conn.execute(
        text(
            "INSERT INTO ingest_counts (model_id, day, stream, outcome, count) "
            "VALUES (:m, :d, :s, :o, :c) ON CONFLICT (model_id, day, stream, outcome) "
            "DO UPDATE SET count = ingest_counts.count + excluded.count"
        ),
        params,
    )


def keep_rejects(
    conn: Connection,
    model_id: int,
    stream: str,
    rejects: Iterable[Reject],
    now: datetime,
    max_kept: int,
) -> None:
    """Keep the first rejects for inspection, up to max_kept per model.

    A row the store itself refused (it passed validation) is always kept: it is the
    quarantine of a row that would otherwise be lost, and such rows are rare.
    """
    rejects = list(rejects)
    refused = [r for r in rejects if r.reason is Reason.STORE_REFUSED]
    rejects = [r for r in rejects if r.reason is not Reason.STORE_REFUSED]
    room = 0
    if rejects and max_kept > 0:
        kept = conn.scalar(
            select(func.count()).select_from(RejectedRow).where(RejectedRow.model_id == model_id)
        )
        room = max(0, max_kept - int(kept or 0))
    rejects = refused + rejects[:room]
    if not rejects:
        return
    conn.execute(
        insert(RejectedRow),
        [
            {
                "model_id": model_id,
                "stream": stream,
                "reason": r.reason.value,
                "detail": excerpt(r.detail),
                "raw": r.raw,
                "received_at": now,
            }
            for r in rejects
        ],
    )


def reject_counts(rejects: Iterable[Reject]) -> Counter[str]:
    return Counter(f"rejected:{r.reason.value}" for r in rejects)


# --------------------------------------------------------------------------- watermarks


def read_watermark(conn: Connection, model_id: int, stream: str, model: str) -> dict[str, object]:
    row = conn.execute(
        select(Watermark.state, Watermark.version).where(
            Watermark.model_id == model_id, Watermark.stream == stream
        )
    ).first()
    if row is None:
        return {}
    if row.version > WATERMARK_VERSION:
        raise WatermarkAhead(model, stream, row.version)
    return dict(row.state)


def write_watermark(
    conn: Connection, model_id: int, stream: str, state: Mapping[str, object], now: datetime
) -> None:
    done = conn.execute(
        update(Watermark)
        .where(Watermark.model_id == model_id, Watermark.stream == stream)
        .values(state=dict(state), version=WATERMARK_VERSION, updated_at=now)
    ).rowcount
    if not done:
        conn.execute(
            insert(Watermark).values(
                model_id=model_id,
                stream=stream,
                state=dict(state),
                version=WATERMARK_VERSION,
                updated_at=now,
            )
        )


# --------------------------------------------------------------------------- retention


def purge_predictions(conn: Connection, model_id: int, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` of the model's oldest predictions stamped before `cutoff`."""
    ids = list(
        conn.scalars(
            select(Prediction.id)
            .where(Prediction.model_id == model_id, Prediction.ts < cutoff)
            .order_by(Prediction.ts)
            .limit(limit)
        )
    )
    if ids:
        conn.execute(delete(Prediction).where(Prediction.id.in_(ids)))
    return len(ids)


def purge_kept(conn: Connection, model_id: int, cutoff: datetime) -> tuple[int, int]:
    """Delete the pending labels and kept rejects received before `cutoff`; return
    how many of each."""
    pending = conn.execute(
        delete(PendingLabel).where(
            PendingLabel.model_id == model_id, PendingLabel.received_at < cutoff
        )
    ).rowcount
    rejected = conn.execute(
        delete(RejectedRow).where(
            RejectedRow.model_id == model_id, RejectedRow.received_at < cutoff
        )
    ).rowcount
    return int(pending), int(rejected)
