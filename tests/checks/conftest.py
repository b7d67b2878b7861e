"""Fixtures of the checks-on-workers suites: PostgreSQL databases a worker process reaches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conftest import drop_pg_database, new_pg_database, pg_url


@pytest.fixture
def pg_db(pg_template: str) -> Iterator[Callable[[], str]]:
    """Makes fresh migrated PostgreSQL databases by URL; drops them after the test."""
    names: list[str] = []

    def make() -> str:
        names.append(new_pg_database(pg_template))
        return pg_url(names[-1])

    yield make
    for name in names:
        drop_pg_database(name)
