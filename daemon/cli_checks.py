"""`mlmaint check`: a model's checks run by hand."""

from __future__ import annotations

import sys

import click

from daemon.cli_context import Context, format_option, needs, pass_ctx
from daemon.config import Needs


# --alert records findings and queues notifications; the daemon delivers them.
@click.command()
@needs(Needs.STORE)
@click.argument("model")
@click.option("--window", "window", default=None, help="window length, e.g. 24h (default: config)")
@click.option("--alert/--no-alert", default=False, help="hand the findings to the alert policy")
@format_option
@pass_ctx
def check(ctx: Context, model: str, window: str | None, alert: bool, fmt: str) -> None:
    """Run a model's checks once on its latest window and print a table."""
    from daemon.checking.cli import print_check

    sys.exit(print_check(ctx.settings, model, window=window, alert=alert, fmt=fmt))
