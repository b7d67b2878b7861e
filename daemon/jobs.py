"""What every job is handed: settings, the store, the clock's `now` comes separately.

Every job is a function of (JobContext, now) plus its subject (a model name, an
environment). Passing `now` explicitly lets the demo replay weeks in a minute and
lets tests pin time. The scheduler (daemon/schedule.py) and the demo call the same
job functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from daemon.checking.cache import CheckCache
from daemon.checking.sender import CheckSender
from daemon.config import Settings
from daemon.store.engine import make_engine, session_factory
from daemon.store.write_health import WriteHealth


@dataclass(frozen=True, kw_only=True)
class JobContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # The outcome of each model's last write (health and metrics read it).
    writes: WriteHealth = field(default_factory=WriteHealth)
    # Reference statistics and calibrations, shared by the check jobs of this
    # context (the service's scheduler threads); a reload keeps it.
    check_cache: CheckCache = field(default_factory=CheckCache)
    # Sends check runs to the `checks` queue (`[checks] run_on = "celery"`).
    check_sender: CheckSender = field(default_factory=CheckSender)

    @property
    def state_dir(self) -> Path:
        return self.settings.service.state_dir

    @classmethod
    def from_settings(cls, settings: Settings, *, existing: bool = False) -> JobContext:
        """`existing`: the SQLite store file must be there already (a command that uses a
        store but never creates one: daemon/store/engine.py StoreMissing)."""
        store = settings.store
        engine = make_engine(store.url, store.password_secret(), store.pool_size, existing=existing)
        return cls(settings=settings, engine=engine, sessions=session_factory(engine))

    def close(self) -> None:
        self.check_sender.close()
        self.engine.dispose()
