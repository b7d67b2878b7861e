"""What the checking stage prints: `mlmaint check`'s table of one cycle, or of a backfill."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import click

from checks.interface import CheckKind, Measure, Status
from daemon.checking.job import check_model
from daemon.checking.records import KindRun
from daemon.checking.run import CheckCycle
from daemon.config import Settings
from daemon.tables import NO_STATUS, fmt_value, utc_text

if TYPE_CHECKING:
    from daemon.jobs import JobContext

T = TypeVar("T")


def _parse_time(text: str) -> datetime:
    # The backfill module (and APScheduler's triggers under it) loads only when asked:
    # a plain `mlmaint check` of the latest window does not pay for them.
    from daemon.checking.backfill import parse_time

    return parse_time(text)


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
                    # The statistic's name (the test that judged it) is the measure's.
                    m.name + (f" ({m.detail})" if m.detail and m.detail != m.name else ""),
                    fmt_value(m.value),
                    (fmt_value(m.threshold) + (f" ({m.basis})" if m.basis else ""))
                    if m.threshold is not None
                    else "",
                    _status(m),
                )
            )
    return rows


def _status(m: Measure) -> str:
    """The status alone; a measure with no threshold is informational, not "ok"."""
    if m.threshold is None and m.status is Status.OK:
        return NO_STATUS
    return m.status.value


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def cycle_document(cycle: CheckCycle) -> dict[str, object]:
    """`mlmaint check --format json`: the cycle, each run with its measures (no NaN: null),
    named as the /v1 API names them (a measure's `name`, times with a `Z`)."""
    document: dict[str, object] = {
        "model": cycle.model,
        "window_start": utc_text(cycle.window_start),
        "window_end": utc_text(cycle.window_end),
        "rows": cycle.rows,
        "firing": bool(cycle.firing),
        "runs": [
            {
                "check": kind.value,
                "status": run.result.status.value,
                "reason": run.result.reason,
                "rows": run.result.rows,
                "run_id": run.run_id,
                "replaced": run.replaced,
                "evidence": str(run.evidence_path) if run.evidence_path else None,
                "measures": [
                    {
                        "subject": m.subject,
                        "name": m.name,
                        "value": _finite(m.value),
                        "threshold": _finite(m.threshold),
                        "alerting": m.alerting,
                        "detail": m.detail,
                        "basis": m.basis,
                        "status": m.status.value,
                    }
                    for m in run.result.measures
                ],
            }
            for kind, run in cycle.runs.items()
        ],
    }
    if cycle.segment is not None:
        document["segment"] = cycle.segment
        return document
    document["firing"] = bool(cycle.firing) or any(part.firing for part in cycle.segments)
    document["segments"] = [cycle_document(part) for part in cycle.segments]
    document["unchecked_segments"] = [
        {"segment": segment, "reason": reason} for segment, reason in cycle.unchecked_segments
    ]
    return document


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


# Said when a window holds no stored row: the usual cause is a daemon not yet run.
NO_ROWS = (
    "no rows stored for this window: has the daemon sampled the logs yet? "
    "(mlmaint run / mlmaint status)"
)


def print_check(
    settings: Settings,
    name: str,
    *,
    window: str | None = None,
    alert: bool = False,
    now: datetime | None = None,
    at: str | None = None,
    fmt: str = "table",
) -> int:
    """`mlmaint check [--at TIME]`: run once, print a table per check kind (or JSON); exit 0,
    or 1 when something alerts. The window ends at `at` (a past window, read by time) or
    `now`."""
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
    clock = now or datetime.now(UTC)
    try:
        end = _parse_time(at) if at is not None else clock
    except ValueError as exc:
        click.echo(f"check: bad --at {at!r}: {exc}", err=True)
        return 2
    unstored = other_window(settings, name, span)
    if unstored and alert:
        click.echo(f"check: --alert needs the configured window: {unstored}", err=True)
        return 2
    ctx = JobContext.from_settings(settings)
    try:
        refused = window_refusal(ctx, name, end, end, alert=alert, now=clock)
        if refused:
            click.echo(f"check: {refused}", err=True)
            return 2
        cycle = check_model(
            ctx,
            name,
            end,
            window=span,
            alert=alert,
            store=unstored is None,
            backfill=at is not None,
        )
    finally:
        ctx.close()
    if fmt == "json":
        click.echo(dumps({**cycle_document(cycle), "stored": unstored is None}))
        return 1 if cycle.firing or any(part.firing for part in cycle.segments) else 0
    if cycle.rows == 0:
        click.echo(NO_ROWS, err=True)
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
    for part in cycle.segments:
        # A line per segment; its measures are in /v1/models/NAME/checks?segment=.
        kinds = ", ".join(f"{k.value}={r.result.status.value}" for k, r in part.runs.items())
        # Why a kind was not judged (too few rows in the slice, say), each reason once.
        why = dict.fromkeys(
            r.result.reason
            for r in part.runs.values()
            if r.result.reason and r.result.status is not Status.OK
        )
        click.echo(
            f"segment {part.segment}: {part.rows} rows, {kinds}"
            + (f" ({'; '.join(why)})" if why else "")
        )
    for segment, reason in cycle.unchecked_segments:
        click.echo(f"segment {segment}: {reason}")
    for f in (f for part in cycle.segments for f in part.firing):
        click.echo(f"  {f.summary}")
    if unstored:
        click.echo(f"\nnot stored: {unstored}")
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
    from daemon.jobs import JobContext
    from daemon.tables import Column, dumps, render, wrap

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
    ctx = JobContext.from_settings(settings)
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
        *(Column(_RANGE_HEADER.get(k, k.value), colour=_status_colour) for k in kinds),
    )
    rows = []
    for cycle in done.cycles:
        cells = []
        for kind in kinds:
            run = cycle.runs.get(kind)
            status = run.result.status if run else None
            cells.append("-" if status is None else _RANGE_STATUS.get(status, status.value))
        rows.append((f"{cycle.window_end:%Y-%m-%d %H:%M}", str(cycle.rows), *cells))
    click.echo(wrap(title))
    click.echo(render(columns, rows))
    notes = []
    runs = [run for cycle in done.cycles for run in cycle.runs.values()]
    unjudged = _unjudged(runs)
    if unjudged:
        notes.append(
            "n/a: not judged; "
            + "; ".join(unjudged)
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


def _unjudged(runs: Sequence[KindRun]) -> list[str]:
    """Per check kind, why its n/a windows were not judged: the reason itself when every
    window gave the same one, the latest window's and a count of the others when not."""
    reasons: dict[CheckKind, list[str]] = {}
    for run in runs:
        if run.result.status is Status.INSUFFICIENT_DATA:
            reasons.setdefault(run.result.kind, []).append(run.result.reason or "no reason given")
    said = []
    for kind, found in reasons.items():
        distinct = list(dict.fromkeys(found))
        more = len(distinct) - 1
        said.append(
            f"{kind.value}: {found[-1]}"
            + (f" (in the latest n/a window; {more} other reason(s))" if more else "")
        )
    return said


# A range prints one line per window within 80 columns (window end, rows, a status per
# kind): the longest kind's name and the longest status are shortened to fit it.
_RANGE_HEADER = {CheckKind.ESTIMATED_PERFORMANCE: "est. perf."}
_RANGE_STATUS = {Status.INSUFFICIENT_DATA: "n/a"}
