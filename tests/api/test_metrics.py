"""/metrics exposition: no `_created` series, and no process-wide switch flipped for it."""

from __future__ import annotations

from collections.abc import Iterator

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter, Summary, generate_latest
from sqlalchemy import Engine, create_engine

from daemon.metrics import exposition, make_registry


@pytest.fixture
def engine() -> Iterator[Engine]:
    # Never migrated: the collector reads it as an unreadable store (store_up 0).
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


def _created_series_elsewhere() -> bool:
    """Whether an instrument on some other registry in this process exports `_created`."""
    other = CollectorRegistry()
    Counter("probe", "a counter on a registry that is not ours", registry=other).inc()
    return b"probe_created" in generate_latest(other)


def test_making_the_registry_changes_no_prometheus_client_global(engine: Engine) -> None:
    switch = prometheus_client.metrics._use_created
    before = _created_series_elsewhere()
    make_registry(engine)
    make_registry(engine)
    assert prometheus_client.metrics._use_created == switch
    assert _created_series_elsewhere() == before


def test_our_registry_exports_no_created_series_whatever_is_registered(engine: Engine) -> None:
    registry = make_registry(engine)
    Counter("mlmaint_probe_events", "a counter instrument", registry=registry).inc(3)
    Summary("mlmaint_probe_seconds", "a summary instrument", registry=registry).observe(0.5)
    for text in (exposition(registry).decode(), generate_latest(registry).decode()):
        assert "_created" not in text
        assert "mlmaint_probe_events_total 3.0" in text
        assert "mlmaint_probe_seconds_count 1.0" in text
        assert "mlmaint_probe_seconds_sum 0.5" in text
        assert "mlmaint_store_up 0.0" in text
