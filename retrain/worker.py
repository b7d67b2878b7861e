"""The Celery app a GPU worker runs: `mlmaint worker` or `python -m retrain.worker`.

One task per GPU (`--concurrency` = GPUs, prefetch 1), late acks and rejection
on a lost worker, so a worker killed mid-job hands its task back to the queue
rather than losing it; a fresh child per task gives GPU memory back. The spec
and the outcome travel as JSON strings: nothing torch-shaped crosses the broker.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

from retrain.interface import RetrainSpec

if TYPE_CHECKING:
    from celery import Task

TASK_NAME = "mlmaint.retrain"
# `frameworks verify` (retrain.verify.executors sends it by this name).
VERIFY_TASK_NAME = "mlmaint.verify"

log = logging.getLogger(__name__)


def make_app(
    broker_url: str,
    result_backend: str,
    queue: str = "gpu",
    visibility_timeout: timedelta = timedelta(hours=7),
) -> object:
    from celery import Celery

    app = Celery("mlmaint", broker=broker_url, backend=result_backend)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=queue,
        task_routes={TASK_NAME: {"queue": queue}, VERIFY_TASK_NAME: {"queue": queue}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=1,
        worker_hijack_root_logger=False,
        result_extended=True,
        result_expires=timedelta(days=7),
        broker_connection_retry_on_startup=True,
        # Above the task's hard limit, or Redis re-delivers a task that is still running.
        broker_transport_options={"visibility_timeout": int(visibility_timeout.total_seconds())},
        result_backend_transport_options={
            "visibility_timeout": int(visibility_timeout.total_seconds())
        },
    )

    @app.task(name=TASK_NAME, bind=True)  # type: ignore[untyped-decorator]
    def retrain_task(self: Task, spec_json: str) -> str:
        from retrain.job import execute

        spec = RetrainSpec.from_json(spec_json)
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        if redelivered:
            log.warning("retrain job %s redelivered: its earlier worker was lost", spec.job_id)
        return execute(spec).to_json()

    @app.task(name=VERIFY_TASK_NAME)  # type: ignore[untyped-decorator]
    def verify_task(spec_json: str) -> str:
        from retrain.verify.job import execute as verify
        from retrain.verify.spec import VerifyError, VerifySpec

        try:
            return verify(VerifySpec.from_json(spec_json)).to_json()
        except VerifyError as exc:
            return json.dumps({"error": str(exc)})

    return app


def run_worker(
    broker_url: str,
    result_backend: str,
    queue: str,
    visibility_timeout: timedelta,
    concurrency: int = 1,
    hostname: str | None = None,
    loglevel: str = "INFO",
) -> None:
    """Start a worker in this process until it is stopped."""
    app = make_app(broker_url, result_backend, queue, visibility_timeout)
    argv = [
        "worker",
        "-Q",
        queue,
        f"--concurrency={concurrency}",
        "--pool=prefork",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrain.worker")
    parser.add_argument("--broker", required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--queue", default="gpu")
    parser.add_argument("--visibility-timeout", type=float, default=7 * 3600)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--hostname", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_worker(
        args.broker,
        args.backend,
        args.queue,
        timedelta(seconds=args.visibility_timeout),
        args.concurrency,
        args.hostname,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
