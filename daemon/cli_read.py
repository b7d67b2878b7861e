"""`mlmaint frameworks`, `report` and `status`: what the store and the scans say."""

from __future__ import annotations

import sys

import click

from daemon.cli_context import Context, format_option, local_option, needs, pass_ctx
from daemon.config import Needs


@click.group(invoke_without_command=True)
@needs(Needs.STORE)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "cyclonedx"]),
    default="table",
    show_default=True,
)
@click.option(
    "--alert",
    is_flag=True,
    help="also alert new vulnerabilities now (default: the daemon's next scan alerts them)",
)
@pass_ctx
def frameworks(ctx: Context, fmt: str, alert: bool) -> None:
    """Scan the configured environments for outdated and vulnerable frameworks,
    from the advisory mirror and the release cache (`frameworks sync` fills it).

    Findings are stored; new vulnerabilities are alerted only with --alert,
    else they are kept as not alerted and the daemon's next scan alerts them.

    Exit status: 0 clean, 1 findings, 2 when the scan itself failed.
    """
    if click.get_current_context().invoked_subcommand is not None:
        return
    from datetime import UTC, datetime

    from daemon.frameworks.cli import run_command

    _print_and_exit(*run_command(ctx.settings, fmt, datetime.now(UTC), alert=alert))


@frameworks.command("sync")
@needs(Needs.STORE)
@click.option(
    "--package",
    "packages",
    multiple=True,
    metavar="NAME",
    help="also sync this package (repeatable); default: the environments' pinned packages",
)
@pass_ctx
def frameworks_sync(ctx: Context, packages: tuple[str, ...]) -> None:
    """Fetch release data (PEP 691 Simple API, JSON API) from the configured index into
    the release cache, and newer support data from support_url, for offline scans.

    Exit status: 0 all synced, 2 when a package or the index failed (named on stderr).
    """
    from datetime import UTC, datetime

    from daemon.frameworks.cli import run_sync_command

    _print_and_exit(*run_sync_command(ctx.settings, datetime.now(UTC), packages))


@frameworks.command("verify")
@needs(Needs.STORE)
@click.argument("model")
@click.option(
    "--upgrade",
    "upgrades",
    multiple=True,
    metavar="NAME==VERSION",
    help="an upgrade to prove, each on its own (default: the releases that clear the "
    "model's advisories)",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_ctx
def frameworks_verify(ctx: Context, model: str, upgrades: tuple[str, ...], fmt: str) -> None:
    """Prove an upgrade on MODEL's champion before it is recommended.

    Checks the configured index has each upgrade, builds a candidate environment
    (the champion's logged requirements with the upgrade, from that index),
    replays the model's reference, the champion's holdout when a retrain job
    logged one, and recent production rows there and in the current environment,
    and compares predictions, the metric, latency and memory. Runs on the
    retraining executor.

    Exit status: 0 every upgrade safe, 1 one is not, 2 the verification could not
    run (the index, the champion's own requirements, the store).
    """
    from datetime import UTC, datetime

    from daemon.frameworks.cli import verify_command

    _print_and_exit(*verify_command(ctx.settings, model, upgrades, fmt, datetime.now(UTC)))


def _print_and_exit(text: str, errors: list[str], status: int) -> None:
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
@local_option
@pass_ctx
def status(ctx: Context, fmt: str, local: bool) -> None:
    """Print the daemon's state from the store; exit 69 when the store cannot be read.

    Per model: the serving version, the pin, labels joined and the last retrain jobs;
    then the scheduled jobs, the latest checks, firing alerts and the outbox. The
    running daemon answers when there is one (the same picture), unless --local.
    """
    ctx.leave_quickly()
    if not local:
        from daemon.cli_remote import answered, print_and_exit

        answer = answered(ctx.config_path, "GET", "/cli/status", fmt)
        if answer is not None:
            print_and_exit(answer)
    from daemon.service_status import status_command

    # The [store] table alone: status reads nothing else of the config.
    ctx.with_engine(
        lambda engine: status_command(engine, echo=click.echo, fmt=fmt), store_only=True
    )
