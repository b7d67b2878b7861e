"""`mlmaint status`: the same picture /healthz and /metrics give, read from the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from daemon.service_models import ModelSummary, model_summaries
from daemon.store.engine import safe_url
from daemon.tables import utc_text

if TYPE_CHECKING:
    from daemon.checking.queue_status import QueueStatus
    from daemon.store_state import StoreState

EX_UNAVAILABLE = 69


def _decision_lines(engine: Engine, now: datetime) -> list[str]:
    """Pins (what a person decided) and models no check can see (no reference)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from daemon.alerts.finding import StageKind
    from daemon.retraining.pins import pin_of
    from daemon.store.tables import Alert, AlertState, Model

    with Session(engine) as session:
        rows = session.scalars(
            select(Model).where(Model.pinned_version.is_not(None)).order_by(Model.name)
        )
        pins = [pin for pin in map(pin_of, rows) if pin is not None]
        unmonitored = session.execute(
            select(Alert.scope, Alert.summary, Alert.first_fired_at)
            .where(Alert.state == AlertState.FIRING, Alert.kind == StageKind.MONITORING.value)
            .order_by(Alert.scope)
        ).all()
    lines = []
    for pin in pins:
        since = f"since {pin.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC by {pin.by or 'unknown'}"
        if pin.until is None:
            lines.append(
                f"{pin.model}: pinned to version {pin.version} {since}, "
                f"until `mlmaint retrain unpin {pin.model}`"
            )
        elif pin.holds(now):
            lines.append(
                f"{pin.model}: pinned to version {pin.version} {since}, "
                f"until {pin.until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
            )
        else:
            lines.append(
                f"{pin.model}: pin to version {pin.version} expired at "
                f"{pin.until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({since})"
            )
    for scope, summary, since in unmonitored:
        lines.append(
            f"{scope}: NOT MONITORED since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {summary}"
        )
    return lines


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pin_cell(summary: ModelSummary, now: datetime) -> str:
    pin = summary.pin
    if pin is None:
        return "-"
    if not pin.holds(now):
        return f"{pin.version}, expired"
    if pin.until is None:
        return f"{pin.version} until unpinned"
    return f"{pin.version} until {pin.until.astimezone(UTC):%Y-%m-%d %H:%M}"


def _jobs_cell(summary: ModelSummary) -> str:
    """One line per job, newest first, its time first: a narrow column wraps the end."""
    lines = []
    for job in summary.jobs:
        version = f" v{job.registered_version}" if job.registered_version else ""
        promoted = " promoted" if job.promoted else ""
        lines.append(f"{job.at:%Y-%m-%d %H:%M} {job.state}{version}{promoted}")
    return "\n".join(lines) or "-"


def _counts(state: StoreState) -> dict[str, dict[str, int]]:
    """Per model: rows sampled, rejected (all reasons) and labels joined."""
    counts: dict[str, dict[str, int]] = {}
    for model, stream, outcome, n in state.ingest:
        mine = counts.setdefault(model, {"sampled": 0, "rejected": 0, "labels_joined": 0})
        if stream == "labels" and outcome == "joined":
            mine["labels_joined"] += n
        elif stream != "labels" and outcome == "sampled":
            mine["sampled"] += n
        elif stream != "labels" and outcome.startswith("rejected"):
            mine["rejected"] += n
    return counts


def _queue(engine: Engine, now: datetime) -> QueueStatus | None:
    from sqlalchemy.orm import Session

    from daemon.checking.queue_status import queue_status

    with Session(engine) as session:
        return queue_status(session, now)


def _queue_lines(queue: QueueStatus, now: datetime) -> tuple[str, list[str]]:
    from daemon.checking.queue_status import SENT_NOTE

    heading = (
        f"check queue: {queue.queued} queued, {queue.running} running, "
        f"{queue.failed} given up in the last day; oldest waiting {queue.lag_s:.0f}s"
    )
    items = [SENT_NOTE]
    if queue.workers:
        items += [
            f"worker {w}: {n} run(s) in the last hour, last seen {_when(last)}"
            for w, n, last in queue.workers
        ]
    else:
        items.append("no worker seen in the last hour: is `mlmaint worker --queue checks` up?")
    return heading, items


def status_document(
    engine: Engine,
    leader: str,
    *,
    now: datetime | None = None,
    state: StoreState | None = None,
) -> dict[str, object]:
    """`mlmaint status --format json`: the same picture as the text, as one document."""
    from daemon.store_state import read_state

    now = now or datetime.now(UTC)
    state = state or read_state(engine)
    document: dict[str, object] = {
        "store": safe_url(engine),
        "leader": leader,
        "error": state.error,
    }
    if state.error:
        return document
    counts = _counts(state)
    summaries = model_summaries(engine)
    document["models"] = [
        {
            "name": m.name,
            "serving_version": m.serving_version,
            "pin": None
            if m.pin is None
            else {
                "version": m.pin.version,
                "since": utc_text(m.pin.since),
                "until": utc_text(m.pin.until),
                "by": m.pin.by,
                "holds": m.pin.holds(now),
            },
            **counts.get(m.name, {"sampled": 0, "rejected": 0, "labels_joined": 0}),
            "recent_jobs": [
                {
                    "job_uid": j.job_uid,
                    "state": j.state,
                    "trigger": j.trigger,
                    "created_at": utc_text(j.created_at),
                    "finished_at": utc_text(j.finished_at),
                    "registered_version": j.registered_version,
                    "promoted": j.promoted,
                }
                for j in m.jobs
            ],
        }
        for m in summaries
    ]
    document["jobs"] = [
        {
            "job_id": job.job_id,
            "status": job.status,
            "started_at": utc_text(job.started_at),
            "success_at": utc_text(job.success_at),
            "duration_s": job.duration_s,
            "runs": job.runs,
            "failures": job.failures,
            "error": job.error,
        }
        for job in state.jobs
    ]
    document["checks"] = [
        {
            "model": check.model,
            "check": check.kind,
            "status": check.status,
            "ran_at": utc_text(check.ran_at),
            "rows": check.rows,
            "drift_share": check.drift_share if check.kind == "drift" else None,
        }
        for check in state.checks
    ]
    document["alerts_firing"] = [
        {"model": scope, "kind": kind, "severity": severity, "count": n}
        for scope, kind, severity, n in state.alerts_firing
    ]
    document["notes"] = _decision_lines(engine, now)
    document["outbox"] = [
        {"channel": channel, "state": s, "count": n} for channel, s, n in state.outbox
    ]
    queue = _queue(engine, now)
    if queue is not None:
        from daemon.checking.queue_status import SENT_NOTE

        document["check_queue"] = {
            "note": SENT_NOTE,
            "queued": queue.queued,
            "running": queue.running,
            "given_up_last_day": queue.failed,
            "lag_s": round(queue.lag_s, 3),
            "workers_last_hour": [
                {"worker": w, "runs": n, "last_seen": utc_text(last)}
                for w, n, last in queue.workers
            ],
        }
    return document


def format_status(
    engine: Engine,
    leader: str,
    *,
    now: datetime | None = None,
    state: StoreState | None = None,
    width: int | None = None,
) -> str:
    """`mlmaint status`: the same picture /healthz and /metrics give, from the store
    (`state`, read here when not given), its tables fitted to `width`."""
    from daemon.store_state import read_state
    from daemon.tables import Column, render, shorten, wrap

    now = now or datetime.now(UTC)
    state = state or read_state(engine)
    lines = [f"store: {safe_url(engine)}", f"leader: {leader}"]
    if state.error:
        lines.append(f"store unreachable: {state.error}")
        return "\n".join(lines)

    counts = _counts(state)
    summaries = model_summaries(engine)
    lines.append("")
    if summaries:
        lines.append(
            render(
                (
                    Column("model"),
                    Column("serving"),
                    Column("pin"),
                    Column("labels", right=True),
                    Column("recent retrain jobs (UTC)"),
                ),
                [
                    (
                        m.name,
                        m.serving_version or "-",
                        _pin_cell(m, now),
                        str(counts.get(m.name, {}).get("labels_joined", 0)),
                        _jobs_cell(m),
                    )
                    for m in summaries
                ],
                width=width,
            )
        )
    else:
        lines.append("(no model in the store yet)")
    lines.append("")
    queue = _queue(engine, now)
    if state.jobs:
        job_rows = []
        for job in state.jobs:
            secs = "-" if job.duration_s is None else f"{job.duration_s:.2f}"
            last = job.status
            if queue is not None and job.job_id.startswith("checks:") and last == "ok":
                last = "ok (sent)"
            if job.status == "failed" and job.error:
                last = f"failed: {shorten(job.error.splitlines()[-1], 150)}"
            job_rows.append(
                (
                    job.job_id,
                    last,
                    _when(job.started_at),
                    _when(job.success_at),
                    secs,
                    str(job.runs),
                    str(job.failures),
                )
            )
        lines.append(
            render(
                (
                    Column("job"),
                    Column("last", colour=lambda t: "red" if t.startswith("failed") else None),
                    Column("started (UTC)"),
                    Column("last success (UTC)"),
                    Column("secs", right=True),
                    Column("runs", right=True),
                    Column("fail", right=True),
                ),
                job_rows,
                width=width,
            )
        )
    else:
        lines.append("(no job has run yet)")
    lines.append("")
    if state.checks:
        check_rows = []
        for check in state.checks:
            share = check.drift_share if check.kind == "drift" else None
            status = check.status if share is None else f"{check.status}, drift share {share:.2f}"
            check_rows.append(
                (check.model, check.kind, status, _when(check.ran_at), str(check.rows))
            )
        lines.append(
            render(
                (
                    Column("model"),
                    Column("check"),
                    Column("status", colour=lambda t: "red" if t.startswith("alert") else None),
                    Column("window end (UTC)"),
                    Column("rows", right=True),
                ),
                check_rows,
                width=width,
            )
        )
    else:
        lines.append("(no check has run yet)")
    lines.append("")

    # Sections of `heading:` and its items, an item's continuation indented under it.
    def section(heading: str, items: list[str]) -> None:
        lines.append(heading)
        lines.extend(wrap(item, width, indent="  ", hanging="    ") for item in items)

    firing = sum(n for *_, n in state.alerts_firing)
    section(
        f"alerts firing: {firing}",
        [f"{scope}: {kind} ({severity}) x{n}" for scope, kind, severity, n in state.alerts_firing],
    )
    decisions = _decision_lines(engine, now)
    if decisions:
        section("models:", decisions)
    backlog = ", ".join(f"{c} {s} {n}" for c, s, n in state.outbox) or "empty"
    section(f"alert outbox: {backlog}", [])
    if queue is not None:
        section(*_queue_lines(queue, now))
    ingest = [
        f"{model} {stream}: {outcome} {n}"
        for model, stream, outcome, n in state.ingest
        if outcome in ("sampled", "joined") or outcome.startswith("rejected")
    ]
    if ingest:
        lines.append("")
        section("rows received, per model and stream:", ingest)
    return "\n".join(lines)


def status_command(engine: Engine, *, echo: Callable[..., None], fmt: str = "table") -> int:
    """`mlmaint status [--format json]`: the picture, and 69 when the store cannot be read."""
    from daemon.leader import describe_leader
    from daemon.store_state import read_state

    try:
        leader = describe_leader(engine)
    except Exception as exc:  # the store may be down: say so, still print the rest
        leader = f"unknown ({type(exc).__name__})"
    state = read_state(engine)
    if fmt == "json":
        from daemon.tables import dumps

        echo(dumps(status_document(engine, leader, state=state)))
    else:
        echo(format_status(engine, leader, state=state))
    if state.error:
        # A script or a monitor that runs `mlmaint status` must not read this as fine.
        echo(
            f"mlmaint status: cannot read the store {safe_url(engine)}: {state.error}",
            err=True,
        )
        return EX_UNAVAILABLE
    return 0
