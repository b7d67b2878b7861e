"""What every `mlmaint` command shares: its declared secrets and the Context.

Each command declares the secrets it uses (`@needs`); the Context loads the
config with exactly those, on first use, so `db upgrade` runs without the Slack
webhook while `run` still refuses to start (78) when any secret of an enabled
feature is missing. A command that declares nothing gets the daemon's needs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from daemon import startup
from daemon.config import EX_CONFIG, ConfigError, Needs, load_config

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from daemon.config import Settings, StoreSettings


@dataclasses.dataclass(frozen=True)
class Declared:
    """The secrets a command resolves when it loads the config.

    `needs`: the areas of secrets it uses. `channel_option`: the option naming
    the one alert channel whose secrets it needs, instead of every channel's.
    """

    needs: Needs
    channel_option: str | None = None


_DECLARED = "_mlmaint_needs"
# sysexits' EX_UNAVAILABLE: the store cannot be used (missing, behind, down).
EX_UNAVAILABLE = 69
_F = TypeVar("_F", bound=Callable[..., object])


def needs(areas: Needs, *, channel_option: str | None = None) -> Callable[[_F], _F]:
    """Declare a command's secrets; put it right under `@group.command(...)`."""

    def mark(function: _F) -> _F:
        setattr(function, _DECLARED, Declared(areas, channel_option))
        return function

    return mark


def declared(command: click.Command) -> Declared | None:
    """What `command` declared it needs; None when it declared nothing."""
    found = getattr(command.callback, _DECLARED, None)
    return found if isinstance(found, Declared) else None


class Group(click.Group):
    """A secret asked for after loading that is not set exits 78, as at loading."""

    group_class = type

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # The command is chosen: collect garbage again now, unless it does so itself
        # after its imports (daemon/startup.py).
        name, command, rest = super().resolve_command(ctx, args)
        if command is None or not startup.resumes_itself_marked(command.callback):
            startup.resume()
        return name, command, rest

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(EX_CONFIG)


class Leave:
    """How the `mlmaint` process ends (`daemon.cli.console`, the console script).

    A command people run at a terminal and wait on (`status`, `alerts list`, `check`)
    asks to leave `quickly`: once its output is written, the process exits without
    tearing the interpreter down. Freeing every module of pandas, SQLAlchemy and
    pydantic at exit takes a tenth to a fifth of a second (issue 17: `status` in half a
    second). Such a command leaves nothing to atexit: its store engine is disposed,
    its files written and its transactions committed before it returns. Click's test
    runner passes no Leave, so a command run in-process never ends the process.
    """

    def __init__(self) -> None:
        self.quickly = False

    def now(self, code: object) -> NoReturn:
        """Flush the output and the log handlers, then exit with `code` (as sys.exit reads it)."""
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code
        else:
            print(code, file=sys.stderr)
            status = 1
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                # A closed pipe (`mlmaint status | head -1`): nothing more can be said.
                status = status or 1
        os._exit(status)


class Context:
    """What every command shares: where the config is, loaded on first use."""

    def __init__(self, config_path: Path, leave: Leave | None = None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._leave = leave

    def leave_quickly(self) -> None:
        """Ask to exit without the interpreter's teardown once the command is done
        (see Leave): only for a command whose work is all done when it returns."""
        if self._leave is not None:
            self._leave.quickly = True

    @property
    def settings(self) -> Settings:
        """The config, with the secrets the running command declared it needs."""
        if self._settings is None:
            click_ctx = click.get_current_context()
            found = declared(click_ctx.command) or Declared(Needs.DAEMON)
            channels = None
            if found.channel_option is not None:
                channels = (str(click_ctx.params[found.channel_option]),)
            try:
                self._settings = load_config(self.config_path, needs=found.needs, channels=channels)
            except ConfigError as exc:
                click.echo(str(exc), err=True)
                sys.exit(EX_CONFIG)
        return self._settings

    def engine(self, *, store_only: bool = False, existing: bool = True) -> Engine:
        """The store's engine. `store_only`: from the [store] table alone (`load_store`),
        for a command that reads the store and nothing else of the config. `existing`:
        a SQLite file must be there already (only `db upgrade` creates one)."""
        from daemon.store.engine import make_engine

        store = self._store() if store_only and self._settings is None else self.settings.store
        return make_engine(store.url, store.password_secret(), store.pool_size, existing=existing)

    def _store(self) -> StoreSettings:
        from daemon.config import load_store

        try:
            return load_store(self.config_path)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EX_CONFIG)

    def with_engine(
        self, command: Callable[[Engine], int], *, store_only: bool = False, existing: bool = True
    ) -> None:
        """Run `command` on the store's engine, disposed after; exit with its status if not 0.
        A store missing or behind (StoreError) is said in a line, exit 69."""
        from daemon.store.engine import StoreError

        try:
            engine = self.engine(store_only=store_only, existing=existing)
            try:
                status = command(engine)
            finally:
                engine.dispose()
        except StoreError as exc:
            click.echo(f"mlmaint: {exc}", err=True)
            sys.exit(EX_UNAVAILABLE)
        if status:
            sys.exit(status)


pass_ctx = click.make_pass_decorator(Context)

# Every listing command's `--format`: the table for people, one JSON document for scripts.
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="a table (wrapped to the terminal) or one JSON document on stdout",
)

# `status`, `alerts list`: the running daemon answers them unless --local (daemon/cli_remote.py).
local_option = click.option(
    "--local",
    is_flag=True,
    help="read the store from this process even when the daemon is running",
)


class ModelOrCommand(Group):
    """`retrain MODEL` and `retrain rollback MODEL`: a first word that is no subcommand
    is a model name, handed to the `now` subcommand."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "now", self.commands["now"], args
        return super().resolve_command(ctx, args)
