"""The systemd unit: its text from the template, and `mlmaint service install`.

The configured paths are checked against the unit's sandbox (daemon.sandbox):
those outside its StateDirectory are opened for what the daemon does with
them, and a path the sandbox cannot give is refused, named.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.config import EX_CONFIG, Settings

if TYPE_CHECKING:
    from daemon.sandbox import Sandbox

UNIT_TEMPLATE = Path(__file__).with_name("systemd") / "mlmaint.service"


def unit_file(
    *,
    exec_start: Path,
    config: Path,
    settings: Settings,
    user: str | None = None,
    env_file: Path = Path("/etc/mlmaint/mlmaint.env"),
    credentials: Mapping[str, Path] | None = None,
    sandbox: Sandbox | None = None,
) -> str:
    """The unit file text: DynamicUser unless a dedicated `user` is named.

    `sandbox`: the paths the config needs opened in the unit's sandbox (default:
    planned from `settings`, `config` and `exec_start`); raises SandboxError when
    one cannot be.
    """
    from string import Template

    from daemon.sandbox import configured_paths, installation_paths, plan_sandbox

    if sandbox is None:
        paths = configured_paths(
            settings, config=config, installation=installation_paths(exec_start)
        )
        sandbox = plan_sandbox(paths)

    user_lines = f"User={user}\nGroup={user}" if user else "DynamicUser=yes"
    credential_lines = "\n".join(
        f"LoadCredential={name}:{path}" for name, path in sorted((credentials or {}).items())
    )
    if credential_lines:
        credential_lines = (
            '# In config.toml: { file = "/run/credentials/mlmaint.service/NAME" }\n'
            + credential_lines
        )
    stop = int(settings.service.shutdown_grace.total_seconds()) + 60
    return Template(UNIT_TEMPLATE.read_text(encoding="utf-8")).substitute(
        exec_start=str(exec_start),
        config=str(config),
        stop_timeout=f"{stop}s",
        watchdog="2min",
        user_lines=user_lines,
        env_file=str(env_file),
        credential_lines=credential_lines,
        protect_home=sandbox.protect_home,
        path_lines=sandbox.unit_lines(),
    )


def install_command(
    settings: Settings,
    config_path: Path,
    *,
    output: Path,
    user: str | None,
    executable: Path | None,
    env_file: Path,
    credentials: Mapping[str, Path],
    echo: Callable[..., None],
) -> int:
    """`mlmaint service install`: write the unit; 78 when the sandbox cannot hold a path."""
    from daemon.sandbox import (
        SandboxError,
        configured_paths,
        installation_paths,
        missing,
        plan_sandbox,
    )

    if executable is not None:
        # Another installation (e.g. /opt/mlmaint/.venv): its executable and its venv.
        exec_start = executable.absolute()
        installation = [
            ("the mlmaint executable (--exec)", exec_start),
            ("the venv of --exec", exec_start.parent.parent),
        ]
    else:
        found = shutil.which("mlmaint")
        exe = Path(found) if found else Path(sys.executable).with_name("mlmaint")
        exec_start = exe.resolve() if not exe.is_symlink() else exe.absolute()
        installation = installation_paths(exec_start)
    config = config_path.resolve()
    paths = configured_paths(settings, config=config, installation=installation)
    try:
        sandbox = plan_sandbox(paths)
    except SandboxError as exc:
        echo(f"{config_path}: {exc}", err=True)
        return EX_CONFIG
    text = unit_file(
        exec_start=exec_start,
        config=config,
        settings=settings,
        user=user,
        env_file=env_file,
        credentials=credentials,
        sandbox=sandbox,
    )
    for entry in missing(sandbox):
        echo(
            f"warning: {entry.key}: {entry.path} does not exist; create it before starting "
            "the service (systemd does not start a unit whose ReadWritePaths= or BindPaths= "
            "is missing)",
            err=True,
        )
    writes = (*sandbox.read_write, *sandbox.bind)
    if user is None and writes:
        echo(
            "warning: DynamicUser=yes allocates the service's user at each start, so it "
            f"cannot own {', '.join(str(e.path) for e in writes)}: pass --user with a "
            "system user that owns them, or keep the daemon's files under /var/lib/mlmaint",
            err=True,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    echo(f"wrote {output}; then: systemctl daemon-reload && systemctl enable --now mlmaint")
    return 0
