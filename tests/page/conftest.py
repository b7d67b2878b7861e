"""The page tests' store: seeded by the stages' own writers (tests/page/seed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from daemon.jobs import JobContext
from tests.page.seed import Seeded, context, seed


@pytest.fixture
def seeded(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> tuple[JobContext, Seeded]:
    ctx = context(tmp_path, engine, session_factory)
    return ctx, seed(ctx, tmp_path)
