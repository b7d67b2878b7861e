"""The page's store reads: models, their check history, alerts, jobs and findings.

The report's queries serve where they fit (models, pins, retrain jobs,
framework findings, over the whole history instead of a week). The charts read
plain columns in three passes: the runs in each model's span (ids, kinds,
times, statuses), a bounded selection of them (`thin`), then the measures of
the selected runs only, so a model checked every minute for a month costs a
scan of its run ids, not of its millions of measures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from checks.interface import LABEL, PREDICTION, SCORE, CheckKind, Status
from daemon.api.page.data import (
    AlertView,
    FeatureDrift,
    KindStatus,
    ModelView,
    PageData,
    PerformanceTrend,
    Point,
)
from daemon.api.page.versions import known_versions
from daemon.api.v1_queries import clean_scan
from daemon.config import ModelSettings, Settings, Severity
from daemon.report import queries
from daemon.report.model import Health, RetrainRow
from daemon.report.queries import MetricRow
from daemon.store.tables import Alert, AlertState, CheckMetric, CheckRun
from daemon.store.versions import stored_versions

# How far back from a model's latest run its charts reach.
HISTORY = timedelta(days=30)
# Points per chart line on the overview; a model's own page shows more.
OVERVIEW_POINTS = 90
MODEL_POINTS = 240
# Features charted per model on the overview (worst first); the model's page has all.
OVERVIEW_FEATURES = 8
# Points the overview draws in all, about 300 bytes each: with many models each line
# gets fewer points (never under MIN_POINTS), so 50 models stay a page of a few MB.
OVERVIEW_BUDGET = 15_000
MIN_POINTS = 24
# Retrain jobs listed per model, newest first.
JOBS_SHOWN = 12
CHART_KINDS = (CheckKind.DRIFT, CheckKind.PERFORMANCE, CheckKind.ESTIMATED_PERFORMANCE)
PERFORMANCE_KINDS = (CheckKind.PERFORMANCE.value, CheckKind.ESTIMATED_PERFORMANCE.value)
# The headline performance measures: realized, estimated, and what they are judged against.
REALIZED, ESTIMATED, BASELINE = "value", "estimated", "baseline"
# The drift run's dataset-level measure, not a feature.
DATASET = "dataset"
# Bound parameters per IN list: under every backend's limit.
_CHUNK = 900


@dataclass(frozen=True)
class Period:
    """A span for the report's queries."""

    start: datetime
    end: datetime


ALL_TIME = Period(datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, kw_only=True)
class RunRef:
    id: int
    at: datetime
    alerting: bool


def thin(runs: Sequence[RunRef], limit: int) -> tuple[RunRef, ...]:
    """At most `limit` of the runs (oldest first), spread evenly over their time span.

    Each of `limit` equal slices of time keeps its latest alerting run, else its
    latest run: a spike stays on the chart, and the latest run is always kept.
    Every point drawn is still one stored run's value.
    """
    if len(runs) <= limit:
        return tuple(runs)
    first, last = runs[0].at, runs[-1].at
    width = (last - first) / limit
    kept: dict[int, RunRef] = {}
    for run in runs:
        index = min(int((run.at - first) / width), limit - 1) if width else 0
        held = kept.get(index)
        if held is None or run.alerting or not held.alerting:
            kept[index] = run
    chosen = sorted(kept.values(), key=lambda r: (r.at, r.id))
    if chosen[-1].id != runs[-1].id:
        chosen[-1] = runs[-1]
    return tuple(chosen)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _latest_statuses(session: Session, ids: Sequence[int]) -> dict[int, list[KindStatus]]:
    latest = (
        select(CheckRun.model_id, CheckRun.kind, func.max(CheckRun.window_end).label("end"))
        .where(CheckRun.model_id.in_(ids), CheckRun.segment.is_(None))
        .group_by(CheckRun.model_id, CheckRun.kind)
        .subquery()
    )
    rows = session.execute(
        select(CheckRun.model_id, CheckRun.kind, CheckRun.status, CheckRun.window_end)
        .join(
            latest,
            and_(
                CheckRun.model_id == latest.c.model_id,
                CheckRun.kind == latest.c.kind,
                CheckRun.window_end == latest.c.end,
                CheckRun.segment.is_(None),
            ),
        )
        .order_by(CheckRun.model_id, CheckRun.kind, CheckRun.id)
    )
    found: dict[int, dict[str, KindStatus]] = defaultdict(dict)
    for model_id, kind, status, end in rows:
        found[model_id][kind] = KindStatus(kind=kind, status=str(status), at=end)
    order = {k.value: i for i, k in enumerate(CheckKind)}
    return {
        mid: sorted(kinds.values(), key=lambda s: order.get(s.kind, len(order)))
        for mid, kinds in found.items()
    }


def _chart_runs(
    session: Session, ids: Sequence[int], statuses: Mapping[int, Sequence[KindStatus]], limit: int
) -> dict[tuple[int, str], tuple[tuple[RunRef, ...], int]]:
    """Per (model, kind), the runs the charts draw (those in the model's span, thinned)
    and how many runs the span holds."""
    charted = {k.value for k in CHART_KINDS}
    cutoffs = {
        mid: max(s.at for s in kinds if s.kind in charted) - HISTORY
        for mid, kinds in statuses.items()
        if any(s.kind in charted for s in kinds)
    }
    if not cutoffs:
        return {}
    rows = session.execute(
        select(CheckRun.id, CheckRun.model_id, CheckRun.kind, CheckRun.status, CheckRun.window_end)
        .where(
            CheckRun.model_id.in_(list(cutoffs)),
            CheckRun.kind.in_(charted),
            CheckRun.window_end >= min(cutoffs.values()),
            CheckRun.segment.is_(None),
        )
        .order_by(CheckRun.window_end, CheckRun.id)
    )
    runs: dict[tuple[int, str], list[RunRef]] = defaultdict(list)
    for rid, mid, kind, status, end in rows:
        if end >= cutoffs[mid]:
            runs[(mid, kind)].append(RunRef(id=rid, at=end, alerting=status == Status.ALERT))
    return {key: (thin(found, limit), len(found)) for key, found in runs.items()}


def _measures(session: Session, run_ids: Sequence[int]) -> dict[int, list[MetricRow]]:
    by_run: dict[int, list[MetricRow]] = defaultdict(list)
    for chunk in _chunks(run_ids):
        rows = session.execute(
            select(CheckMetric.run_id, *queries.METRIC_COLUMNS)
            .where(CheckMetric.run_id.in_(chunk))
            .order_by(CheckMetric.id)
        )
        for run_id, *metric in rows:
            by_run[run_id].append(queries.metric_row(*metric))
    return by_run


def _headlines(session: Session, run_ids: Sequence[int]) -> dict[int, str]:
    """The headline metric each performance run judged (its summary's "metric")."""
    found: dict[int, str] = {}
    for chunk in _chunks(run_ids):
        for rid, summary in session.execute(
            select(CheckRun.id, CheckRun.summary).where(CheckRun.id.in_(chunk))
        ):
            metric = summary.get("metric") if isinstance(summary, dict) else None
            if isinstance(metric, str):
                found[rid] = metric
    return found


def _point(run: RunRef, m: MetricRow) -> Point | None:
    if m.value is None:
        return None
    return Point(
        at=run.at, value=m.value, threshold=m.threshold, alerting=m.alerting, run_id=run.id
    )


def _drift(
    runs: Iterable[RunRef], measures: Mapping[int, list[MetricRow]], outputs: frozenset[str]
) -> list[FeatureDrift]:
    points: dict[str, list[Point]] = defaultdict(list)
    latest: dict[str, MetricRow] = {}
    for run in runs:
        for m in measures.get(run.id, ()):
            if m.subject == DATASET:
                continue
            point = _point(run, m)
            if point is not None:
                points[m.subject].append(point)
                latest[m.subject] = m
    features = [
        FeatureDrift(
            feature=subject,
            method=latest[subject].name,
            detail=latest[subject].detail,
            basis=latest[subject].basis,
            points=tuple(found),
            output=subject in outputs,
        )
        for subject, found in points.items()
    ]
    features.sort(key=lambda f: (not f.drifted, -f.ratio, f.feature))
    return features


def _outputs(model: ModelSettings | None) -> frozenset[str]:
    """The drift subjects that are the model's outputs: the drift check names them by
    the window's reserved columns (daemon/checking/specs.py output_columns)."""
    features = set(model.schema_.features) if model is not None else set()
    return frozenset({PREDICTION, SCORE, LABEL} - features)


def _performance(
    realized_runs: Sequence[RunRef],
    estimated_runs: Sequence[RunRef],
    measures: Mapping[int, list[MetricRow]],
    headlines: Mapping[int, str],
) -> PerformanceTrend:
    latest = max(
        (r for r in (*realized_runs, *estimated_runs) if r.id in headlines),
        key=lambda r: (r.at, r.id),
        default=None,
    )
    if latest is None:
        return PerformanceTrend(metric=None, realized=(), estimated=(), baseline=None)
    metric = headlines[latest.id]
    baseline: tuple[datetime, float] | None = None

    def series(runs: Sequence[RunRef], name: str) -> tuple[Point, ...]:
        nonlocal baseline
        out = []
        for run in runs:
            if headlines.get(run.id) != metric:
                continue
            for m in measures.get(run.id, ()):
                if m.subject != metric:
                    continue
                if m.name == BASELINE and m.value is not None:
                    if baseline is None or run.at >= baseline[0]:
                        baseline = (run.at, m.value)
                elif m.name == name:
                    point = _point(run, m)
                    if point is not None:
                        out.append(point)
        return tuple(out)

    realized = series(realized_runs, REALIZED)
    estimated = series(estimated_runs, ESTIMATED)
    return PerformanceTrend(
        metric=metric,
        realized=realized,
        estimated=estimated,
        baseline=None if baseline is None else baseline[1],
    )


def _alert_view(a: Alert) -> AlertView:
    return AlertView(
        id=a.id,
        scope=a.scope,
        kind=a.kind,
        subject=a.subject,
        severity=a.severity,
        summary=a.summary,
        first_fired_at=a.first_fired_at,
        last_fired_at=a.last_fired_at,
        fire_count=a.fire_count,
        acked_until=a.acked_until,
    )


def firing(session: Session, scope: str | None = None) -> tuple[AlertView, ...]:
    query = select(Alert).where(Alert.state == AlertState.FIRING)
    if scope is not None:
        query = query.where(Alert.scope == scope)
    rows = session.scalars(query.order_by(Alert.scope, Alert.kind, Alert.subject, Alert.id))
    # Loudest first (Severity lists them quietest first), then by model and check.
    loudness = {s.value: -i for i, s in enumerate(Severity)}
    return tuple(sorted((_alert_view(a) for a in rows), key=lambda a: loudness.get(a.severity, 1)))


def _health(statuses: Sequence[KindStatus], alerts: Sequence[AlertView]) -> Health:
    if alerts or any(s.status == Status.ALERT for s in statuses):
        return Health.ALERTING
    if any(s.status in (Status.ERROR, Status.INSUFFICIENT_DATA) for s in statuses):
        return Health.DEGRADED
    return Health.HEALTHY if statuses else Health.NO_DATA


def read_page(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    model: str | None = None,
    points: int = OVERVIEW_POINTS,
    budget: int | None = None,
) -> PageData:
    """Everything the page shows; with `model`, that model alone (no framework findings).

    `points` bounds each chart line; `budget` the points of all models' lines together.
    """
    stored = {name: (mid, version) for mid, name, version in queries.models(session)}
    configured = {m.name: m for m in settings.models}
    names = sorted(set(stored) | set(configured))
    if model is not None:
        names = [n for n in names if n == model]
    if budget is not None and names:
        # Per model: its drift features and the two performance lines.
        share = budget // (len(names) * (OVERVIEW_FEATURES + 2))
        points = max(MIN_POINTS, min(points, share))
    ids = [stored[n][0] for n in names if n in stored]
    statuses = _latest_statuses(session, ids) if ids else {}
    charted = _chart_runs(session, ids, statuses, points)
    selected = sorted({r.id for found, _ in charted.values() for r in found})
    measures = _measures(session, selected)
    performance_ids = [
        r.id
        for (_, kind), (found, _) in charted.items()
        if kind in PERFORMANCE_KINDS
        for r in found
    ]
    headlines = _headlines(session, performance_ids)
    alerts = firing(session, model)
    jobs = queries.retrains(session, ALL_TIME) if ids else {}
    pins = queries.pins(session, now) if ids else {}
    registered = stored_versions(session, ids)

    views = []
    for name in names:
        mid, version = stored.get(name, (None, None))
        settings_of = configured.get(name)

        def runs(kind: CheckKind, mid: int | None = mid) -> tuple[RunRef, ...]:
            return charted.get((mid, kind.value), ((), 0))[0] if mid is not None else ()

        drift_runs = runs(CheckKind.DRIFT)
        drift_total = (
            charted.get((mid, CheckKind.DRIFT.value), ((), 0))[1] if mid is not None else 0
        )
        everything = [*drift_runs, *runs(CheckKind.PERFORMANCE)]
        everything.extend(runs(CheckKind.ESTIMATED_PERFORMANCE))
        model_alerts = tuple(a for a in alerts if a.scope == name)
        model_statuses = tuple(statuses.get(mid, ())) if mid is not None else ()
        model_jobs: list[RetrainRow] = sorted(
            jobs.get(mid, []) if mid is not None else [],
            key=lambda j: j.created_at,
            reverse=True,
        )
        views.append(
            ModelView(
                name=name,
                version=version,
                alias=settings_of.retrain.alias if settings_of else "champion",
                retrain_enabled=settings_of.retrain.enabled if settings_of else None,
                pin=pins.get(mid) if mid is not None else None,
                health=_health(model_statuses, model_alerts),
                statuses=model_statuses,
                drift=tuple(_drift(drift_runs, measures, _outputs(settings_of))),
                drift_runs=drift_total,
                drift_shown=len(drift_runs),
                performance=_performance(
                    runs(CheckKind.PERFORMANCE),
                    runs(CheckKind.ESTIMATED_PERFORMANCE),
                    measures,
                    headlines,
                ),
                alerts=model_alerts,
                jobs=tuple(model_jobs[:JOBS_SHOWN]),
                versions=known_versions(
                    version,
                    pins.get(mid) if mid is not None else None,
                    model_jobs,
                    registered.get(mid, ()) if mid is not None else (),
                ),
                start=min((r.at for r in everything), default=None),
                end=max((r.at for r in everything), default=None),
            )
        )
    return PageData(
        generated_at=now,
        history=HISTORY,
        models=tuple(views),
        alerts=alerts,
        frameworks=queries.frameworks(session, ALL_TIME) if model is None else (),
        frameworks_scanned_at=clean_scan(session) if model is None else None,
    )
