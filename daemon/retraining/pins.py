"""Pins: a model held on one version by a person, no automatic promotion meanwhile.

A rollback pins the model to the version it rolled back to, until `retrain
unpin` or the expiry given: while the pin holds the policy submits no
automatic job, and a manual job runs with `allow_promotion=False` (registered
and scored, never promoted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from daemon.store.engine import transaction
from daemon.store.tables import Model

if TYPE_CHECKING:
    from daemon.jobs import JobContext


@dataclass(frozen=True, kw_only=True)
class Pin:
    """A model held on one version by a person: no automatic promotion meanwhile."""

    model: str
    version: str
    since: datetime
    # None: until `mlmaint retrain unpin`.
    until: datetime | None
    by: str | None

    def holds(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    @property
    def reason(self) -> str:
        until = (
            self.until.isoformat()
            if self.until is not None
            else f"unpinned (`mlmaint retrain unpin {self.model}`)"
        )
        return f"pinned to version {self.version} until {until}"


def pin_of(row: Model) -> Pin | None:
    """The model's recorded pin, whether it still holds or has expired."""
    if row.pinned_version is None or row.pinned_at is None:
        return None
    return Pin(
        model=row.name,
        version=row.pinned_version,
        since=row.pinned_at,
        until=row.pinned_until,
        by=row.pinned_by,
    )


def active_pin(row: Model, now: datetime) -> Pin | None:
    """The pin in force at `now`; an expired pin no longer holds."""
    pin = pin_of(row)
    return pin if pin is not None and pin.holds(now) else None


def model_pins(ctx: JobContext, now: datetime) -> list[tuple[Pin, bool]]:
    """Every recorded pin and whether it still holds at `now` (status, the report)."""
    with transaction(ctx.sessions) as session:
        rows = session.scalars(
            select(Model).where(Model.pinned_version.is_not(None)).order_by(Model.name)
        )
        pins = [pin for pin in map(pin_of, rows) if pin is not None]
    return [(pin, pin.holds(now)) for pin in pins]
