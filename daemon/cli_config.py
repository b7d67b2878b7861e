"""`mlmaint config check`: the resolved settings printed, secrets masked.

It checks the file for the daemon: a secret that is not set fails it (78),
with the commands that need that secret named.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from daemon.config import EX_CONFIG, ConfigError, SecretUse, Settings, masked_dump, secret_uses


def check_command(
    settings: Settings, config_path: Path, needed_by: Callable[[SecretUse], list[str]]
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
    click.echo(json.dumps(masked_dump(settings), indent=2, sort_keys=False, default=str))
    click.echo(f"{config_path}: valid, {len(settings.models)} model(s)", err=True)
    return 0
