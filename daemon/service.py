"""The daemon's lifecycle under systemd: notify, watchdog, leader, signals.

Start: the store must answer and its schema be current (`require_current`) before
READY=1. On SQLite the daemon then holds the lock file or refuses to start; on
PostgreSQL it runs the scheduler while it holds the advisory lock and stands by
otherwise, retrying every `service.leader_retry`.

Signals are handled on the main thread, which loops on an Event: SIGTERM stops
taking jobs, lets running ones finish within `service.shutdown_grace`, flushes the
outbox and exits 0; SIGHUP reloads config.toml and keeps the running config when
the new one is invalid. A separate thread pings the systemd watchdog at half of
WATCHDOG_USEC, but only while the main loop and (on the leader) the scheduler make
progress, so a wedged daemon is restarted by systemd.

sd_notify is a datagram to $NOTIFY_SOCKET; a few lines here replace libsystemd.

Around it: `service_http` mounts and starts the HTTP server, `service_status`
prints `mlmaint status`, `service_unit` writes the systemd unit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from daemon import __version__
from daemon.api import ApiError
from daemon.config import ConfigError, Settings, config_digest, load_config
from daemon.health import Snapshot
from daemon.jobs import JobContext
from daemon.leader import LeaderLock, StoreLocked, leader_lock
from daemon.metrics import LiveState, make_registry
from daemon.schedule import JobRunner, Scheduler
from daemon.service_http import start_http
from daemon.stages import Stage, build_jobs, job_id
from daemon.store import migrate
from daemon.store.engine import StoreError, safe_url

if TYPE_CHECKING:
    from daemon.api import ApiServer
    from daemon.checking.backfill import BackgroundBackfill

log = logging.getLogger(__name__)

EX_OK = 0
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
EX_CONFIG = 78


# --------------------------------------------------------------------------- sd_notify


class Notifier:
    """sd_notify(3) in Python: one datagram of KEY=VALUE lines to $NOTIFY_SOCKET."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_usec = int(usec) if watchdog else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, **fields: str | int) -> bool:
        """Send `READY=1`-style fields; False (and a debug line) when it cannot."""
        if not self.address:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    )
                self._sock.sendto(message, self.address)
            except OSError as exc:
                log.debug("sd_notify to %r failed: %s", self.address, exc)
                return False
        return True

    def status(self, text_: str) -> None:
        self.notify(STATUS=text_)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


# --------------------------------------------------------------------------- service


class Service:
    """One daemon process: store, leader lock, scheduler, HTTP, signals."""

    def __init__(
        self,
        config_path: Path,
        settings: Settings,
        notifier: Notifier | None = None,
    ) -> None:
        self.config_path = config_path
        self.settings = settings
        # The file's digest as `settings` was read from it: the CLI that reads the same
        # is answered by this daemon (daemon/api/terminal.py).
        self.config_digest = config_digest(config_path)
        self.notifier = notifier or Notifier()
        self.started_at = datetime.now(UTC)
        self.role = "starting"
        self.status_line = "starting"
        self.ctx: JobContext | None = None
        self.runner: JobRunner | None = None
        self.scheduler: Scheduler | None = None
        self.lock: LeaderLock | None = None
        self.http: ApiServer | None = None
        self.backfill: BackgroundBackfill | None = None
        self._registry: CollectorRegistry | None = None
        self._wake = threading.Event()
        self._stop_requested = False
        self._reload_requested = False
        self._tick = time.monotonic()
        self._stalled_logged = False

    # ------------------------------------------------------------------ the Probe

    @property
    def engine(self) -> Engine:
        assert self.ctx is not None, "the service has not started"
        return self.ctx.engine

    @property
    def registry(self) -> CollectorRegistry:
        assert self._registry is not None, "the service has not started"
        return self._registry

    def snapshot(self) -> Snapshot:
        scheduler = self.scheduler
        return Snapshot(
            version=__version__,
            role=self.role,
            started_at=self.started_at,
            scheduler_alive=scheduler is not None and scheduler.alive,
            heartbeat_age_s=None if scheduler is None else round(scheduler.beat_age(), 3),
            stall_limit_s=self.settings.service.watchdog_stall.total_seconds(),
            next_runs=scheduler.next_runs() if scheduler is not None else {},
            running=self.runner.running if self.runner is not None else (),
            status=self.status_line,
            writes=self.ctx.writes.snapshot() if self.ctx is not None else (),
        )

    def live_state(self) -> LiveState:
        stats = self.runner.stats if self.runner is not None else None
        scheduler = self.scheduler
        return LiveState(
            leader=self.role == "leader",
            scheduler_alive=scheduler is not None and scheduler.alive,
            heartbeat_age_s=None if scheduler is None else scheduler.beat_age(),
            runs=dict(stats.runs) if stats else {},
            failures=dict(stats.failures) if stats else {},
            missed=dict(stats.missed) if stats else {},
            overlapping=dict(stats.overlapping) if stats else {},
            duration_sum_s=dict(stats.duration_sum_s) if stats else {},
            bookkeeping_errors=stats.bookkeeping_errors if stats else 0,
            writes=self.ctx.writes.snapshot() if self.ctx is not None else (),
        )

    # ------------------------------------------------------------------ helpers

    def _status(self, line: str) -> None:
        self.status_line = line
        self.notifier.status(line)

    def progressing(self) -> bool:
        """True while the main loop turns and, on the leader, the scheduler dispatches."""
        stall = self.settings.service.watchdog_stall.total_seconds()
        if time.monotonic() - self._tick > stall:
            return False
        scheduler = self.scheduler
        if self.role == "leader":
            return scheduler is not None and scheduler.alive and scheduler.beat_age() < stall
        return True

    def _watchdog(self, interval: float) -> None:
        while not self._stop_requested:
            if self.progressing():
                self.notifier.notify(WATCHDOG=1)
                self._stalled_logged = False
            elif not self._stalled_logged:
                self._stalled_logged = True
                log.error(
                    "the scheduler made no progress for %s; withholding watchdog pings",
                    self.settings.service.watchdog_stall,
                )
            time.sleep(interval)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
        else:
            self._stop_requested = True
        self._wake.set()

    # ------------------------------------------------------------------ start

    def _open_store(self) -> int | None:
        """Connect and check the schema; an exit status when the daemon cannot start."""
        self.ctx = JobContext.from_settings(self.settings)
        url = safe_url(self.ctx.engine)
        self._status(f"connecting to the store {url}")
        try:
            with self.ctx.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            revision = migrate.require_current(self.ctx.engine)
        except StoreError as exc:
            log.error("%s", exc)
            return EX_CONFIG
        except SQLAlchemyError as exc:
            log.error("the store %s is unreachable: %s", url, _line(exc))
            return EX_UNAVAILABLE
        log.info("store %s reachable, schema at %s", url, revision)
        return None

    def _start_http(self) -> None:
        assert self.ctx is not None
        self.http = start_http(self.ctx, self, config_digest=self.config_digest)

    def _promote(self) -> None:
        assert self.ctx is not None
        self.runner = self.runner or JobRunner(self.ctx)
        self.runner.ctx = self.ctx
        jobs = build_jobs(self.settings)
        from daemon.checking.backfill import BackgroundBackfill, models_to_backfill

        # Chosen before the scheduler's first runs store anything; on the first start only.
        backfill = () if self.backfill is not None else models_to_backfill(self.ctx)
        stall = self.settings.service.watchdog_stall.total_seconds()
        self.scheduler = Scheduler(
            self.runner,
            workers=self.settings.service.workers,
            heartbeat=max(0.2, min(5.0, stall / 4)),
        )
        self.scheduler.start(jobs, after_backfill=tuple(backfill))
        self.role = "leader"
        log.info("leader (%s): scheduler started with %d job(s)", self._lock_name(), len(jobs))
        self._status(f"leader: {len(jobs)} job(s) scheduled")
        if backfill:
            runner, due = self.runner, self.scheduler.caught_up

            def sampled(name: str) -> int:
                # The model's successful samplings since start (the rows they read are
                # history too); one not due at start ran in this cycle before it.
                done = runner.succeeded(Stage.SAMPLE, name)
                return done + (job_id(Stage.SAMPLE, name) not in due)

            self.backfill = BackgroundBackfill(
                self.ctx,
                backfill,
                datetime.now(UTC),
                lock=runner.model_lock,
                sampled=sampled,
                on_settled=self.scheduler.backfill_settled,
            ).start()

    def _demote(self, reason: str) -> None:
        if self.backfill is not None:
            self.backfill.stop(0)
        if self.scheduler is not None:
            self.scheduler.pause()
            self.scheduler.shutdown()
        self.scheduler = None
        self.role = "standby"
        log.error("%s: scheduler stopped, standing by for the leader lock", reason)
        self._status(f"standby: {reason}")

    def _lock_name(self) -> str:
        return self.lock.describe if self.lock is not None else "no lock"

    # ------------------------------------------------------------------ reload

    def _reload(self) -> None:
        self.notifier.notify(RELOADING=1, MONOTONIC_USEC=monotonic_usec())
        digest = config_digest(self.config_path)
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload rejected, the running configuration stays: %s", exc)
            self._status(
                f"{self.role}: reload rejected ({len(exc.problems)} problem(s)), "
                "running the previous configuration"
            )
            self.notifier.notify(READY=1)
            return
        if new.store != self.settings.store:
            log.error(
                "reload rejected: [store] changed, which needs a restart; "
                "the running configuration stays"
            )
            self._status(f"{self.role}: reload rejected ([store] needs a restart)")
            self.notifier.notify(READY=1)
            return
        old_http = (self.settings.service.http_host, self.settings.service.http_port)
        if (new.service.http_host, new.service.http_port) != old_http:
            log.warning("service.http_host/http_port changes take effect at the next restart")
        assert self.ctx is not None
        self.settings = new
        self.ctx = dataclasses.replace(self.ctx, settings=new)
        logging.getLogger().setLevel(new.service.log_level.value)
        jobs = build_jobs(new)
        if self.runner is not None:
            self.runner.ctx = self.ctx
        if self.http is not None:
            self.http.ctx = self.ctx
            self.http.config_digest = digest
        self.config_digest = digest
        if self.scheduler is not None:
            self.scheduler.replace(jobs)
        log.info("configuration reloaded from %s: %d job(s)", self.config_path, len(jobs))
        self._status(f"{self.role}: reloaded, {len(jobs)} job(s)")
        self.notifier.notify(READY=1)

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        """Run until SIGTERM; returns the process exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        failed = self._open_store()
        if failed is not None:
            self._status("cannot start: see the log")
            self._close()
            return failed
        assert self.ctx is not None
        self.lock = leader_lock(self.ctx.engine)
        try:
            first = self.lock.try_acquire()
        except StoreLocked as exc:
            log.error("%s", exc)
            self._status("refused: another daemon runs on this SQLite store")
            self._close()
            return EX_TEMPFAIL
        self._registry = make_registry(self.ctx.engine, self.live_state)
        try:
            self._start_http()
        except ApiError as exc:
            log.error("%s", exc)
            self._close()
            return EX_CONFIG
        except OSError as exc:
            service = self.settings.service
            log.error("cannot listen on %s:%d: %s", service.http_host, service.http_port, exc)
            self._close()
            return EX_UNAVAILABLE
        self.role = "standby"
        self.notifier.notify(READY=1, STATUS="store ready, schema current", MAINPID=os.getpid())
        self.status_line = "store ready, schema current"
        if self.notifier.watchdog_usec:
            interval = self.notifier.watchdog_usec / 2 / 1_000_000
            threading.Thread(
                target=self._watchdog, args=(interval,), name="mlmaint-watchdog", daemon=True
            ).start()
        if first:
            self._promote()
        else:
            log.info("another daemon holds the leader lock; standing by")
            self._status("standby: another daemon is the leader")
        return self._loop()

    def _loop(self) -> int:
        retry = self.settings.service.leader_retry.total_seconds()
        next_check = time.monotonic() + retry
        while True:
            self._tick = time.monotonic()
            if self._stop_requested:
                return self._stop()
            if self._reload_requested:
                self._reload_requested = False
                self._reload()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + retry
                self._check_leadership()
            self._wake.wait(min(1.0, retry))
            self._wake.clear()

    def _check_leadership(self) -> None:
        assert self.lock is not None
        if self.role == "leader":
            if not self.lock.still_held():
                self._demote("the leader lock was lost")
            return
        try:
            got = self.lock.try_acquire()
        except StoreLocked as exc:  # pragma: no cover - the file lock is taken at start
            log.error("%s", exc)
            return
        if got:
            self._promote()

    def _stop(self) -> int:
        grace = self.settings.service.shutdown_grace.total_seconds()
        self.notifier.notify(STOPPING=1, STATUS="stopping: waiting for running jobs")
        self.status_line = "stopping"
        log.info("stopping: no new jobs, waiting up to %.0fs for running ones", grace)
        if self.scheduler is not None:
            self.scheduler.pause()
        deadline = time.monotonic() + grace
        if self.backfill is not None:
            self.backfill.stop(0)  # it stops after its current window
        idle = self.runner.wait_idle(grace) if self.runner is not None else True
        # The backfill's window is abandoned like a job's (rolled back) past the grace.
        backfilling = self.backfill is not None and not self.backfill.stop(
            max(0.0, deadline - time.monotonic())
        )
        if not idle and self.runner is not None:
            log.warning(
                "jobs still running after %.0fs, abandoned (their transactions roll back): %s",
                grace,
                ", ".join(self.runner.running),
            )
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.role == "leader" and idle:
            self._flush_outbox()
        self._close()
        log.info("stopped")
        if not idle or backfilling:
            # A job thread would hold the interpreter open; its open transaction is
            # rolled back by the database when the connection goes away with us.
            logging.shutdown()
            sys.stdout.flush()
            os._exit(EX_OK)
        return EX_OK

    def _flush_outbox(self) -> None:
        assert self.ctx is not None
        self.notifier.status("stopping: flushing the outbox")
        try:
            from daemon.alerts.delivery import deliver_pending
        except ImportError as exc:
            log.warning("outbox not flushed: alert delivery unavailable (%s)", exc)
            return
        try:
            deliver_pending(self.ctx, datetime.now(UTC))
        except Exception:
            log.exception("flushing the outbox failed; undelivered notifications stay pending")

    def _close(self) -> None:
        if self.http is not None:
            with contextlib.suppress(OSError):
                self.http.stop()
            self.http = None
        if self.lock is not None:
            self.lock.release()
        if self.ctx is not None:
            self.ctx.close()
        self.notifier.close()


def _line(exc: BaseException) -> str:
    message = str(exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


def run_service(config_path: Path, settings: Settings) -> int:
    """`mlmaint run`: the daemon in the foreground until SIGTERM."""
    return Service(config_path, settings).run()
