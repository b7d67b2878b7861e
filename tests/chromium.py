"""One way to start headless Chromium for the page and report tests.

Every browser test runs the same binary with the same quiet, offline flags and a
throw-away profile; each caller adds only what it asks of the browser
(a screenshot, the DOM, a DevTools port).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Flags every test browser runs with: headless, no GPU, no background work.
_QUIET = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

# The browser's own calls home, which the flags above leave on: network time,
# on-demand components and Google sign-in. Found with the report test's proxy.
_NO_CALLS_HOME = (
    "--disable-features=NetworkTimeServiceQuerying",
    "--component-updater=url-source=http://127.0.0.1:9",
    "--gaia-url=http://127.0.0.1:9",
)


def chromium() -> str:
    # Debian's /usr/bin/chromium wrapper sources /etc/chromium.d, which enables remote
    # extensions (their updater phones home) and Google API keys (sign-in): run the
    # binary itself, with only the flags given here.
    real = Path("/usr/lib/chromium/chromium")
    path = str(real) if real.is_file() else shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed: apt-get update && apt-get install -y chromium",
            pytrace=False,
        )
    return path


def headless(profile: Path, *args: str) -> list[str]:
    """The command line for headless Chromium with its profile in `profile`, then `args`."""
    return [chromium(), *_QUIET, *_NO_CALLS_HOME, f"--user-data-dir={profile}", *args]


def browser_env(profile: Path) -> dict[str, str]:
    """Only PATH, and HOME inside the profile: no user settings reach the browser."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(profile)}
