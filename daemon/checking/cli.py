"""What the checking stage prints: `mlmaint check`'s table of one cycle."""

from __future__ import annotations

import math
from datetime import datetime

import click

from daemon.checking.job import check_model
from daemon.checking.run import CheckCycle, fmt_value
from daemon.config import Settings


def cycle_rows(cycle: CheckCycle) -> list[tuple[str, str, str, str, str, str]]:
    """(check, subject, measure, value, threshold, status) rows for a printed table."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    for kind, run in cycle.runs.items():
        r = run.result
        if not r.measures:
            rows.append((kind.value, "-", "-", "-", "-", f"{r.status.value}: {r.reason or ''}"))
        for m in r.measures:
            rows.append(
                (
                    kind.value,
                    m.subject,
                    m.name,
                    fmt_value(m.value),
                    (fmt_value(m.threshold) + (f" ({m.basis})" if m.basis else ""))
                    if m.threshold is not None
                    else "",
                    m.status.value + (f" ({m.detail})" if m.detail and m.alerting else ""),
                )
            )
    return rows


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def cycle_document(cycle: CheckCycle) -> dict[str, object]:
    """`mlmaint check --format json`: the cycle, each run with its measures (no NaN: null)."""
    return {
        "model": cycle.model,
        "window_start": cycle.window_start.isoformat(),
        "window_end": cycle.window_end.isoformat(),
        "rows": cycle.rows,
        "firing": bool(cycle.firing),
        "runs": [
            {
                "check": kind.value,
                "status": run.result.status.value,
                "reason": run.result.reason,
                "rows": run.result.rows,
                "run_id": run.run_id,
                "evidence": str(run.evidence_path) if run.evidence_path else None,
                "measures": [
                    {
                        "subject": m.subject,
                        "measure": m.name,
                        "value": _finite(m.value),
                        "threshold": _finite(m.threshold),
                        "basis": m.basis,
                        "status": m.status.value,
                        "detail": m.detail,
                    }
                    for m in run.result.measures
                ],
            }
            for kind, run in cycle.runs.items()
        ],
    }


_STATUS_COLOUR = {"alert": "red", "ok": "green", "insufficient_data": "yellow", "error": "magenta"}


def _status_colour(text: str) -> str | None:
    return _STATUS_COLOUR.get(text.split(" ")[0].rstrip(":"))


def print_check(
    settings: Settings,
    name: str,
    *,
    window: str | None = None,
    alert: bool = False,
    now: datetime | None = None,
    fmt: str = "table",
) -> int:
    """`mlmaint check`: run once, print a table (or JSON); exit 0, or 1 when something alerts."""
    from datetime import UTC

    from daemon.config import UnknownName, parse_duration
    from daemon.jobs import JobContext
    from daemon.tables import Column, dumps, render

    try:
        settings.model(name)
    except UnknownName as exc:
        click.echo(f"check: {exc}", err=True)
        return 2
    try:
        span = parse_duration(window) if window else None
    except ValueError as exc:
        click.echo(f"check: bad --window {window!r}: {exc}", err=True)
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        cycle = check_model(ctx, name, now or datetime.now(UTC), window=span, alert=alert)
    finally:
        ctx.close()
    if fmt == "json":
        click.echo(dumps(cycle_document(cycle)))
        return 1 if cycle.firing else 0
    # One table per check kind: its rows are alike, and the narrower table wraps less.
    columns = (
        Column("subject"),
        Column("measure"),
        Column("value", right=True),
        Column("threshold"),
        Column("status", colour=_status_colour),
    )
    click.echo(
        f"{name}: {cycle.rows} rows, {cycle.window_start:%Y-%m-%d %H:%M} to "
        f"{cycle.window_end:%Y-%m-%d %H:%M} UTC"
    )
    rows = cycle_rows(cycle)
    for kind, run in cycle.runs.items():
        result = run.result
        heading = f"{kind.value}: {result.status.value}"
        if not result.measures:
            click.echo(f"\n{heading}" + (f": {result.reason}" if result.reason else ""))
            continue
        mine = [row[1:] for row in rows if row[0] == kind.value]
        click.echo("")
        click.echo(render(columns, mine, title=click.style(heading, bold=True)))
    for run in cycle.runs.values():
        if run.evidence_path:
            click.echo(f"evidence: {run.evidence_path}")
    return 1 if cycle.firing else 0
