"""Calibrated thresholds and bands, stored once per reference version.

A calibration costs seconds (checks/calibration/); a daemon restart, a
standby taking over or a second process checking the same model reads it
back instead. Two processes that compute one at the same moment store it
once: the second insert does nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.calibration import CALIBRATION_VERSION, ReferenceCalibration
from daemon.store.engine import dialect_insert
from daemon.store.models import ensure_model
from daemon.store.tables import ReferenceCalibrationRow


def load_calibration(session: Session, key: str) -> ReferenceCalibration | None:
    """The stored calibration under `key`; CalibrationError when it cannot be read."""
    payload = session.scalar(
        select(ReferenceCalibrationRow.payload).where(ReferenceCalibrationRow.key == key)
    )
    return None if payload is None else ReferenceCalibration.from_json(payload)


def save_calibration(
    session: Session,
    *,
    model: str,
    key: str,
    digest: str,
    calibration: ReferenceCalibration,
    now: datetime,
    duration_s: float,
) -> None:
    """Store (or replace, when unreadable by this version) the calibration under `key`."""
    model_id = ensure_model(session, model, now)
    values = {
        "model_id": model_id,
        "key": key,
        "reference_digest": digest,
        "version": CALIBRATION_VERSION,
        "created_at": now,
        "duration_s": duration_s,
        "payload": calibration.to_json(),
    }
    dialect = session.get_bind().dialect.name
    stmt = dialect_insert(dialect, ReferenceCalibrationRow).values(values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ReferenceCalibrationRow.key],
            set_={k: stmt.excluded[k] for k in ("version", "created_at", "duration_s", "payload")},
        )
    )
