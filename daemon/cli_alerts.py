"""`mlmaint alerts`: firing alerts, acknowledgements and channel tests."""

from __future__ import annotations

import sys

import click

from daemon.cli_context import Context, format_option, local_option, needs, pass_ctx
from daemon.config import Needs


@click.group()
def alerts() -> None:
    """Firing alerts, acknowledgements and channel tests."""


@alerts.command("list")
@needs(Needs.STORE)
@format_option
@local_option
@pass_ctx
def alerts_list(ctx: Context, fmt: str, local: bool) -> None:
    """List firing alerts (the running daemon answers when there is one, unless --local)."""
    ctx.leave_quickly()
    if not local:
        from daemon.cli_remote import answered, print_and_exit

        answer = answered(ctx.config_path, "GET", "/cli/alerts", fmt)
        if answer is not None:
            print_and_exit(answer)
    from daemon.alerts.cli import list_command

    ctx.with_engine(lambda engine: list_command(engine, fmt=fmt), store_only=True)


@alerts.command("ack")
@needs(Needs.STORE)
@click.argument("alert_id", type=int, required=False)
@click.option("--model", default=None, metavar="NAME", help="every firing alert of this model")
@click.option("--until", default=None, help="ISO time or duration ('4h', '2d'); default: resolve")
@click.option("--note", default=None, help="why it is acknowledged")
@pass_ctx
def alerts_ack(
    ctx: Context, alert_id: int | None, model: str | None, until: str | None, note: str | None
) -> None:
    """Silence a firing alert's repeats (ALERT_ID, or all of a model's with --model NAME)
    until it resolves or a given time."""
    from daemon.alerts.cli import ack_command

    sys.exit(ack_command(ctx.settings, alert_id, until, note, model=model))


@alerts.command("test")
@needs(Needs.STORE | Needs.CHANNELS, channel_option="channel")
@click.option("--channel", "channel", required=True, help="a channel name from [[alerts.channels]]")
@pass_ctx
def alerts_test(ctx: Context, channel: str) -> None:
    """Send a test message through one channel now."""
    from daemon.alerts.cli import test_command

    sys.exit(test_command(ctx.settings, channel))
