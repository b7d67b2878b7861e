"""The README's sections the tests run: "Monitor a model you already have" (its shell
blocks) and "Use the checks from Python" (its Python block and the output it shows)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TITLE = "## Monitor a model you already have"
LIBRARY = "## Use the checks from Python"


def section(title: str = TITLE) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else len(text)]


def blocks(language: str, title: str) -> list[str]:
    """The ```LANGUAGE blocks of a section, in order."""
    return [m.group(1) for m in re.finditer(rf"```{language}\n(.*?)```", section(title), re.S)]


def shell_blocks() -> list[str]:
    """The section's ```sh blocks, in order: setup and onboarding, the daemon, looking."""
    return [m.group(1) for m in re.finditer(r"```sh\n(.*?)```", section(), flags=re.S)]


def command(word: str) -> list[str]:
    """The section's `mlmaint WORD ...` line as arguments (after `mlmaint`), unexpanded."""
    for block in shell_blocks():
        for line in block.splitlines():
            if line.startswith(f"mlmaint {word}"):
                return shlex.split(line)[1:]
    raise LookupError(f"the README section has no `mlmaint {word}` line")
