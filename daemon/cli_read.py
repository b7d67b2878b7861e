"""`mlmaint frameworks`, `report` and `status`: what the store and the scans say."""

from __future__ import annotations

import sys

import click

from daemon.cli_context import Context, format_option, needs, pass_ctx
from daemon.config import Needs


@click.command()
@needs(Needs.STORE)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "cyclonedx"]),
    default="table",
    show_default=True,
)
@pass_ctx
def frameworks(ctx: Context, fmt: str) -> None:
    """Scan the configured environments for outdated and vulnerable frameworks.

    Exit status: 0 clean, 1 findings, 2 when the scan itself failed.
    """
    from datetime import UTC, datetime

    from daemon.frameworks.cli import run_command

    text, errors, status = run_command(ctx.settings, fmt, datetime.now(UTC))
    if text:
        click.echo(text)
    for line in errors:
        click.echo(line, err=True)
    sys.exit(status)


# --send queues the summary and the email in the outbox; the daemon delivers them.
@click.command()
@needs(Needs.STORE)
@click.option("--week", default=None, help="ISO week, e.g. 2026-W47 (default: last week)")
@click.option("--send", is_flag=True, help="also queue the Slack summary and the email")
@pass_ctx
def report(ctx: Context, week: str | None, send: bool) -> None:
    """Build the weekly maintenance report and print its path."""
    from daemon.report.deliver import run_report_command

    sys.exit(run_report_command(ctx.settings, week, send=send))


@click.command()
@needs(Needs.STORE)
@format_option
@pass_ctx
def status(ctx: Context, fmt: str) -> None:
    """Print the daemon's state from the store; exit 69 when the store cannot be read.

    Per model: the serving version, the pin, labels joined and the last retrain jobs;
    then the scheduled jobs, the latest checks, firing alerts and the outbox.
    """
    from daemon.service_status import status_command

    ctx.leave_quickly()
    # The [store] table alone: status reads nothing else of the config.
    ctx.with_engine(
        lambda engine: status_command(engine, echo=click.echo, fmt=fmt), store_only=True
    )
