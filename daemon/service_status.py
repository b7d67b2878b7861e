"""`mlmaint status`: the same picture /healthz and /metrics give, read from the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from daemon.store.engine import safe_url

if TYPE_CHECKING:
    from daemon.metrics import StoreState

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


def format_status(
    engine: Engine, leader: str, *, now: datetime | None = None, state: StoreState | None = None
) -> str:
    """`mlmaint status`: the same picture /healthz and /metrics give, from the store
    (`state`, read here when not given)."""
    from daemon.metrics import read_state

    state = state or read_state(engine)
    lines = [f"store: {safe_url(engine)}", f"leader: {leader}"]
    if state.error:
        lines.append(f"store unreachable: {state.error}")
        return "\n".join(lines)

    def when(value: datetime | None) -> str:
        return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    lines.append("")
    lines.append(
        f"{'job':<32} {'last':<8} {'started (UTC)':<20} {'last success':<20} "
        f"{'secs':>7} {'runs':>6} {'fail':>5}"
    )
    for job in state.jobs:
        secs = "-" if job.duration_s is None else f"{job.duration_s:.2f}"
        lines.append(
            f"{job.job_id:<32} {job.status:<8} {when(job.started_at):<20} "
            f"{when(job.success_at):<20} {secs:>7} {job.runs:>6} {job.failures:>5}"
        )
        if job.status == "failed" and job.error:
            lines.append(f"    error: {job.error.splitlines()[-1][:150]}")
    if not state.jobs:
        lines.append("(no job has run yet)")
    lines.append("")
    lines.append(f"{'model':<24} {'check':<22} {'status':<18} {'ran (UTC)':<20} {'rows':>7}")
    for check in state.checks:
        share = check.drift_share if check.kind == "drift" else None
        extra = "" if share is None else f"  drift share {share:.2f}"
        lines.append(
            f"{check.model:<24} {check.kind:<22} {check.status:<18} "
            f"{when(check.ran_at):<20} {check.rows:>7}{extra}"
        )
    if not state.checks:
        lines.append("(no check has run yet)")
    lines.append("")
    firing = sum(n for *_, n in state.alerts_firing)
    lines.append(f"alerts firing: {firing}")
    for scope, kind, severity, n in state.alerts_firing:
        lines.append(f"  {scope}: {kind} ({severity}) x{n}")
    decisions = _decision_lines(engine, now or datetime.now(UTC))
    if decisions:
        lines.append("models:")
        lines.extend(f"  {line}" for line in decisions)
    backlog = ", ".join(f"{c} {s} {n}" for c, s, n in state.outbox) or "empty"
    lines.append(f"outbox: {backlog}")
    for model, stream, outcome, n in state.ingest:
        if outcome == "sampled" or outcome.startswith("rejected"):
            lines.append(f"  {model} {stream}: {outcome} {n}")
    return "\n".join(lines)


def status_command(engine: Engine, *, echo: Callable[..., None]) -> int:
    """`mlmaint status`: the picture, and 69 when the store cannot be read."""
    from daemon.leader import describe_leader
    from daemon.metrics import read_state

    try:
        leader = describe_leader(engine)
    except Exception as exc:  # the store may be down: say so, still print the rest
        leader = f"unknown ({type(exc).__name__})"
    state = read_state(engine)
    echo(format_status(engine, leader, state=state))
    if state.error:
        # A script or a monitor that runs `mlmaint status` must not read this as fine.
        echo(
            f"mlmaint status: cannot read the store {safe_url(engine)}: {state.error}",
            err=True,
        )
        return EX_UNAVAILABLE
    return 0
