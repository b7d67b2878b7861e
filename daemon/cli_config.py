"""`mlmaint config check`: the resolved settings printed, secrets masked.

It checks the file for the daemon: a secret that is not set fails it (78),
with the commands that need that secret named. The settings print as TOML as
the file wrote them (`daemon/config/dump.py`): what differs from the defaults,
or every effective option with `--all`; `--format json` is the same data
(durations as written, secrets listed as "***").
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import click

from daemon.config import EX_CONFIG, ConfigError, SecretUse, Settings, secret_uses
from daemon.tables import wrap


def check_command(
    settings: Settings,
    config_path: Path,
    needed_by: Callable[[SecretUse], list[str]],
    *,
    fmt: str = "toml",
    every: bool = False,
) -> int:
    """0 and the masked settings when every secret resolves; 78 naming those that do not."""
    if settings.unresolved:
        problems = [
            f"{use.key}: {settings.unresolved[use.key]}; needed by {', '.join(needed_by(use))}"
            for use in secret_uses(settings)
            if use.key in settings.unresolved
        ]
        click.echo(str(ConfigError(str(config_path), problems)), err=True)
        return EX_CONFIG
    from daemon.config.dump import settings_data, settings_toml

    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = {}  # read and validated a moment ago; the spelling is only a nicety
    if fmt == "json":
        # The same selection and spelling as the TOML, secrets listed as "***".
        document = settings_data(settings, raw, every=every)
        document["secrets"] = dict.fromkeys(sorted(settings.secrets), "***")
        click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    else:
        which = "every effective option" if every else "options that differ from the defaults"
        for line in (f"{config_path}: {which};", "secrets by reference, never their values"):
            click.echo(wrap(line, indent="# "))
        click.echo(settings_toml(settings, raw, every=every), nl=False)
    click.echo(f"{config_path}: valid, {len(settings.models)} model(s)", err=True)
    return 0
