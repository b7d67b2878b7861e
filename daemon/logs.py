"""Logging set-up for the entry points: one line per event, journald-friendly."""

from __future__ import annotations

import logging
import sys

from retrain.quiet import without_progress_bars

# Libraries that log per request or per migration step at INFO.
NOISY = (
    "httpx",
    "httpcore",
    "mlflow",
    "urllib3",
    "alembic",
    "apscheduler",
    "celery",
    "kombu",
    "matplotlib",
    "evidently",
    "git",
)


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once; under journald no timestamps (it adds its own)."""
    import os

    # Before MLflow or tqdm is imported: progress bars stay out of the log.
    without_progress_bars(os.environ)
    under_journald = "JOURNAL_STREAM" in os.environ
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if under_journald
        else ("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
