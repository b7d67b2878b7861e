from __future__ import annotations

from datetime import UTC, datetime, timedelta

from retrain.policy import PolicyInput, Trigger, decide, failing_streak

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_failing_streak_counts_from_the_newest() -> None:
    assert failing_streak([True, True, False, True]) == 2
    assert failing_streak([False, True, True]) == 0
    assert failing_streak([]) == 0


def test_sustained_failures_trigger_a_decay_job() -> None:
    decision = decide(PolicyInput(now=NOW, passes_failed=[True, True, True], failing_runs=3))
    assert decision.submit and decision.trigger is Trigger.DECAY
    short = decide(PolicyInput(now=NOW, passes_failed=[True, True, False, True], failing_runs=3))
    assert not short.submit and "2 failing" in short.reason


def test_min_interval_stops_a_storm() -> None:
    facts = PolicyInput(
        now=NOW,
        passes_failed=[True] * 5,
        failing_runs=3,
        last_job_at=NOW - timedelta(hours=5),
        min_interval=timedelta(days=1),
    )
    assert not decide(facts).submit
    later = PolicyInput(**{**facts.__dict__, "now": NOW + timedelta(days=1)})
    assert decide(later).trigger is Trigger.DECAY


def test_no_duplicate_job_and_the_concurrency_cap_hold_even_by_hand() -> None:
    busy = decide(PolicyInput(now=NOW, manual=True, model_has_active_job=True))
    assert not busy.submit and "already" in busy.reason
    capped = decide(PolicyInput(now=NOW, manual=True, active_jobs=2, max_concurrent=2))
    assert not capped.submit and "cap is 2" in capped.reason
    assert decide(PolicyInput(now=NOW, manual=True, active_jobs=1, max_concurrent=2)).submit


def test_manual_ignores_the_min_interval() -> None:
    decision = decide(PolicyInput(now=NOW, manual=True, last_job_at=NOW - timedelta(minutes=1)))
    assert decision.submit and decision.trigger is Trigger.MANUAL


def test_cadence_counts_from_the_last_job_or_the_serving_version() -> None:
    every = timedelta(days=30)
    due = PolicyInput(now=NOW, every=every, serving_since=NOW - timedelta(days=31))
    assert decide(due).trigger is Trigger.CADENCE
    recent_job = PolicyInput(
        now=NOW,
        every=every,
        serving_since=NOW - timedelta(days=90),
        last_job_at=NOW - timedelta(days=10),
    )
    assert not decide(recent_job).submit
    assert not decide(PolicyInput(now=NOW, every=None, serving_since=NOW - every * 9)).submit


def test_a_pinned_model_gets_no_automatic_job_but_a_manual_one_runs() -> None:
    pin = "pinned to version 1 until unpinned (`mlmaint retrain unpin churn`)"
    failing = PolicyInput(now=NOW, passes_failed=[True] * 5, failing_runs=3, pinned=pin)
    decision = decide(failing)
    assert not decision.submit and decision.reason == pin
    cadence = PolicyInput(now=NOW, every=timedelta(days=1), serving_since=NOW, pinned=pin)
    assert not decide(PolicyInput(**{**cadence.__dict__, "now": NOW + timedelta(days=2)})).submit
    by_hand = decide(PolicyInput(**{**failing.__dict__, "manual": True}))
    assert by_hand.submit and by_hand.trigger is Trigger.MANUAL
    unpinned = decide(PolicyInput(**{**failing.__dict__, "pinned": None}))
    assert unpinned.submit and unpinned.trigger is Trigger.DECAY
