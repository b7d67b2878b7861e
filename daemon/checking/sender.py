"""How the leader sends a check run to the `checks` queue: by task name.

The daemon never imports the worker's code path (daemon/checking/worker.py) nor
makes Celery part of its start-up: the Celery client is built on the first send and
kept for the context's life (one broker connection pool, not one per model).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from daemon.config import CheckWorkerSettings

# The task's name, the one word the leader and the workers share.
CHECK_TASK_NAME = "mlmaint.check"
# The soft limit comes first: the run gets this long to record its failure.
SOFT_LIMIT_GRACE = timedelta(seconds=15)


class Send(Protocol):
    def __call__(
        self, settings: CheckWorkerSettings, args: list[object], *, message_id: str
    ) -> None: ...


def time_limits(deadline: timedelta) -> tuple[int, int]:
    """Celery's (soft, hard) time limits of a run, in whole seconds."""
    hard = max(2, int(deadline.total_seconds()))
    grace = min(int(SOFT_LIMIT_GRACE.total_seconds()), hard // 4)
    return max(1, hard - grace), hard


class CheckSender:
    """Sends check runs by task name; thread-safe; the Celery client built once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[tuple[str, str, int], object] = {}

    def _app(self, settings: CheckWorkerSettings) -> object:
        seconds = int(settings.visibility_timeout.total_seconds())
        key = (settings.broker_url, settings.result_backend, seconds)
        with self._lock:
            app = self._apps.get(key)
            if app is None:
                from celery import Celery

                app = Celery(
                    "mlmaint-daemon",
                    broker=settings.broker_url,
                    backend=settings.result_backend,
                    set_as_current=False,
                )
                app.conf.update(
                    task_serializer="json",
                    result_serializer="json",
                    accept_content=["json"],
                    # No result is read: the run's outcome is its check_tasks row.
                    task_ignore_result=True,
                    broker_transport_options={"visibility_timeout": seconds},
                    broker_connection_retry_on_startup=True,
                )
                self._apps[key] = app
            return app

    def __call__(
        self, settings: CheckWorkerSettings, args: list[object], *, message_id: str
    ) -> None:
        soft, hard = time_limits(settings.deadline)
        app = self._app(settings)
        app.send_task(  # type: ignore[attr-defined]
            CHECK_TASK_NAME,
            args=args,
            queue=settings.queue,
            task_id=message_id,
            time_limit=hard,
            soft_time_limit=soft,
            ignore_result=True,
        )

    def close(self) -> None:
        with self._lock:
            apps, self._apps = list(self._apps.values()), {}
        for app in apps:
            app.close()  # type: ignore[attr-defined]
