"""What the checking stage prints: `mlmaint check`'s table of one cycle, or of a backfill."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import click

from daemon.checking.cli_text import (
    RANGE_HEADER,
    RANGE_STATUS,
    alerting_kinds,
    cycle_document,
    cycle_rows,
    segment_lines,
    unjudged,
    unjudged_segments,
)
from daemon.checking.job import check_model
from daemon.checking.run import CheckCycle
from daemon.config import Settings
from daemon.tables import Echo, wrap

if TYPE_CHECKING:
    from daemon.jobs import JobContext

T = TypeVar("T")


def _parse_time(text: str) -> datetime:
    # The backfill module (and APScheduler's triggers under it) loads only when asked:
    # a plain `mlmaint check` of the latest window does not pay for them.
    from daemon.checking.backfill import parse_time

    return parse_time(text)


_STATUS_COLOUR = {"alert": "red", "ok": "green", "insufficient_data": "yellow", "error": "magenta"}


def _status_colour(text: str) -> str | None:
    return _STATUS_COLOUR.get(text.split(" ")[0].rstrip(":"))


# Why --alert is refused for a past window (printed as is).
PAST_ALERT = (
    "alerts speak of now; a past window would fire or resolve alerts about the present; "
    "past windows are stored and visible in /v1 and the report (run without --alert)"
)


def window_refusal(
    ctx: JobContext, name: str, first: datetime, last: datetime, *, alert: bool, now: datetime
) -> str | None:
    """Why the window ends first..last cannot be checked as asked, or None.

    A window ending after now has no rows yet and would pass for the present; with
    --alert, a window older than the latest stored one would speak for the present.
    """
    if last > now:
        return (
            f"the window end {last:%Y-%m-%d %H:%M} UTC is in the future "
            f"(now is {now:%Y-%m-%d %H:%M} UTC): a window can end at now at the latest"
        )
    if not alert:
        return None
    from daemon.checking.records import latest_window_end

    with ctx.sessions() as session:
        latest = latest_window_end(session, name, now)
    if latest is not None and first < latest:
        return (
            f"--alert with a window ending {first:%Y-%m-%d %H:%M} UTC, before the latest "
            f"checked window ({latest:%Y-%m-%d %H:%M} UTC): {PAST_ALERT}"
        )
    return None


def other_window(settings: Settings, name: str, span: timedelta | None) -> str | None:
    """Why a run over a window of `span` is not stored, or None for the configured length.

    The history holds one window length per model: thresholds are calibrated for its
    size and trends compare like with like, so a run over another length is printed
    only (and never reaches the alert policy).
    """
    from daemon.checking.specs import check_window

    configured = check_window(settings.model(name))
    if span is None or span == configured:
        return None
    from daemon.checking.backfill import span_text

    return (
        f"a {span_text(span)} window is not the configured {span_text(configured)} "
        f"([models.checks] window): the stored history, its trends and the alert policy "
        f"speak of {span_text(configured)} windows"
    )


# Why a check of the window ending now, without --alert, is printed and not stored.
LOOK = (
    "a look now (--alert stores the runs and hands the findings to the alert policy, "
    "as the daemon's own cycles do)"
)


# Said when a window holds no stored row: the usual cause is a daemon not yet run.
NO_ROWS = (
    "no rows stored for this window: has the daemon sampled the logs yet? "
    "(mlmaint run / mlmaint status)"
)


# sysexits' EX_UNAVAILABLE: the store cannot be used (missing, behind, down).
EX_UNAVAILABLE = 69


def _store_context(settings: Settings, echo: Echo) -> JobContext | None:
    """The command's context on a store that exists and is current; else None, said."""
    from daemon.jobs import JobContext
    from daemon.store import migrate
    from daemon.store.engine import StoreError

    ctx = None
    try:
        ctx = JobContext.from_settings(settings, existing=True)
        migrate.require_current(ctx.engine)
    except StoreError as exc:
        echo(f"check: {exc}", err=True)
        if ctx is not None:
            ctx.close()
        return None
    return ctx


def print_check(
    settings: Settings,
    name: str,
    *,
    window: str | None = None,
    alert: bool = False,
    now: datetime | None = None,
    at: str | None = None,
    fmt: str = "table",
    echo: Echo = click.echo,
    ctx: JobContext | None = None,
) -> int:
    """`mlmaint check [--at TIME]`: run once, print a table per check kind (or JSON); exit 0,
    or 1 when something alerts. The window ends at `at` (a past window, read by time) or
    `now`.

    `echo` writes the output (a daemon answering the CLI collects it); `ctx` is the
    caller's context (the daemon's, with its caches), else one made and closed here."""
    from datetime import UTC

    from daemon.config import UnknownName, parse_duration
    from daemon.tables import Column, dumps, render

    try:
        settings.model(name)
    except UnknownName as exc:
        echo(f"check: {exc}", err=True)
        return 2
    try:
        span = parse_duration(window) if window else None
        if span is not None and span <= timedelta(0):
            raise ValueError("a window must be longer than 0")
    except ValueError as exc:
        echo(f"check: bad --window {window!r}: {exc}", err=True)
        return 2
    clock = now or datetime.now(UTC)
    try:
        end = _parse_time(at) if at is not None else clock
    except ValueError as exc:
        echo(f"check: bad --at {at!r}: {exc}", err=True)
        return 2
    unstored = other_window(settings, name, span)
    if unstored and alert:
        echo(f"check: --alert needs the configured window: {unstored}", err=True)
        return 2
    if unstored is None and not alert and at is None:
        # A look now: stored, it would be one more window of the model's history (the
        # causes' look-back, the week's counts, an evidence page) for every look.
        unstored = LOOK
    own = ctx is None
    if ctx is None:
        ctx = _store_context(settings, echo)
        if ctx is None:
            return EX_UNAVAILABLE
    try:
        refused = window_refusal(ctx, name, end, end, alert=alert, now=clock)
        if refused:
            echo(f"check: {refused}", err=True)
            return 2
        cycle = check_model(
            ctx,
            name,
            end,
            window=span,
            alert=alert,
            store=unstored is None,
            # A past window is a backfill's: it never counts toward a retrain.
            backfill=at is not None,
        )
    finally:
        if own:
            ctx.close()
    if fmt == "json":
        echo(dumps({**cycle_document(cycle), "stored": unstored is None}))
        return 1 if cycle.firing or any(part.firing for part in cycle.segments) else 0
    if cycle.rows == 0:
        echo(NO_ROWS, err=True)
    # One table per check kind: its rows are alike, and the narrower table wraps less.
    columns = (
        Column("subject"),
        Column("measure"),
        Column("value", right=True),
        Column("threshold"),
        Column("status", colour=_status_colour),
    )
    echo(
        f"{name}: {cycle.rows} rows, {cycle.window_start:%Y-%m-%d %H:%M} to "
        f"{cycle.window_end:%Y-%m-%d %H:%M} UTC"
    )
    rows = cycle_rows(cycle)
    for kind, run in cycle.runs.items():
        result = run.result
        heading = f"{kind.value}: {result.status.value}"
        if not result.measures:
            echo(f"\n{heading}" + (f": {result.reason}" if result.reason else ""))
            continue
        mine = [row[1:] for row in rows if row[0] == kind.value]
        echo("")
        echo(render(columns, mine, title=click.style(heading, bold=True)))
    for run in cycle.runs.values():
        if run.evidence_path:
            echo(f"evidence: {run.evidence_path}")
    if cycle.firing:
        # What alerts, in the words an alert carries (a decay's causes included); "firing"
        # only when --alert handed it to the alert policy.
        echo("\nfiring:" if alert else "\nalerting (no alert fired: see --alert):")
        for f in cycle.firing:
            echo(wrap(f.summary, indent="  - ", hanging="    "))
    firing_of = {part.segment: part.firing for part in cycle.segments}
    for segment, line in segment_lines(cycle):
        echo(wrap(line, hanging="  "))
        for f in firing_of.get(segment, ()):
            echo(wrap(f.summary, indent="  - ", hanging="    "))
    if unstored:
        echo("")
        echo(wrap(f"not stored: {unstored}", hanging="  "))
    return 1 if cycle.firing or any(part.firing for part in cycle.segments) else 0


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
    start = parsed("--from", first, _parse_time)
    end = parsed("--to", last, _parse_time) if last is not None else now
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
    fmt: str = "table",
) -> int:
    """`mlmaint check --from T1 --to T2 [--every STEP]`: check each window, print one row each
    (or, with `fmt` "json", a list of each window's cycle).

    A progress bar goes to stderr when it is a terminal (never into a pipe or a
    log). Exit 0, 1 when a window alerts, 2 on a bad argument.
    """
    from datetime import UTC

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from daemon.checking.backfill import check_windows
    from daemon.checking.specs import check_window
    from daemon.config import UnknownName
    from daemon.tables import Column, dumps, render

    try:
        settings.model(name)
    except UnknownName as exc:
        click.echo(f"check: {exc}", err=True)
        return 2
    if at is not None:
        click.echo("check: --at checks one window; give it or --from/--to, not both", err=True)
        return 2
    clock = now or datetime.now(UTC)
    try:
        ends, span = _range(
            settings, name, first=first, last=last, every=every, window=window, now=clock
        )
    except ValueError as exc:
        click.echo(f"check: {exc}", err=True)
        return 2
    unstored = other_window(settings, name, span)
    if unstored and alert:
        click.echo(f"check: --alert needs the configured window: {unstored}", err=True)
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
    ctx = _store_context(settings, click.echo)
    if ctx is None:
        return EX_UNAVAILABLE
    # Under the bar, one log line per window would tear it; the table says the same.
    quiet = logging.getLogger("daemon.checking.job")
    level = quiet.level
    if not progress.disable:
        quiet.setLevel(logging.WARNING)
    try:
        refused = window_refusal(ctx, name, ends[0], ends[-1], alert=alert, now=clock)
        if refused:
            click.echo(f"check: {refused}", err=True)
            return 2
        with progress:
            task = progress.add_task(f"checking {name}", total=len(ends))

            def advance(cycle: CheckCycle) -> None:
                progress.update(
                    task, advance=1, description=f"{name} {cycle.window_end:%Y-%m-%d %H:%M}"
                )

            done = check_windows(
                ctx,
                name,
                ends,
                window=span,
                alert=alert,
                on_window=advance,
                store=unstored is None,
            )
    finally:
        quiet.setLevel(level)
        ctx.close()
    if fmt == "json":
        click.echo(dumps([{**cycle_document(c), "stored": unstored is None} for c in done.cycles]))
        return 1 if done.alerting else 0
    kinds = list(dict.fromkeys(k for c in done.cycles for k in c.runs))
    from daemon.checking.backfill import span_text

    length = span_text(span or check_window(settings.model(name)))
    title = (
        f"{name}: {len(done.cycles)} window(s) of {length}, "
        f"ends {ends[0]:%Y-%m-%d %H:%M} to {ends[-1]:%Y-%m-%d %H:%M} UTC"
    )
    columns = (
        Column("window end"),
        Column("rows", right=True),
        *(Column(RANGE_HEADER.get(k, k.value), colour=_status_colour) for k in kinds),
    )
    rows = []
    for cycle in done.cycles:
        cells = []
        for kind in kinds:
            run = cycle.runs.get(kind)
            status = run.result.status if run else None
            cells.append("-" if status is None else RANGE_STATUS.get(status, status.value))
        rows.append((f"{cycle.window_end:%Y-%m-%d %H:%M}", str(cycle.rows), *cells))
    click.echo(wrap(title))
    click.echo(render(columns, rows))
    notes = []
    runs = [run for cycle in done.cycles for run in cycle.runs.values()]
    for cycle in done.cycles:
        # A segment that alerts while the totals hold: said under the window's line.
        alerting = [
            f"{part.segment} ({', '.join(alerting_kinds(part))})"
            for part in cycle.segments
            if part.firing
        ]
        if alerting:
            notes.append(
                f"segments alerting in the window ending {cycle.window_end:%Y-%m-%d %H:%M}: "
                + "; ".join(alerting)
            )
    silent = unjudged_segments(done.cycles)
    if silent:
        notes.append("segments not judged: " + "; ".join(silent))
    why = unjudged(runs)
    if why:
        notes.append(
            "n/a: not judged; "
            + "; ".join(why)
            + f"; `mlmaint check {name} --at WINDOW_END` says why for one window."
        )
    if unstored:
        notes.append(
            f"{len(done.cycles)} window(s) checked, {done.alerting} alerting; "
            f"not stored: {unstored}"
        )
        for note in notes:
            click.echo(wrap(note))
        return 1 if done.alerting else 0
    replaced = f" ({done.replaced} checked before, replaced)" if done.replaced else ""
    notes.append(
        f"{len(done.cycles)} window(s) checked and stored{replaced}, {done.alerting} alerting; "
        + ("findings handed to the alert policy" if alert else "no alerts sent (--alert sends)")
    )
    for note in notes:
        click.echo(wrap(note))
    return 1 if done.alerting else 0
