"""Third-party progress bars off: they are for terminals, and fill logs and job logs.

MLflow draws a tqdm bar for every artifact download ("Downloading artifacts",
`MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`, read at each download); tqdm itself reads
`TQDM_DISABLE` as the default of `disable` when it is imported. Both are set as
defaults at every entry point (the daemon, the CLI, a worker) and in a retrain
job's environment, so a person who sets them explicitly still gets their bars.
"""

from __future__ import annotations

from collections.abc import MutableMapping

PROGRESS_BARS_OFF = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "TQDM_DISABLE": "1"}


def without_progress_bars(environ: MutableMapping[str, str]) -> None:
    """Turn the bars off in `environ` unless it says otherwise already."""
    for key, value in PROGRESS_BARS_OFF.items():
        environ.setdefault(key, value)
