"""What the checking stage prints: `mlmaint check`'s table of one cycle, or of a backfill."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from daemon.checking.backfill import parse_time, span_text
from daemon.checking.findings import fmt_value
from daemon.checking.job import check_model
from daemon.checking.run import CheckCycle
from daemon.config import Settings

T = TypeVar("T")


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
    at: str | None = None,
) -> int:
    """`mlmaint check [--at TIME]`: run once, print a table; exit 0, or 1 when something
    alerts. The window ends at `at` (a past window, read by time) or `now`."""
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
    try:
        end = parse_time(at) if at is not None else now or datetime.now(UTC)
    except ValueError as exc:
        console.print(f"[red]bad --at: {exc}[/red]")
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        cycle = check_model(ctx, name, end, window=span, alert=alert)
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


def _range(
    settings: Settings,
    name: str,
    *,
    first: str | None,
    last: str | None,
    every: str | None,
    window: str | None,
    now: datetime,
) -> tuple[tuple[datetime, ...], timedelta | None]:
    """The window ends and the window length a backfill asks for; ValueError names the option."""
    from daemon.checking.backfill import window_ends
    from daemon.checking.specs import check_window
    from daemon.config import parse_duration

    def parsed(option: str, text: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise ValueError(f"bad {option}: {exc}") from exc

    span = parsed("--window", window, parse_duration) if window else None
    if first is None:
        raise ValueError("--to and --every need --from (the first window end)")
    start = parsed("--from", first, parse_time)
    end = parsed("--to", last, parse_time) if last is not None else now
    step = (
        parsed("--every", every, parse_duration)
        if every
        else span or check_window(settings.model(name))
    )
    try:
        return window_ends(start, end, step), span
    except ValueError as exc:
        raise ValueError(f"bad range: {exc}") from exc


def print_backfill(
    settings: Settings,
    name: str,
    *,
    first: str | None,
    last: str | None = None,
    every: str | None = None,
    at: str | None = None,
    window: str | None = None,
    alert: bool = False,
    now: datetime | None = None,
) -> int:
    """`mlmaint check --from T1 --to T2 [--every STEP]`: check each window, print one row each.

    A progress bar goes to stderr when it is a terminal (never into a pipe or a
    log). Exit 0, 1 when a window alerts, 2 on a bad argument.
    """
    from datetime import UTC

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from daemon.checking.backfill import check_windows
    from daemon.checking.specs import check_window
    from daemon.jobs import JobContext

    console = Console()
    try:
        settings.model(name)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return 2
    if at is not None:
        console.print("[red]--at checks one window; give it or --from/--to, not both[/red]")
        return 2
    try:
        ends, span = _range(
            settings,
            name,
            first=first,
            last=last,
            every=every,
            window=window,
            now=now or datetime.now(UTC),
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    errors = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    ctx = JobContext.from_settings(settings)
    # Under the bar, one log line per window would tear it; the table says the same.
    quiet = logging.getLogger("daemon.checking.job")
    level = quiet.level
    if not progress.disable:
        quiet.setLevel(logging.WARNING)
    try:
        with progress:
            task = progress.add_task(f"checking {name}", total=len(ends))

            def advance(cycle: CheckCycle) -> None:
                progress.update(
                    task, advance=1, description=f"{name} {cycle.window_end:%Y-%m-%d %H:%M}"
                )

            done = check_windows(ctx, name, ends, window=span, alert=alert, on_window=advance)
    finally:
        quiet.setLevel(level)
        ctx.close()
    kinds = list(dict.fromkeys(k for c in done.cycles for k in c.runs))
    length = span_text(span or check_window(settings.model(name)))
    table = Table(
        title=f"{name}: {len(done.cycles)} window(s) of {length}, "
        f"ends {ends[0]:%Y-%m-%d %H:%M} to {ends[-1]:%Y-%m-%d %H:%M} UTC"
    )
    for column in ("window end", "rows", *(k.value for k in kinds)):
        table.add_column(column)
    colours = {"alert": "red", "ok": "green", "insufficient_data": "yellow", "error": "magenta"}
    for cycle in done.cycles:
        cells = []
        for kind in kinds:
            run = cycle.runs.get(kind)
            status = run.result.status.value if run else "-"
            cells.append(f"[{colours.get(status, 'white')}]{status}[/]")
        table.add_row(f"{cycle.window_end:%Y-%m-%d %H:%M}", str(cycle.rows), *cells)
    console.print(table)
    console.print(
        f"{len(done.cycles)} window(s) checked and stored (a window checked before was "
        f"replaced), {done.alerting} alerting; "
        + ("findings handed to the alert policy" if alert else "no alerts sent (--alert sends)")
    )
    return 1 if done.alerting else 0
