"""Read one week from the store into a WeekReport: what the report says, nothing rendered.

The assembler: daemon/report/queries.py reads the week in one session,
figures.py derives each model's series and health, actions.py ranks what to do,
and the result is the frozen data of model.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from checks.interface import CheckKind
from daemon.alerts.finding import StageKind
from daemon.config import Settings
from daemon.links import evidence_url
from daemon.report import figures, queries, segments, verified
from daemon.report.actions import recommend
from daemon.report.daemon_health import daemon_health
from daemon.report.model import (
    AlertRow,
    DecisionRow,
    Evidence,
    Health,
    ModelWeek,
    PinRow,
    RetrainRow,
    SegmentRow,
    WeekReport,
)
from daemon.report.queries import ERROR_RATE_NAMES, LATENCY_NAMES, RunRow
from daemon.report.weeks import Week
from daemon.store.tables import AlertState

# The newest evidence pages a model's section links to.
EVIDENCE_SHOWN = 10
# Models in the report: alerting first, healthy last, by name within each.
HEALTH_ORDER = {Health.ALERTING: 0, Health.DEGRADED: 1, Health.NO_DATA: 2, Health.HEALTHY: 3}


def gather(session: Session, settings: Settings, week: Week, now: datetime) -> WeekReport:
    """Everything the report of `week` shows, read in one session."""
    models = queries.models(session)
    names = {mid: name for mid, name, _ in models}
    runs = queries.load_runs(session, week)
    alerts = queries.alerts(session, week)
    retrains = queries.retrains(session, week)
    decisions = queries.decisions(session, week)
    pins = queries.pins(session, now)
    ingest = queries.ingest_by_model(session, week)
    stored = queries.stored_by_model(session, week, names)
    segment_weeks = segments.segment_weeks(session, week)

    def sampled_of(mid: int) -> int:
        # The stored rows by their own time; the ingest counters (by day of ingestion)
        # stand in once retention has purged the week's rows.
        return stored.get(mid) or ingest.get(mid, (0, {}))[0]

    configured = {m.name for m in settings.models}
    out = []
    for mid, name, version in models:
        model_runs = runs.get(mid, [])
        if (
            not model_runs
            and name not in configured
            and name not in alerts
            and name not in decisions
            and mid not in pins
        ):
            continue
        rejected = ingest.get(mid, (0, {}))[1]
        out.append(
            _model_week(
                settings,
                week,
                name=name,
                version=version,
                runs=model_runs,
                alerts=tuple(alerts.get(name, ())),
                retrains=tuple(retrains.get(mid, ())),
                decisions=tuple(decisions.get(name, ())),
                pin=pins.get(mid),
                sampled=sampled_of(mid),
                rejected=rejected,
                configured=name in configured,
                segments=segment_weeks.get(mid, ()),
            )
        )
    out.sort(key=lambda m: (HEALTH_ORDER[m.health], m.name))
    verifications = verified.verifications(session, week)
    frameworks = verified.verified_frameworks(queries.frameworks(session, week), verifications)
    daemon = replace(
        daemon_health(session, week, names, now), sampled=sum(sampled_of(m) for m in names)
    )
    health_counts = {h.value: sum(1 for m in out if m.health is h) for h in Health}
    return WeekReport(
        week=week,
        generated_at=now,
        models=tuple(out),
        frameworks=frameworks,
        daemon=daemon,
        actions=recommend(out, frameworks, daemon, week),
        health_counts=health_counts,
        verifications=verifications,
    )


def _model_week(
    settings: Settings,
    week: Week,
    *,
    name: str,
    version: str | None,
    runs: Sequence[RunRow],
    alerts: tuple[AlertRow, ...],
    retrains: tuple[RetrainRow, ...],
    decisions: tuple[DecisionRow, ...],
    pin: PinRow | None,
    sampled: int,
    rejected: Mapping[str, int],
    configured: bool,
    segments: tuple[SegmentRow, ...] = (),
) -> ModelWeek:
    by_kind: dict[str, list[RunRow]] = defaultdict(list)
    for run in runs:
        by_kind[run.kind].append(run)
    counts = figures.kind_counts(runs)
    drift_share, drift_threshold, drifting = figures.drift_figures(week, by_kind[CheckKind.DRIFT])
    operations = by_kind[CheckKind.OPERATIONS]
    latency, latency_threshold = figures.operations_series(week, operations, LATENCY_NAMES)
    errors, error_threshold = figures.operations_series(week, operations, ERROR_RATE_NAMES)
    firing = sum(1 for a in alerts if a.state is AlertState.FIRING)
    return ModelWeek(
        name=name,
        version=version,
        health=figures.model_health(counts, firing),
        counts=counts,
        drift_share=drift_share,
        drift_threshold=drift_threshold,
        drifting=drifting,
        drift_policy=figures.drift_policy(
            settings.model(name), week, ran=len(by_kind[CheckKind.DRIFT])
        )
        if configured
        else None,
        performance=figures.performance_trend(
            week, by_kind[CheckKind.PERFORMANCE], by_kind[CheckKind.ESTIMATED_PERFORMANCE]
        ),
        quality=figures.quality_issues(by_kind[CheckKind.QUALITY]),
        latency_p95=latency,
        latency_threshold=latency_threshold,
        error_rate=errors,
        error_threshold=error_threshold,
        alerts=alerts,
        retrains=retrains,
        evidence=tuple(
            Evidence(
                run_id=r.id,
                kind=r.kind,
                window_end=r.window_end,
                filename=r.evidence_path.replace("\\", "/").rsplit("/", 1)[-1],
                url=evidence_url(settings.report.base_url, r.id),
            )
            for r in runs
            if r.evidence_path
        )[-EVIDENCE_SHOWN:],
        sampled=sampled,
        rejected=rejected,
        decisions=decisions,
        pin=pin,
        # A model no longer in the config keeps the plain advice: nothing says it may not.
        retrain_enabled=not configured or settings.model(name).retrain.enabled,
        segments=segments,
        unmonitored=next(
            (
                a.summary
                for a in alerts
                if a.kind == StageKind.MONITORING and a.state is AlertState.FIRING
            ),
            None,
        ),
    )
