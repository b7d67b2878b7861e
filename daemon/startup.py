"""The cyclic garbage collector while a command starts.

Importing pandas, SQLAlchemy, pyarrow and numpy makes a few hundred thousand
objects that live as long as the process. Each automatic collection of the
oldest generation walks all of them again, and importing and reading a
100k-row window trigger many such collections: about 0.3 s of a 1.6 s
`mlmaint check` (issue 17, `tests/benchmarks/bench_cli.py`).

So the console script pauses automatic collection (`pause`) before a command
imports what it needs, and resumes it (`resume`) once the modules are loaded.
Resuming first moves every object alive at that point to the permanent
generation (`gc.freeze`): later collections walk only what the command makes,
and nothing is left uncollected. A command resumes as soon as it is chosen
(`daemon.cli_context.Group`) unless it is marked `resumes_itself`; then it calls
`resume` after its own imports. A process that never paused (the tests, a
library caller) is untouched: `resume` then does nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

_RESUMES_ITSELF = "_mlmaint_resumes_gc"
_paused = False


def pause() -> None:
    """Stop automatic collection until `resume` (the console script, before a command)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what is alive and collect automatically again; a no-op unless `pause` ran."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def paused() -> bool:
    return _paused


def resumes_itself(function: F) -> F:
    """Mark a command callback that calls `resume` after its own imports."""
    setattr(function, _RESUMES_ITSELF, True)
    return function


def resumes_itself_marked(function: object) -> bool:
    return getattr(function, _RESUMES_ITSELF, False) is True
