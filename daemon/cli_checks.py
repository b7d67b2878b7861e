"""`mlmaint check`: a model's checks run by hand, now or over past windows."""

from __future__ import annotations

import sys

import click

from daemon import startup
from daemon.cli_context import Context, format_option, needs, pass_ctx
from daemon.config import Needs


# --alert records findings and queues notifications; the daemon delivers them.
@click.command()
@startup.resumes_itself
@needs(Needs.STORE)
@click.argument("model")
@click.option(
    "--window",
    "window",
    default=None,
    help="window length, e.g. 24h (default: config; another length is printed, not stored)",
)
@click.option(
    "--at",
    "at",
    default=None,
    metavar="TIME",
    help="check the window ending at TIME (ISO time or date)",
)
@click.option("--from", "first", default=None, metavar="T1", help="backfill: the first window end")
@click.option(
    "--to", "last", default=None, metavar="T2", help="backfill: the last window end (default: now)"
)
@click.option(
    "--every",
    default=None,
    metavar="STEP",
    help="backfill: from one window end to the next, e.g. 1d (default: the window length)",
)
@click.option(
    "--alert/--no-alert",
    default=False,
    help="hand the findings to the alert policy (off by default; refused for a window "
    "older than the latest one checked: alerts speak of now)",
)
@format_option
@click.option(
    "--local",
    is_flag=True,
    help="run the checks in this process even when the daemon is running (default: the "
    "running daemon answers a check of the window ending now)",
)
@pass_ctx
def check(
    ctx: Context,
    model: str,
    window: str | None,
    at: str | None,
    first: str | None,
    last: str | None,
    every: str | None,
    alert: bool,
    fmt: str,
    local: bool,
) -> None:
    """Run a model's checks on its stored rows and print a table.

    By default on the window ending now. With --at TIME, on the window ending at
    TIME: the rows with a timestamp in [TIME - window, TIME). With --from T1
    --to T2, on every window end T1, T1 + STEP, ... up to T2 (a progress bar on
    a terminal), oldest first. TIME is an ISO time or date, UTC unless it says
    otherwise (2026-01-05, 2026-01-05T12:00Z).

    The window ending now without --alert is a look: printed, not stored. With
    --alert its runs are stored and count toward a retrain, as the daemon's own
    cycles do; a past window (--at, --from) is stored as a backfill, which never
    counts toward a retrain; a run with another --window
    is printed, not stored, and refuses --alert. A window checked again replaces
    its stored runs, so a backfill can be repeated. Findings reach the alert policy only with
    --alert, and only for a window no older than the latest one checked (a past
    window would fire or resolve alerts about the present). A window ending in
    the future is refused.

    The window ending now is checked by the running daemon when there is one (it
    has the imports and the reference in memory: a fraction of the time), unless
    --local; the output is the same, the check's log lines go to the daemon's log.

    Exit status: 0, 1 when a check alerts, 2 on a bad argument.
    """
    plain = (window, at, first, last, every) == (None,) * 5 and not alert
    if plain and not local:
        from daemon.cli_remote import answered, check_path, print_and_exit

        answer = answered(ctx.config_path, "POST", check_path(model), fmt)
        if answer is not None:
            ctx.leave_quickly()
            print_and_exit(answer)
    from daemon.checking.cli import print_backfill, print_check

    startup.resume()
    ctx.leave_quickly()
    if first is not None or last is not None or every is not None:
        sys.exit(
            print_backfill(
                ctx.settings,
                model,
                first=first,
                last=last,
                every=every,
                at=at,
                window=window,
                alert=alert,
                fmt=fmt,
            )
        )
    sys.exit(print_check(ctx.settings, model, window=window, alert=alert, at=at, fmt=fmt))
