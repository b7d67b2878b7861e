"""What the checking stage prints: `mlmaint check`'s table of one cycle."""

from __future__ import annotations

from datetime import datetime

from daemon.checking.findings import fmt_value
from daemon.checking.job import check_model
from daemon.checking.run import CheckCycle
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


def print_check(
    settings: Settings,
    name: str,
    *,
    window: str | None = None,
    alert: bool = False,
    now: datetime | None = None,
) -> int:
    """`mlmaint check`: run once, print a table; exit 0, or 1 when something alerts."""
    from datetime import UTC

    from rich.console import Console
    from rich.table import Table

    from daemon.config import parse_duration
    from daemon.jobs import JobContext

    console = Console()
    try:
        settings.model(name)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return 2
    try:
        span = parse_duration(window) if window else None
    except ValueError as exc:
        console.print(f"[red]bad --window: {exc}[/red]")
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        cycle = check_model(ctx, name, now or datetime.now(UTC), window=span, alert=alert)
    finally:
        ctx.close()
    table = Table(
        title=f"{name}: {cycle.rows} rows, {cycle.window_start:%Y-%m-%d %H:%M} to "
        f"{cycle.window_end:%Y-%m-%d %H:%M} UTC"
    )
    for column in ("check", "subject", "measure", "value", "threshold", "status"):
        table.add_column(column)
    colours = {"alert": "red", "ok": "green", "insufficient_data": "yellow", "error": "magenta"}
    for row in cycle_rows(cycle):
        status = row[5].split(" ")[0].rstrip(":")
        table.add_row(*row[:5], f"[{colours.get(status, 'white')}]{row[5]}[/]")
    console.print(table)
    for run in cycle.runs.values():
        if run.evidence_path:
            console.print(f"evidence: {run.evidence_path}")
    return 1 if cycle.firing else 0
