"""The report's recommendations: what to do this week, most urgent first.

Each action carries a score, and only the order of the scores matters: the page
shows the first 15 and the Slack summary the first 10. The scores form bands,
from the top:

- a model measured worse than its baseline (it is wrong now), one left without a
  reference (it is blind), one whose week of predictions was never checked,
  a known vulnerability (by severity);
- a retraining that failed, drifting features (by how often the most drifted
  one failed; every drifting feature is named), a Python past its end of life;
- the daemon's own faults: undeliverable notifications, a failed job;
- latency and errors, then data quality.

Within a band the count of failing runs or advisories breaks ties, so a model
failing more checks comes first.

A performance action quotes what failed: a realized figure against its baseline, or
an estimate (CBPE, DLE) as the estimate it is, against its own threshold; a realized
figure that did not fail follows as context, dated when labels stopped before the
week's last performance run.

Actions respect the config and what happened since: a model whose retraining is
off (`[models.retrain] enabled = false`) is never told to retrain (its drop is
an investigation instead), and a failed retraining that a later job of the same
model got past (it succeeded) asks for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from checks.interface import CheckKind, Direction, Metric, alerts_when
from daemon.report.model import (
    Action,
    ActionKind,
    DaemonHealth,
    FrameworkEnv,
    KindCounts,
    ModelWeek,
    PerformanceRow,
    PerformanceTrend,
    RetrainRow,
)
from daemon.report.weeks import Week
from daemon.store.tables import NotificationState
from retrain.interface import JobState

# Performance below its boundary and no better model promoted: retraining is the
# remedy, and nothing else on the list says a model's answers are wrong today.
RETRAIN_SCORE = 300
# A model without a reference is checked for nothing: just below a measured failure.
UNMONITORED_SCORE = 280
# A week of stored predictions that no check read (they came in late, or before the
# daemon ran): blind for that week, until a backfill checks them.
UNCHECKED_SCORE = 270
# A retraining that failed leaves a known problem unfixed, below a blind model.
FAILED_RETRAIN_SCORE = 250
# Drift is a lead, not a failure: a drifting model is told to look at its features,
# scored by the share of the week's checks its most drifted feature failed, from 150
# (a stray run, mostly noise at calibrated thresholds) up to 250 at every check, so a
# feature that always drifts ranks with a failed retraining and never above a
# failing model.
DRIFT_SCORE = 150
DRIFT_SHARE_SCORE = 100
# A framework upgrade: an end-of-life Python scores the base; a vulnerability adds
# its severity weight times UPGRADE_SEVERITY_SCORE (230 for low, 260 for medium,
# 290 for critical), so a critical advisory ranks just under a failing model.
UPGRADE_SCORE = 200
UPGRADE_SEVERITY_SCORE = 30
# Advisory severities (OSV's words and our alert severities) to that weight.
SEVERITY_WEIGHT = {"critical": 3, "high": 3, "warning": 2, "medium": 2, "info": 1, "low": 1}
# An advisory without a severity we know counts as medium, neither hidden nor alarming.
UNKNOWN_SEVERITY_WEIGHT = 2
# Undeliverable notifications mean people miss alerts: above a single failed job.
DEAD_NOTIFICATIONS_SCORE = 180
# A job that failed its last run: the daemon is not doing part of its work.
FAILED_JOB_SCORE = 160
# Failing latency and error checks hurt users but not the model's answers.
OPERATIONS_SCORE = 120
# Data-quality failures are often upstream and transient: the lowest band.
QUALITY_SCORE = 100
# Error texts are cut to this many characters in an action's one line.
ERROR_EXCERPT = 120


def recommend(
    models: Sequence[ModelWeek],
    frameworks: Sequence[FrameworkEnv],
    daemon: DaemonHealth,
    week: Week | None = None,
) -> tuple[Action, ...]:
    """Every action the week calls for, highest score first."""
    actions: list[Action] = []
    for m in models:
        actions.extend(_model_actions(m))
        if week is not None:
            actions.extend(_unchecked(m, week))
    actions.extend(_framework_actions(frameworks))
    actions.extend(_daemon_actions(daemon))
    actions.sort(key=lambda a: (-a.score, a.scope, a.text))
    return tuple(actions)


def _model_actions(m: ModelWeek) -> list[Action]:
    actions: list[Action] = []
    perf = m.performance
    promoted = any(r.promoted for r in m.retrains)
    failed = [
        r
        for r in m.retrains
        if r.state in (JobState.FAILED, JobState.TIMED_OUT) and not _superseded(r, m.retrains)
    ]
    if perf.alert_runs and not promoted:
        figure, failing = _what_failed(perf)
        if m.drifting:
            failing += f"; drifting: {', '.join(f.column for f in m.drifting)}"
        if m.retrain_enabled:
            action = Action(
                kind=ActionKind.RETRAIN,
                scope=m.name,
                text=f"Retrain {m.name}{figure} ({failing})",
                score=RETRAIN_SCORE + perf.alert_runs,
            )
        else:
            action = Action(
                kind=ActionKind.INVESTIGATE,
                scope=m.name,
                text=f"Investigate the performance of {m.name}{figure} ({failing}; "
                "retraining is off for it in the config)",
                score=RETRAIN_SCORE + perf.alert_runs,
            )
        actions.append(action)
    elif m.drifting and not promoted:
        # Every drifting feature, most often drifted first: the first alone hides the rest.
        named = "feature" if len(m.drifting) == 1 else "features"
        actions.append(
            Action(
                kind=ActionKind.INVESTIGATE,
                scope=m.name,
                text=f"Investigate the drifting {named} of {m.name}: "
                + "; ".join(
                    f"{f.column} drifted in {f.drifted_share:.0%} of checks ({f.method} "
                    f"{_fmt(f.last_score)}, threshold {_fmt(f.threshold)})"
                    for f in m.drifting
                ),
                score=DRIFT_SCORE + DRIFT_SHARE_SCORE * max(f.drifted_share for f in m.drifting),
            )
        )
    if m.unmonitored:
        actions.append(
            Action(
                kind=ActionKind.FIX,
                scope=m.name,
                text=f"Give {m.name} a reference: {m.unmonitored}",
                score=UNMONITORED_SCORE,
            )
        )
    for r in failed:
        actions.append(
            Action(
                kind=ActionKind.FIX,
                scope=m.name,
                text=f"Look into the failed retraining of {m.name} ({r.job_uid}: "
                f"{(r.error or r.state)[:ERROR_EXCERPT]})",
                score=FAILED_RETRAIN_SCORE,
            )
        )
    for q in m.quality[:1]:
        actions.append(
            Action(
                kind=ActionKind.FIX,
                scope=m.name,
                text=f"Fix data quality of {m.name}: {q.name} on {q.column} up to "
                f"{_fmt(q.worst)} (limit {_fmt(q.threshold)})",
                score=QUALITY_SCORE + q.alert_runs,
            )
        )
    operations = m.counts.get(CheckKind.OPERATIONS, KindCounts())
    if operations.alert:
        actions.append(
            Action(
                kind=ActionKind.INVESTIGATE,
                scope=m.name,
                text=f"Investigate latency and errors of {m.name} "
                f"({operations.alert} failing operations checks)",
                score=OPERATIONS_SCORE + operations.alert,
            )
        )
    return actions


def _what_failed(perf: PerformanceTrend) -> tuple[str, str]:
    """The figure of the check that failed (realized first), and the failing runs by kind.

    An estimate that failed is quoted as the estimate it is, against its own threshold;
    a realized figure that did not fail follows as context, with its day when labels
    stopped before the week's last performance run (it is not today's figure).
    """
    failed = [r for r in perf.rows if r.alert_runs]
    if not failed:
        # No judged value to quote (rows carry only runs that measured one).
        return "", f"{perf.alert_runs} failing performance checks"
    lead = failed[0]
    if lead.last is None:
        figure = ""
    elif lead.estimated or perf.baseline is None:
        figure = f": {_row_figure(lead)}"
    else:
        figure = f": {lead.metric} {lead.last:.3f} vs baseline {perf.baseline:.3f}{_on(lead)}"
    parts = [f"{r.alert_runs} failing {_checks_of(r)} checks" for r in failed]
    parts.extend(
        f"realized {r.metric} {r.last:.3f}"
        + (f"{_on(r)}, the last labelled window" if r.stale else " within its threshold")
        for r in perf.rows
        if not r.estimated and not r.alert_runs and r.last is not None
    )
    return figure, "; ".join(parts)


def _row_figure(row: PerformanceRow) -> str:
    """The row's last figure against its threshold: "estimated rmse 8.38 above threshold
    6.86", three significant digits as the alert prints them."""
    label = "estimated " if row.estimated else ""
    text = f"{label}{row.metric} {_fmt(row.last)}"
    if row.threshold is not None:
        side = _beyond(row)
        bound = _fmt(row.threshold)
        text += f" {side} threshold {bound}" if side else f" (threshold {bound})"
    return text + _on(row)


def _beyond(row: PerformanceRow) -> str | None:
    """The side of its threshold ("above", "below") the last figure lies on, if it alerts."""
    if row.last is None or row.threshold is None:
        return None
    try:
        side = alerts_when(Metric(row.metric))
    except ValueError:
        return None
    if side is Direction.ABOVE:
        return "above" if row.last > row.threshold else None
    return "below" if row.last < row.threshold else None


def _on(row: PerformanceRow) -> str:
    return f" on {row.day.isoformat()}" if row.stale and row.day is not None else ""


def _checks_of(row: PerformanceRow) -> str:
    return "estimated-performance" if row.estimated else "performance"


def _unchecked(m: ModelWeek, week: Week) -> list[Action]:
    """Predictions stored for the week and not one check run: the command that checks them."""
    if not m.sampled or any(c.runs for c in m.counts.values()):
        return []
    first, last = week.monday + timedelta(days=1), week.monday + timedelta(days=7)
    return [
        Action(
            kind=ActionKind.FIX,
            scope=m.name,
            text=f"Check the week of {m.name}: {m.sampled:,} predictions stored, none checked "
            f"(mlmaint check {m.name} --from {first.isoformat()} --to {last.isoformat()})",
            score=UNCHECKED_SCORE,
        )
    ]


def _superseded(failed: RetrainRow, retrains: Sequence[RetrainRow]) -> bool:
    """A later job of the model succeeded: the failure is history, not a task."""
    return any(r.state == JobState.SUCCEEDED and r.created_at > failed.created_at for r in retrains)


def _framework_actions(frameworks: Sequence[FrameworkEnv]) -> list[Action]:
    actions: list[Action] = []
    # One action per (package, installed, target) across environments. An advisory is
    # counted once, by its first id, however many aliases (PYSEC, GHSA, CVE) it has
    # and however many environments run it.
    upgrades: dict[tuple[str, str, str], tuple[set[str], set[str], int]] = {}
    for env in frameworks:
        for v in env.vulnerable:
            target = v.recommended or "a fixed release"
            # A verified-safe upgrade says so: it was replayed on the model.
            key = (
                v.package,
                v.installed,
                f"{target} (verified safe)" if v.verified_safe else target,
            )
            envs, advisories, weight = upgrades.get(key, (set(), set(), 0))
            envs.add(env.environment)
            if v.advisories:
                advisories.add(v.advisories[0])
            severity = SEVERITY_WEIGHT.get(v.severity, UNKNOWN_SEVERITY_WEIGHT)
            upgrades[key] = (envs, advisories, max(weight, severity))
        for e in env.eol:
            actions.append(
                Action(
                    kind=ActionKind.UPGRADE,
                    scope=env.environment,
                    text=f"Upgrade {e.package} {e.installed} in {env.environment}: {e.detail}",
                    score=UPGRADE_SCORE,
                )
            )
    for (package, installed, target), (envs, advisories, weight) in upgrades.items():
        n = max(len(advisories), 1)
        actions.append(
            Action(
                kind=ActionKind.UPGRADE,
                scope=", ".join(sorted(envs)),
                text=f"Upgrade {package} from {installed} to {target} to clear {n} "
                f"advisor{'y' if n == 1 else 'ies'} ({', '.join(sorted(envs))})",
                score=UPGRADE_SCORE + UPGRADE_SEVERITY_SCORE * weight + n,
            )
        )
    return actions


def _daemon_actions(daemon: DaemonHealth) -> list[Action]:
    actions: list[Action] = []
    dead = daemon.notifications.get(NotificationState.DEAD, 0)
    if dead:
        actions.append(
            Action(
                kind=ActionKind.FIX,
                scope="mlmaint",
                text=f"Fix notification delivery: {dead} notification(s) undeliverable",
                score=DEAD_NOTIFICATIONS_SCORE,
            )
        )
    for job_id, error in daemon.failing:
        actions.append(
            Action(
                kind=ActionKind.FIX,
                scope="mlmaint",
                text=f"Job {job_id} failed its last run"
                + (f": {error[:ERROR_EXCERPT]}" if error else ""),
                score=FAILED_JOB_SCORE,
            )
        )
    return actions


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}"
