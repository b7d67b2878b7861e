"""What the leader does with runs computed on workers, with the real store, the real
alert policy, the real worker code (called in this process, as a worker's task does)
and the real Redis queue: findings applied in window order, deadlines, configs that
differ (issue 20's trial). The `checks` worker process itself: test_check_workers.py.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.alerts.finding import Finding
from daemon.alerts.policy import PolicyOutcome, apply_findings
from daemon.checking.job import check_model
from daemon.checking.queue_metrics import queue_metrics
from daemon.checking.remote import collect_checks, send_checks
from daemon.checking.tasks import claim_task
from daemon.checking.worker import DONE, FAILED, SKIPPED, run_check_task
from daemon.config import Settings, load_config
from daemon.jobs import JobContext
from daemon.service_status import format_status, status_document
from daemon.store.tables import Alert, CheckTask, CheckTaskState
from tests.checks.fleet import (
    BROKER_DB,
    REDIS_HOST,
    REDIS_PORT,
    fleet_config,
    forget_queue,
    require_redis,
    seed_fleet,
)
from tests.checks.frames import START

ENDS = (START + timedelta(days=1), START + timedelta(days=2))
WORKER = "w@test"


@pytest.fixture
def queue() -> Iterator[str]:
    require_redis()
    name = f"mlmaint-collect-test-{uuid.uuid4().hex[:10]}"
    yield name
    forget_queue(name)


def _waiting(queue: str) -> int:
    """Messages in the broker's queue (no worker consumes this test's)."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=BROKER_DB)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def _row(ctx: JobContext, task_id: int) -> CheckTask:
    with ctx.sessions() as session:
        row = session.get_one(CheckTask, task_id)
        session.expunge(row)
        return row


def _alerts(ctx: JobContext) -> list[tuple[str, str, str, str]]:
    with ctx.sessions() as session:
        return sorted(
            (a.scope, a.kind, a.subject, str(a.state))
            for a in session.scalars(select(Alert).where(Alert.subject != "check workers"))
        )


def test_an_earlier_window_done_after_a_later_one_fires_and_the_later_one_resolves(
    tmp_path: Path, pg_db: Callable[[], str], queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    leader = JobContext.from_settings(
        load_config(fleet_config(tmp_path, pg_db(), models=1, queue=queue))
    )
    daemon = JobContext.from_settings(
        load_config(fleet_config(tmp_path / "d", pg_db(), models=1, queue=queue, run_on="daemon"))
    )
    outcomes: list[tuple[datetime | None, PolicyOutcome]] = []

    def recording(
        session: Session,
        settings: Settings,
        findings: Sequence[Finding],
        now: datetime,
        *,
        present: Mapping[str, datetime] | None = None,
    ) -> object:
        outcome = apply_findings(session, settings, findings, now, present=present)
        outcomes.append((max(f.window_end for f in findings if f.window_end), outcome))
        return outcome

    try:
        for ctx in (leader, daemon):
            seed_fleet(ctx.engine, 1, ENDS, drifted=(0,))
        for end in ENDS:
            check_model(daemon, "m0", end)
        ids = [send_checks(leader, "m0", end, sent_at=ENDS[-1]) for end in ENDS]
        # The later window is computed first (the earlier one was on a worker since lost).
        for task_id, end in reversed(list(zip(ids, ENDS, strict=True))):
            kinds = _row(leader, task_id).kinds
            assert kinds and "drift" in kinds.split(","), "the leader names the kinds"
            assert (
                run_check_task(leader, task_id, "m0", end.isoformat(), kinds, 1, worker=WORKER)
                == DONE
            )
        # A second delivery of a done run says why it is skipped.
        with caplog.at_level(logging.INFO, logger="daemon.checking.worker"):
            assert (
                run_check_task(leader, ids[0], "m0", ENDS[0].isoformat(), kinds, 1, worker=WORKER)
                == SKIPPED
            )
        assert f"skipped: done already by {WORKER}" in caplog.text
        with caplog.at_level(logging.INFO):
            assert collect_checks(leader, ENDS[-1] + timedelta(seconds=1), apply=recording) == 2
        assert "set aside" not in caplog.text
        assert [end for end, _ in outcomes] == list(ENDS)
        first, second = outcomes[0][1], outcomes[1][1]
        assert first.fired and not first.stale, first
        assert second.resolved + second.quiet and not second.stale, second
        # The same alert state as the daemon, which checked the windows in order.
        assert _alerts(leader) == _alerts(daemon)
        assert any(state == "resolved" for *_, state in _alerts(leader))
    finally:
        leader.close()
        daemon.close()


def test_a_run_waiting_in_the_queue_is_not_sent_again_at_its_deadline(
    tmp_path: Path, pg_db: Callable[[], str], queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    # deadline 60s, visibility_timeout 600s: a queued send is taken as lost after 660s.
    ctx = JobContext.from_settings(
        load_config(fleet_config(tmp_path, pg_db(), models=1, queue=queue))
    )
    sent = ENDS[0]
    try:
        task_id = send_checks(ctx, "m0", sent)
        collect_checks(ctx, sent + timedelta(seconds=61))
        assert _row(ctx, task_id).attempts == 1 and _waiting(queue) == 1, "no stacked message"
        with caplog.at_level(logging.WARNING):
            collect_checks(ctx, sent + timedelta(seconds=661))
        assert _row(ctx, task_id).attempts == 2 and _waiting(queue) == 2
        assert "waited in the queue past visibility_timeout + deadline" in caplog.text
        # A worker starts it late: its deadline counts from the first collect that sees it.
        with ctx.sessions.begin() as session:
            assert not isinstance(claim_task(session, task_id, 2, WORKER, sent), str)
        collect_checks(ctx, sent + timedelta(seconds=700))
        # `mlmaint status` shows the queue and the worker seen (as text and as JSON).
        doc = status_document(ctx.engine, "-", now=sent + timedelta(seconds=720))
        queued = doc["check_queue"]
        assert isinstance(queued, dict)
        assert (queued["queued"], queued["running"], queued["given_up_last_day"]) == (0, 1, 0)
        assert queued["lag_s"] == 720.0 and "ok has sent its run" in queued["note"]
        assert [w["worker"] for w in queued["workers_last_hour"]] == [WORKER]
        text = format_status(ctx.engine, "-", now=sent + timedelta(seconds=720), width=200)
        assert "check queue: 0 queued, 1 running, 0 given up in the last day" in text
        assert f"worker {WORKER}: 0 run(s) in the last hour" in text
        collect_checks(ctx, sent + timedelta(seconds=759))
        assert _row(ctx, task_id).attempts == 2
        collect_checks(ctx, sent + timedelta(seconds=761))
        assert _row(ctx, task_id).attempts == 3
        # The third send no worker takes: given up, saying so.
        collect_checks(ctx, sent + timedelta(seconds=761 + 661))
        row = _row(ctx, task_id)
        assert row.state == CheckTaskState.FAILED.value and row.applied_at is not None
        with ctx.sessions() as session:
            alert = session.scalars(select(Alert).where(Alert.subject == "check workers")).one()
        assert str(alert.state) == "firing" and "no worker started it" in alert.summary
        # /metrics counts the sends again and the run given up (applied, so not queued).
        with ctx.sessions() as session:
            scraped = {
                s.name: s.value
                for m in queue_metrics(session, sent + timedelta(seconds=1500))
                for s in m.samples
            }
        assert scraped["mlmaint_check_runs_resent_total"] == 2.0
        assert scraped["mlmaint_check_runs_given_up_total"] == 1.0
        assert scraped["mlmaint_check_runs_given_up_last_day"] == 1.0
    finally:
        ctx.close()


def test_a_worker_whose_config_differs_fails_the_run_and_the_leader_says_so(
    tmp_path: Path, pg_db: Callable[[], str], queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = pg_db()
    leader = JobContext.from_settings(
        load_config(fleet_config(tmp_path, url, models=1, queue=queue))
    )
    config = fleet_config(tmp_path, url, models=1, queue=queue)
    config.write_text(config.read_text() + "\n[models.checks.multivariate]\nenabled = true\n")
    worker = JobContext.from_settings(load_config(config))
    try:
        seed_fleet(leader.engine, 1, ENDS[:1])
        task_id = send_checks(leader, "m0", ENDS[0])
        kinds = _row(leader, task_id).kinds
        assert "multivariate" not in kinds
        assert (
            run_check_task(worker, task_id, "m0", ENDS[0].isoformat(), kinds, 1, worker=WORKER)
            == FAILED
        )
        row = _row(leader, task_id)
        assert row.state == CheckTaskState.FAILED.value
        assert row.error and "the worker's config differs from the leader's" in row.error
        assert f"[{kinds}]" in row.error and "multivariate" in row.error
        with caplog.at_level(logging.ERROR):
            collect_checks(leader, ENDS[0] + timedelta(seconds=1))
        assert "the worker's config differs" in caplog.text and WORKER in caplog.text
        with leader.sessions() as session:
            alert = session.scalars(select(Alert).where(Alert.subject == "check workers")).one()
        assert str(alert.state) == "firing" and "differs" in alert.summary
        assert _row(leader, task_id).attempts == 1, "no send again can help"
    finally:
        leader.close()
        worker.close()


def test_checks_on_workers_refuse_a_store_the_workers_cannot_share(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from daemon.cli import main
    from daemon.config import ConfigError

    config = fleet_config(tmp_path, "sqlite:///state/x.db", models=1, queue="checks")
    with pytest.raises(ConfigError, match=r"run_on = \"celery\" needs \[store\] url"):
        load_config(config)
    result = CliRunner().invoke(main, ["--config", str(config), "config", "check"])
    assert result.exit_code != 0 and "PostgreSQL" in result.output
    daemon = fleet_config(tmp_path, "sqlite:///state/x.db", models=1, queue="q", run_on="daemon")
    assert load_config(daemon).checks.run_on.value == "daemon"
