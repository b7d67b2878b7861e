"""The `checks` worker: `mlmaint worker --queue checks` (a Celery worker process).

It consumes the check runs the leader sends (daemon/checking/remote.py), with the
daemon's own config: it reads the window and the reference from the store, keeps
its own reference cache (one `JobContext` per worker process, so a reference's
statistics and calibration are computed once per process, not once per run),
runs the checks, stores the runs and writes the findings to the run's
`check_tasks` row. Alert state is not its business: the leader applies them.

Late acks and rejection on a lost worker: a worker killed mid-run leaves its
message to the broker, which hands it to another worker (on Redis after the
visibility timeout, set above the run's hard time limit). A run delivered again
recomputes and replaces the same window's runs; a run already done is not redone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from daemon.checking.job import judge_model
from daemon.checking.remote import workers_finding
from daemon.checking.sender import CHECK_TASK_NAME
from daemon.checking.specs import enabled_kinds
from daemon.checking.tasks import claim_task, fail_task, finish_task, kinds_key
from daemon.config import Settings, UnknownName
from daemon.store.tables import CheckTask

if TYPE_CHECKING:
    from celery import Celery, Task

    from daemon.jobs import JobContext

log = logging.getLogger(__name__)


# What a run's task returns (nobody reads it but a person at the broker).
DONE, SKIPPED, FAILED = "done", "skipped", "failed"


def config_differs(settings: Settings, model: str, kinds: str) -> str | None:
    """Why this worker refuses a run of `kinds` (the leader's enabled kinds for the
    model), or None when its own config enables the same ones."""
    try:
        ours = kinds_key(enabled_kinds(settings.model(model)))
    except UnknownName as exc:
        ours = f"none: {exc}"
    if not kinds or kinds == ours:
        return None
    return (
        f"the worker's config differs from the leader's: the leader checks {model} for "
        f"[{kinds}], this worker's config enables [{ours}]; run every worker with the "
        "leader's config.toml"
    )


def run_check_task(
    ctx: JobContext,
    task_id: int,
    model: str,
    window_end: str,
    kinds: str,
    attempt: int,
    *,
    worker: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str:
    """Claim the run, compute and store it, write its findings and mark it done.

    A delivery of an attempt the leader has replaced (it sent the run again after
    the deadline) is skipped: the newer attempt does the run. A run whose kinds are
    not the ones this worker's config enables for the model fails at once, with an
    error naming both lists: the leader and its workers run different configs.
    """
    with ctx.sessions.begin() as session:
        claimed = claim_task(session, task_id, attempt, worker, clock())
    if isinstance(claimed, str):
        log.info(
            "check run %d attempt %d (%s, %s): skipped: %s",
            task_id,
            attempt,
            model,
            window_end,
            claimed,
        )
        return SKIPPED
    began = time.perf_counter()
    end = datetime.fromisoformat(window_end)
    differs = config_differs(ctx.settings, model, kinds)
    if differs is not None:
        log.error("check run %d (%s, %s): %s", task_id, model, window_end, differs)
        with ctx.sessions.begin() as session:
            fail_task(
                session, task_id, [workers_finding(model, differs)], error=differs, now=clock()
            )
        return FAILED
    try:
        # The leader's kinds are this config's enabled ones: run as the daemon would.
        _cycle, findings = judge_model(ctx, model, end, kinds=None, store=True)
    except Exception as exc:
        # The leader sends it again at its deadline; the error says why on the row.
        with ctx.sessions.begin() as session:
            failed = session.get(CheckTask, task_id)
            if failed is not None:
                failed.error = f"{type(exc).__name__}: {exc}"[:4000]
        raise
    with ctx.sessions.begin() as session:
        finish_task(
            session,
            task_id,
            findings,
            worker=worker,
            now=clock(),
            duration_s=time.perf_counter() - began,
        )
    return DONE


class _ProcessContext:
    """One JobContext per worker process, made on its first run (after the fork: a
    store connection is never shared across processes)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._ctx: JobContext | None = None

    def get(self) -> JobContext:
        with self._lock:
            if self._ctx is None:
                from daemon.jobs import JobContext

                self._ctx = JobContext.from_settings(self.settings)
            return self._ctx


def make_check_app(settings: Settings) -> Celery:
    from celery import Celery

    checks = settings.checks.celery
    seconds = int(checks.visibility_timeout.total_seconds())
    app = Celery("mlmaint-checks", broker=checks.broker_url, backend=checks.result_backend)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=checks.queue,
        task_routes={CHECK_TASK_NAME: {"queue": checks.queue}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # Above the run's hard time limit, or Redis re-delivers a run still running.
        broker_transport_options={"visibility_timeout": seconds},
    )
    contexts = _ProcessContext(settings)

    @app.task(name=CHECK_TASK_NAME, bind=True)  # type: ignore[untyped-decorator]
    def check_task(
        self: Task, task_id: int, model: str, window_end: str, kinds: str, attempt: int
    ) -> str:
        if (self.request.delivery_info or {}).get("redelivered"):
            log.warning(
                "check run %d (%s, %s) redelivered: a worker was lost", task_id, model, window_end
            )
        return run_check_task(
            contexts.get(),
            task_id,
            model,
            window_end,
            kinds,
            attempt,
            worker=str(self.request.hostname or "unknown"),
        )

    return app


def run_checks_worker(
    settings: Settings, *, concurrency: int, hostname: str | None, loglevel: str = "INFO"
) -> None:
    """Start a `checks` worker in this process until it is stopped."""
    app = make_check_app(settings)
    argv = [
        "worker",
        "-Q",
        settings.checks.celery.queue,
        f"--concurrency={concurrency}",
        "--pool=prefork",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
