"""An entry point module that cannot be imported."""

from __future__ import annotations

import mlmaint_no_such_package  # type: ignore[import-not-found]  # noqa: F401


def train(train: object, context: object) -> object:
    return None
