"""A week of store rows for the report's tests and benchmark: several models, every table.

Rows are written with Core executemany inserts, so 50 models of hourly checks
(~34k runs, ~300k metrics) load in seconds. Values follow what the checks write
(checks/drift/, quality.py, performance/, operations.py): metric names,
summaries and statuses, so the gatherer is exercised on realistic shapes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import Status
from daemon.report.weeks import Week
from daemon.store.tables import (
    Alert,
    AlertState,
    CheckMetric,
    CheckRun,
    FrameworkFinding,
    IngestCount,
    JobHistory,
    JobRun,
    Model,
    Notification,
    NotificationState,
    RejectedRow,
    RetrainJob,
)
from retrain.interface import JobState

XSS = "<script>alert(1)</script>"
FEATURES = ("tenure_months", "monthly_charges", "support_calls", "usage_gb", "plan", "region")


@dataclass(frozen=True)
class Seeded:
    models: tuple[str, ...]
    runs: int
    metrics: int


def seed_week(
    sessions: sessionmaker[Session],
    week: Week,
    *,
    models: int = 3,
    every: timedelta = timedelta(hours=1),
    evidence_dir: Path | None = None,
    seed: int = 1,
) -> Seeded:
    rng = random.Random(seed)
    names = tuple(f"model-{i:02d}" for i in range(models))
    rows = _Rows()
    steps = int((week.end - week.start) / every)
    with sessions() as session, session.begin():
        model_ids = {}
        for name in names:
            m = Model(name=name, created_at=week.start - timedelta(days=30), current_version="3")
            session.add(m)
            session.flush()
            model_ids[name] = m.id
    for index, name in enumerate(names):
        mid = model_ids[name]
        # model-00 drifts from mid-week and decays; model-01 has a quality problem.
        features = (*FEATURES, XSS) if index == 0 else FEATURES
        for step in range(steps):
            end = week.start + every * (step + 1)
            frac = step / max(steps - 1, 1)
            drifting = index == 0 and frac > 0.4

            # drift: wasserstein per numeric column, jensenshannon per categorical
            scores = {}
            for f in features:
                drifted = drifting and f in ("monthly_charges", "usage_gb", XSS)
                base = 0.35 if drifted else 0.03
                scores[f] = base + rng.random() * 0.05
            drifted_cols = [f for f, s in scores.items() if s > 0.1]
            share = len(drifted_cols) / len(features)
            evidence = None
            if drifted_cols and evidence_dir is not None and step % 24 == 23:
                evidence_dir.mkdir(parents=True, exist_ok=True)
                path = evidence_dir / f"{name}-{step}.html"
                path.write_text("<html><body>evidence</body></html>")
                evidence = str(path)
            rid = rows.run(
                mid,
                end,
                "drift",
                Status.ALERT if drifted_cols else Status.OK,
                {
                    "drifted_columns": drifted_cols,
                    "share": share,
                    "weighted_share": share,
                    "dataset_drift": share >= 0.5,
                },
                evidence,
            )
            for f, s in scores.items():
                method = "jensenshannon" if f in ("plan", "region") else "wasserstein"
                rows.metric(
                    rid,
                    f,
                    method,
                    s,
                    0.1,
                    s > 0.1,
                    "Jensen-Shannon distance"
                    if method == "jensenshannon"
                    else "Wasserstein distance (normed)",
                )
            rows.metric(
                rid,
                "dataset",
                "drifted_share",
                share,
                0.5,
                share >= 0.5,
                f"{len(drifted_cols)} of {len(features)} columns drifted",
            )
            # quality
            missing = 0.12 if index == 1 and step % 3 == 0 else 0.01
            rid = rows.run(
                mid,
                end,
                "quality",
                Status.ALERT if missing > 0.06 else Status.OK,
                {"problems": []},
            )
            for f in features:
                rows.metric(
                    rid,
                    f,
                    "missing_share",
                    missing if f == "usage_gb" else 0.0,
                    0.06,
                    f == "usage_gb" and missing > 0.06,
                    "reference 0.0100",
                )
            # estimated performance every hour; realized once a day (labels lag)
            auc = 0.82 - (0.1 * (frac - 0.4) if drifting else 0.0) + rng.random() * 0.01
            rid = rows.run(
                mid,
                end,
                "estimated_performance",
                Status.ALERT if auc < 0.779 else Status.OK,
                {"metric": "roc_auc", "estimated": auc, "baseline": 0.82},
            )
            rows.metric(rid, "roc_auc", "estimated", auc, 0.779, auc < 0.779, "baseline 0.8200")
            rows.metric(rid, "roc_auc", "baseline", 0.82)
            if step % 24 == 12:
                real = auc - 0.01
                rid = rows.run(
                    mid,
                    end,
                    "performance",
                    Status.ALERT if real < 0.779 else Status.OK,
                    {"metric": "roc_auc", "value": real, "baseline": 0.82, "labelled": 900},
                )
                rows.metric(rid, "roc_auc", "value", real, 0.779, real < 0.779, "baseline 0.8200")
                rows.metric(rid, "roc_auc", "baseline", 0.82)
            # operations
            p95 = 40 + 10 * math.sin(step / 12) + rng.random() * 5
            err = 0.004 + rng.random() * 0.002
            rid = rows.run(mid, end, "operations", Status.OK, {"latency.p95_ms": p95})
            rows.metric(rid, "latency", "p50_ms", p95 / 2)
            rows.metric(rid, "latency", "p95_ms", p95, 250, False)
            rows.metric(rid, "errors", "error_rate", err, 0.05, False)
    with sessions() as session, session.begin():
        for i in range(0, len(rows.runs), 5000):
            session.execute(insert(CheckRun), rows.runs[i : i + 5000])
        for i in range(0, len(rows.metrics), 20000):
            session.execute(insert(CheckMetric), rows.metrics[i : i + 20000])
        _others(session, week, names, model_ids)
    return Seeded(models=names, runs=len(rows.runs), metrics=len(rows.metrics))


class _Rows:
    def __init__(self) -> None:
        self.runs: list[dict[str, object]] = []
        self.metrics: list[dict[str, object]] = []

    def run(
        self,
        model_id: int,
        end: datetime,
        kind: str,
        status: Status,
        summary: dict[str, object],
        evidence: str | None = None,
    ) -> int:
        run_id = len(self.runs) + 1
        self.runs.append(
            {
                "id": run_id,
                "model_id": model_id,
                "kind": kind,
                "status": status,
                "window_start": end - timedelta(days=1),
                "window_end": end,
                "ran_at": end,
                "duration_s": 0.2,
                "rows": 1500,
                "summary": summary,
                "model_version": "3",
                "evidence_path": evidence,
            }
        )
        return run_id

    def metric(
        self,
        run_id: int,
        subject: str,
        name: str,
        value: float | None,
        threshold: float | None = None,
        alerting: bool = False,
        detail: str | None = None,
    ) -> None:
        self.metrics.append(
            {
                "run_id": run_id,
                "subject": subject,
                "name": name,
                "value": value,
                "threshold": threshold,
                "alerting": alerting,
                "detail": detail,
            }
        )


def _others(
    session: Session, week: Week, names: tuple[str, ...], model_ids: dict[str, int]
) -> None:
    mid = week.start + timedelta(days=3)
    first = names[0]
    session.add_all(
        [
            Alert(
                fingerprint=f"fp-{first}-drift",
                scope=first,
                kind="drift",
                subject=XSS,
                state=AlertState.FIRING,
                severity="warning",
                summary=f"{XSS} drifted: wasserstein 0.38 > 0.1",
                details={},
                first_fired_at=mid,
                last_fired_at=mid,
                last_seen_at=week.end - timedelta(hours=1),
                resolved_at=None,
                last_notified_at=mid,
                fire_count=1,
            ),
            Alert(
                fingerprint=f"fp-{first}-ops",
                scope=first,
                kind="operations",
                subject="errors",
                state=AlertState.RESOLVED,
                severity="critical",
                summary="error rate 0.07 > 0.05",
                details={},
                first_fired_at=week.start + timedelta(hours=5),
                last_fired_at=week.start + timedelta(hours=5),
                last_seen_at=week.start + timedelta(hours=9),
                resolved_at=week.start + timedelta(hours=9),
                last_notified_at=week.start + timedelta(hours=9),
                fire_count=1,
            ),
            RetrainJob(
                job_uid="rt-20260101-abc",
                model_id=model_ids[first],
                trigger="drift_and_decay",
                state=JobState.SUCCEEDED,
                executor="local",
                spec={},
                outcome={
                    "registered_version": "4",
                    "champion_version": "3",
                    "metric": "roc_auc",
                    "champion_score": 0.741,
                    "challenger_score": 0.733,
                    "promoted": False,
                    "reason": "challenger roc_auc 0.733 does not beat champion 0.741",
                },
                created_at=mid + timedelta(hours=2),
                started_at=mid + timedelta(hours=2),
                finished_at=mid + timedelta(hours=3),
                registered_version="4",
                promoted=False,
            ),
            FrameworkFinding(
                environment="serving",
                package="torch",
                installed="2.5.1",
                kind="vulnerable",
                severity="critical",
                advisory_ids={"ids": ["GHSA-53q9-r3pm-6pq6", "PYSEC-2025-41"]},
                recommended="2.6.0",
                detail="torch.load with weights_only=True can still run code",
                scanned_at=mid,
                first_seen_at=mid,
            ),
            FrameworkFinding(
                environment="serving",
                package="scikit-learn",
                installed="1.3.2",
                kind="minor_behind",
                severity="info",
                advisory_ids={},
                recommended="1.7.2",
                detail="4 minor releases behind",
                scanned_at=mid,
                first_seen_at=mid,
            ),
            FrameworkFinding(
                environment="serving",
                package="python",
                installed="3.9.18",
                kind="python_eol",
                severity="warning",
                advisory_ids={},
                recommended="3.12",
                detail="Python 3.9 reaches end of life on 2025-10-31",
                scanned_at=mid,
                first_seen_at=mid,
            ),
            JobRun(
                job_id="checks:" + first,
                last_started_at=week.end - timedelta(hours=1),
                last_finished_at=week.end - timedelta(hours=1),
                last_success_at=week.end - timedelta(hours=1),
                last_status="ok",
                last_error=None,
                last_duration_s=0.8,
                runs=168,
                failures=0,
            ),
            JobRun(
                job_id="frameworks",
                last_started_at=mid,
                last_finished_at=mid,
                last_success_at=mid - timedelta(days=1),
                last_status="failed",
                last_error="package index unreachable: ConnectError",
                last_duration_s=3.0,
                runs=7,
                failures=1,
            ),
            Notification(
                channel="slack",
                kind="firing",
                scope=first,
                payload={},
                state=NotificationState.DEAD,
                created_at=mid,
                next_attempt_at=mid,
                attempts=6,
                last_error="slack: 404 channel_not_found",
            ),
            Notification(
                channel="email",
                kind="firing",
                scope=first,
                payload={},
                state=NotificationState.SENT,
                created_at=mid,
                next_attempt_at=mid,
                attempts=1,
                sent_at=mid,
            ),
            RejectedRow(
                model_id=model_ids[first],
                stream="predictions",
                reason="type",
                detail="monthly_charges: 'n/a' is not a number",
                raw='{"monthly_charges": "n/a"}',
                received_at=mid,
            ),
        ]
    )
    session.execute(
        insert(IngestCount),
        [
            {
                "model_id": model_ids[n],
                "day": day.isoformat(),
                "stream": "predictions",
                "outcome": outcome,
                "count": count,
            }
            for n in names
            for day in week.days
            for outcome, count in (("sampled", 1500), ("rejected:type", 3))
        ],
    )
    # The runs behind the job_runs rows above: hourly checks, and a framework scan
    # every twelve hours whose last run in the week failed.
    session.execute(
        insert(JobHistory),
        [
            {
                "job_id": "checks:" + first,
                "stage": "checks",
                "model": first,
                "started_at": week.start + timedelta(hours=h),
                "finished_at": week.start + timedelta(hours=h, seconds=1),
                "duration_s": 0.8,
                "outcome": "ok",
                "error": None,
            }
            for h in range(168)
        ]
        + [
            {
                "job_id": "frameworks",
                "stage": "frameworks",
                "model": None,
                "started_at": mid - timedelta(hours=12 * (6 - d)),
                "finished_at": mid - timedelta(hours=12 * (6 - d)),
                "duration_s": 3.0,
                "outcome": "failed" if d == 6 else "ok",
                "error": "package index unreachable: ConnectError" if d == 6 else None,
            }
            for d in range(7)
        ],
    )
