from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checks.interface import CheckKind
from retrain.policy import PolicyInput, Trigger, decide, failing_streak, trigger_words

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PERF = CheckKind.PERFORMANCE


def test_failing_streak_counts_from_the_newest() -> None:
    assert failing_streak([True, True, False, True]) == 2
    assert failing_streak([False, True, True]) == 0
    assert failing_streak([]) == 0


def test_sustained_failures_trigger_a_decay_job() -> None:
    decision = decide(PolicyInput(now=NOW, passes_failed={PERF: [True] * 3}, failing_runs=3))
    assert decision.submit and decision.trigger is Trigger.DECAY
    short = decide(
        PolicyInput(now=NOW, passes_failed={PERF: [True, True, False, True]}, failing_runs=3)
    )
    assert not short.submit
    assert short.reason == "2 failing performance pass(es) in a row, 3 needed"


def test_the_trigger_and_reason_name_what_failed() -> None:
    """Drift alone is not decay: the job names drift, performance decay, or both."""
    drift, est = CheckKind.DRIFT, CheckKind.ESTIMATED_PERFORMANCE
    cases = {
        # Performance still fine (or failing too briefly): drift only.
        (Trigger.DRIFT, "drift: 3 failing drift check passes in a row (threshold 3)"): {
            drift: [True] * 3,
            PERF: [True, True, False],
        },
        (
            Trigger.DECAY,
            "performance decay: 4 failing estimated performance check passes in a row "
            "(threshold 3)",
        ): {drift: [False, True, True], est: [True] * 4},
        (
            Trigger.DRIFT_AND_DECAY,
            "drift and performance decay: 5 failing drift check passes and 3 failing "
            "performance check passes in a row (threshold 3)",
        ): {PERF: [True] * 3, drift: [True] * 5},
    }
    for (trigger, reason), passes in cases.items():
        decision = decide(PolicyInput(now=NOW, passes_failed=passes, failing_runs=3))
        assert (decision.submit, decision.trigger, decision.reason) == (True, trigger, reason)
    assert trigger_words("drift_and_decay") == "drift and performance decay"
    assert trigger_words("decay") == "performance decay" and trigger_words("drift") == "drift"
    # A value stored by another version reads as it is.
    assert trigger_words("weekly") == "weekly"


def test_min_interval_stops_a_storm() -> None:
    facts = PolicyInput(
        now=NOW,
        passes_failed={PERF: [True] * 5},
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
    failing = PolicyInput(now=NOW, passes_failed={PERF: [True] * 5}, failing_runs=3, pinned=pin)
    decision = decide(failing)
    assert not decision.submit and decision.reason == pin
    cadence = PolicyInput(now=NOW, every=timedelta(days=1), serving_since=NOW, pinned=pin)
    assert not decide(PolicyInput(**{**cadence.__dict__, "now": NOW + timedelta(days=2)})).submit
    by_hand = decide(PolicyInput(**{**failing.__dict__, "manual": True}))
    assert by_hand.submit and by_hand.trigger is Trigger.MANUAL
    unpinned = decide(PolicyInput(**{**failing.__dict__, "pinned": None}))
    assert unpinned.submit and unpinned.trigger is Trigger.DECAY
