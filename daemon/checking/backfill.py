"""Checks over past windows: `mlmaint check --at/--from/--to` and the first-start backfill.

A past window is read by time, [end - window, end), from the stored rows, like
any scheduled one (`check_model`), and stored under its window end; a window
run again replaces its runs (`records.store_runs`), so a backfill repeated
changes nothing. Windows run oldest first, so the persistence rule reads the
windows before each one. Findings of past windows go to the alert policy only
when asked (`alert`): a backfill does not page anyone about last week.

On the daemon's first start, each model with no check run over any rows is
checked over `[checks] backfill` of its history (`first_start_ends`), in a
thread of its own (`BackgroundBackfill`) while the scheduler runs. The checks
(pandas and the rest) are imported when a window runs, not when the service
imports this module at start-up.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from checks.interface import CheckKind
from daemon.cadence import GRID_EPOCH, cycle_start, period, trigger_for
from daemon.config import ModelSettings
from daemon.store.tables import CheckRun, Model, Prediction

if TYPE_CHECKING:
    from daemon.checking.run import CheckCycle
    from daemon.jobs import JobContext

log = logging.getLogger(__name__)

# Taken around each window: the scheduler's per-model lock, so a backfill and the
# model's scheduled checks do not run side by side (they share a window's rows).
ModelLock = Callable[[str], contextlib.AbstractContextManager[object]]


def _no_lock(_model: str) -> contextlib.AbstractContextManager[object]:
    return contextlib.nullcontext()


@dataclass(frozen=True, kw_only=True)
class Backfill:
    """What one model's backfill did: the cycles run, oldest first, and how many were asked."""

    model: str
    cycles: tuple[CheckCycle, ...]
    asked: int

    @property
    def complete(self) -> bool:
        return len(self.cycles) == self.asked

    def runs(self, kind: CheckKind) -> int:
        return sum(1 for c in self.cycles if kind in c.runs)

    @property
    def replaced(self) -> int:
        """Windows that were stored before and are replaced by this backfill's runs."""
        return sum(1 for c in self.cycles if any(r.replaced for r in c.runs.values()))

    @property
    def alerting(self) -> int:
        """Windows with a firing finding, a segment's included (what `mlmaint check`
        exits 1 for)."""
        return sum(1 for c in self.cycles if c.firing or any(p.firing for p in c.segments))


def parse_time(text: str) -> datetime:
    """An ISO 8601 time ("2026-01-05T12:00", "...Z", "...+02:00") or date (its midnight).

    A time without a zone is UTC, as every time in the store.
    """
    cleaned = text.strip()
    try:
        if len(cleaned) == 10:
            day = date.fromisoformat(cleaned)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        value = datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"not an ISO time or date: {text!r} (e.g. 2026-01-05 or 2026-01-05T12:00Z)"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def span_text(length: timedelta) -> str:
    """A length as a config writes it: 1d, 6h, 90m, 45s."""
    seconds = int(length.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def window_ends(first: datetime, last: datetime, every: timedelta) -> tuple[datetime, ...]:
    """first, first + every, ... up to and including last."""
    if every <= timedelta(0):
        raise ValueError(f"the step must be > 0, got {every}")
    if last < first:
        raise ValueError(
            f"the range ends ({last.isoformat()}) before it starts ({first.isoformat()})"
        )
    count = int((last - first) / every) + 1
    return tuple(first + i * every for i in range(count))


def check_windows(
    ctx: JobContext,
    name: str,
    ends: Iterable[datetime],
    *,
    window: timedelta | None = None,
    alert: bool = False,
    on_window: Callable[[CheckCycle], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lock: ModelLock = _no_lock,
    store: bool = True,
) -> Backfill:
    """Run the model's checks on the window ending at each of `ends`, oldest first.

    Each window is stored (replacing what it held) as it finishes, so a backfill
    stopped half-way keeps the windows it ran; stored as a backfill, so none counts
    toward a retrain streak. Without `store` (a window of another length than the
    configured one) nothing is stored. `should_stop` is asked before each.
    """
    from daemon.checking.job import check_model

    ordered = sorted(set(ends))
    cycles: list[CheckCycle] = []
    for end in ordered:
        if should_stop is not None and should_stop():
            break
        with lock(name):
            cycle = check_model(
                ctx, name, end, window=window, alert=alert, store=store, backfill=True
            )
        cycles.append(cycle)
        if on_window is not None:
            on_window(cycle)
    return Backfill(model=name, cycles=tuple(cycles), asked=len(ordered))


# --------------------------------------------------------------------------- first start


def first_start_step(model: ModelSettings, now: datetime) -> timedelta:
    """One window per check window, back to back (or per check interval, if longer).

    Back to back, every stored row is checked once and a week costs seven windows
    at the default one-day window, where one per check interval (hourly by default)
    would read each row 24 times over for the same picture.
    """
    from daemon.checking.specs import check_window

    return max(check_window(model), period(trigger_for(model.checks.schedule), now))


def first_start_ends(
    model: ModelSettings, now: datetime, lookback: timedelta
) -> tuple[datetime, ...]:
    """The window ends that cover [now - lookback, now): on the step's grid, oldest first.

    The grid is the scheduler's (interval multiples since a Monday midnight UTC), so
    daily windows end at UTC midnight. The stretch after the last grid point is the
    scheduled checks' own first window.
    """
    if lookback <= timedelta(0):
        return ()
    step = first_start_step(model, now)
    grid = IntervalTrigger(seconds=step.total_seconds(), start_date=GRID_EPOCH, timezone=UTC)
    last = cycle_start(grid, now)
    if last is None:
        return ()
    count = max(1, math.ceil(lookback / step))
    return tuple(last - i * step for i in reversed(range(count)))


def checked_rows(ctx: JobContext) -> dict[str, int]:
    """Per model, its stored check runs that checked rows (rows > 0); absent: none.

    A run over 0 rows (`mlmaint check` before the daemon sampled the logs, an
    hourly check due at start before its sampling) checked nothing: it does not
    make the model "checked" and so does not switch its first-start backfill off.
    """
    with ctx.sessions() as session:
        rows = session.execute(
            select(Model.name, func.count(CheckRun.id))
            .join(CheckRun, CheckRun.model_id == Model.id)
            .where(CheckRun.rows > 0)
            .group_by(Model.name)
        ).all()
    return {name: int(n) for name, n in rows}


def never_checked(ctx: JobContext, models: Sequence[ModelSettings]) -> tuple[str, ...]:
    """The models with no check run over any rows: the ones a first start backfills."""
    checked = checked_rows(ctx)
    return tuple(m.name for m in models if m.name not in checked)


def models_to_backfill(ctx: JobContext) -> tuple[str, ...]:
    """What a first start backfills: the models never checked over any rows; none
    when `[checks] backfill` is 0 or the store cannot say. Each model skipped is
    logged with why."""
    from sqlalchemy.exc import SQLAlchemyError

    models = ctx.settings.models
    if ctx.settings.checks.backfill <= timedelta(0):
        for model in models:
            log.info("backfill %s: skipped, [checks] backfill is 0", model.name)
        return ()
    try:
        checked = checked_rows(ctx)
    except SQLAlchemyError as exc:
        log.error("cannot tell which models were never checked, no backfill: %s", exc)
        return ()
    for model in models:
        if model.name in checked:
            log.info(
                "backfill %s: skipped, %d check run(s) over stored rows already; "
                "`mlmaint check %s --from ... --to ...` checks past windows",
                model.name,
                checked[model.name],
                model.name,
            )
    return tuple(m.name for m in models if m.name not in checked)


def with_rows(
    ctx: JobContext, name: str, ends: Sequence[datetime], length: timedelta
) -> tuple[datetime, ...]:
    """The ends whose window [end - length, end) holds any stored prediction of the model.

    A window with none has nothing to check: a backfill run over it would only store
    `insufficient_data ... on 0 rows` (an HTTP-push model before anything was pushed),
    which reports would then quote as the model's last unmeasured run.
    """
    if not ends:
        return ()
    kept: list[datetime] = []
    with ctx.sessions() as session:
        mid = session.scalar(select(Model.id).where(Model.name == name))
        if mid is None:
            return ()
        for end in ends:
            found = session.scalar(
                select(Prediction.id)
                .where(
                    Prediction.model_id == mid,
                    Prediction.ts >= end - length,
                    Prediction.ts < end,
                )
                .limit(1)
            )
            if found is not None:
                kept.append(end)
    return tuple(kept)


def backfill_model(
    ctx: JobContext,
    name: str,
    now: datetime,
    *,
    should_stop: Callable[[], bool] | None = None,
    lock: ModelLock = _no_lock,
) -> Backfill | None:
    """One model's first-start backfill: `[checks] backfill` back from `now`.

    None when there is nothing to check (no stored rows in any of its windows, or
    the model is gone from the config). A failing check raises: the caller says
    whether it is tried again.
    """
    settings = ctx.settings
    try:
        model = settings.model(name)
    except KeyError:
        return None  # removed by a reload meanwhile
    ends = first_start_ends(model, now, settings.checks.backfill)
    if not ends:
        return None
    from daemon.checking.specs import check_window

    stored = with_rows(ctx, name, ends, check_window(model))
    if len(stored) < len(ends):
        log.info(
            "backfill %s: skipped %d of %d window(s) with no stored rows (nothing to check)",
            name,
            len(ends) - len(stored),
            len(ends),
        )
    if not stored:
        return None
    log.info(
        "backfill %s: checking %d window(s) of %s from %s to %s",
        name,
        len(stored),
        span_text(first_start_step(model, now)),
        stored[0].isoformat(),
        stored[-1].isoformat(),
    )
    began = time.monotonic()
    result = check_windows(ctx, name, stored, should_stop=should_stop, lock=lock)
    log.info(
        "backfill %s: %d of %d window(s) checked, %d alerting, in %.1fs%s",
        name,
        len(result.cycles),
        result.asked,
        result.alerting,
        time.monotonic() - began,
        "" if result.complete else " (stopped)",
    )
    return result


def first_start_backfill(
    ctx: JobContext,
    now: datetime,
    *,
    models: Sequence[str] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lock: ModelLock = _no_lock,
) -> tuple[Backfill, ...]:
    """Backfill `[checks] backfill` for each model never checked (or those in `models`).

    No alerts are applied: the windows are past. Windows with no stored rows are
    skipped (`with_rows`, the count logged): no run over 0 rows is stored. A model
    that fails is logged and the others go on.
    """
    if ctx.settings.checks.backfill <= timedelta(0):
        return ()
    names = tuple(models) if models is not None else never_checked(ctx, ctx.settings.models)
    done: list[Backfill] = []
    for name in names:
        if should_stop is not None and should_stop():
            break
        try:
            result = backfill_model(ctx, name, now, should_stop=should_stop, lock=lock)
        except Exception:
            log.exception(
                "backfill %s failed; `mlmaint check %s --from --to` retries it", name, name
            )
            continue
        if result is not None:
            done.append(result)
    return tuple(done)


class BackgroundBackfill:
    """The first-start backfill in a thread of its own, stopped by `stop()`.

    The models to fill are chosen before the scheduler starts (`never_checked`), so
    the scheduler's first runs do not make a never-checked model look checked. A
    model is filled once its sampling has succeeded (`sampled(model)` counts the
    successful samplings since start; the service's sampling due at start reads a
    log of last week's predictions into the store), or after `wait` regardless.
    Models are filled in the order they become ready: one whose sampling fails
    does not hold the others back.

    A backfill that could not run stays due: if it found no stored rows before any
    sampling succeeded (the first one failed: "database is locked", a store down),
    or if it failed itself, it runs again after the model's next successful
    sampling, up to `attempts` failures. Without it a first start that went wrong
    would never check the history it was there for.
    """

    POLL_S = 0.5

    def __init__(
        self,
        ctx: JobContext,
        models: Sequence[str],
        now: datetime,
        lock: ModelLock = _no_lock,
        sampled: Callable[[str], int] | None = None,
        wait: timedelta = timedelta(minutes=10),
        attempts: int = 3,
        on_settled: Callable[[str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        # Told each model once its backfill is done or given up (the scheduler runs its
        # checks held at start then), and every model left when the backfill stops.
        self.on_settled = on_settled or (lambda _name: None)
        self.models = tuple(models)
        self.now = now
        self.lock = lock
        self.sampled = sampled or (lambda _name: 1)
        self.wait = wait
        self.attempts = attempts
        self.results: tuple[Backfill, ...] = ()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlmaint-backfill", daemon=True)

    def start(self) -> BackgroundBackfill:
        if self.models:
            self._thread.start()
        return self

    def _run(self) -> None:
        left = list(self.models)
        try:
            self._fill_all(left)
        finally:
            for name in left:
                self.on_settled(name)

    def _fill_all(self, left: list[str]) -> None:
        done: list[Backfill] = []
        # Per pending model: the successful samplings its last try saw (None: not
        # tried yet), and its failed tries.
        seen: dict[str, int | None] = dict.fromkeys(self.models)
        failures: dict[str, int] = dict.fromkeys(self.models, 0)
        deadline = time.monotonic() + self.wait.total_seconds()
        while seen and not self._stop.is_set():
            for name in list(seen):
                if self._stop.is_set():
                    break
                samplings = self.sampled(name)
                last = seen[name]
                if last is None and samplings == 0:
                    if time.monotonic() < deadline:
                        continue
                    log.warning(
                        "backfill %s: its first sampling has not succeeded, backfilling anyway",
                        name,
                    )
                elif last is not None and samplings <= last:
                    continue  # nothing new stored since its last try
                seen[name] = samplings
                if self._fill(name, samplings, failures, done):
                    del seen[name]
                    left.remove(name)
                    self.on_settled(name)
                self.results = tuple(done)
            if seen:
                self._stop.wait(self.POLL_S)

    def _fill(
        self, name: str, samplings: int, failures: dict[str, int], done: list[Backfill]
    ) -> bool:
        """Try the model's backfill; whether it is settled (done, or given up)."""
        try:
            result = backfill_model(
                self.ctx, name, self.now, should_stop=self._stop.is_set, lock=self.lock
            )
        except Exception:
            failures[name] += 1
            if failures[name] >= self.attempts:
                log.exception(
                    "backfill %s failed %d times, given up; `mlmaint check %s --from --to` "
                    "checks past windows",
                    name,
                    failures[name],
                    name,
                )
                return True
            log.exception("backfill %s failed; it runs again after the next sampling", name)
            return False
        if result is not None:
            done.append(result)
            return True
        if samplings == 0:
            log.info("backfill %s: no rows stored yet, it runs again after the next sampling", name)
            return False
        return True

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait for it to finish; False if still running after `timeout` seconds."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """Ask it to stop after the current window; False if still running after `timeout`."""
        self._stop.set()
        return self.join(timeout)
