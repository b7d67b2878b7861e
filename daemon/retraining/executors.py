"""The executors a stage run talks to: made from the settings on first use, closed at its end."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from daemon.config import ExecutorKind, Settings
from retrain.interface import Executor

log = logging.getLogger(__name__)


def make_executor(settings: Settings, kind: str | None = None) -> Executor:
    """The executor a job runs on: the configured one, or the one a job row names."""
    chosen = ExecutorKind(kind or settings.executor.kind)
    match chosen:
        case ExecutorKind.LOCAL:
            from retrain.executors.local import LocalExecutor

            workdir = settings.service.state_dir / "retrain-jobs"
            python = settings.executor.python
            if python is None:
                return LocalExecutor(workdir)
            return LocalExecutor(workdir, python=str(python))
        case ExecutorKind.CELERY:
            from retrain.executors.celery import CeleryExecutor

            celery = settings.executor.celery
            return CeleryExecutor(
                celery.broker_url, celery.result_backend, celery.queue, celery.visibility_timeout
            )


class Executors:
    """The executors of one stage run: made on first use, one per kind."""

    def __init__(self, settings: Settings, given: Executor | None) -> None:
        self.settings = settings
        self.given = given
        self.made: dict[ExecutorKind, Executor] = {}

    def get(self, kind: str | None = None) -> Executor:
        if self.given is not None:
            return self.given
        chosen = ExecutorKind(kind or self.settings.executor.kind)
        if chosen not in self.made:
            self.made[chosen] = make_executor(self.settings, chosen.value)
        return self.made[chosen]


@contextmanager
def executors_for(settings: Settings, given: Executor | None = None) -> Iterator[Executors]:
    """Executors made for one call and closed at its end (a given one stays the caller's).

    A Celery executor holds connections: one made per submit or poll and never
    closed would leak them in the long-running daemon.
    """
    executors = Executors(settings, given)
    try:
        yield executors
    finally:
        for made in executors.made.values():
            try:
                made.close()
            except Exception as exc:
                log.warning("closing the %s executor failed: %s", made.name, exc)
