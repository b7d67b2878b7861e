"""`python -m retrain.verify.run SPEC.json OUT.json`: one verification in this process.

The local executor starts this as a subprocess with the interpreter jobs run
in (the "current" environment); a Celery worker calls `retrain.verify.job.execute`.
OUT.json holds the outcome, or `{"error": ...}` when the verification could not
run. Exit status: 0 with an outcome, 1 when it could not run, 2 on bad arguments.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path

from retrain.interface import RetrainError
from retrain.run_job import write_atomic
from retrain.verify.job import execute
from retrain.verify.spec import VerifySpec


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m retrain.verify.run SPEC.json OUT.json", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Third-party deprecation notices (attrs, MLflow, pandas) are not the verdict's
    # business, and their lines would crowd the log tail an error quotes.
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    try:
        spec = VerifySpec.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, RetrainError) as exc:
        print(f"cannot read the verify spec {argv[0]}: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = execute(spec)
    except RetrainError as exc:
        write_atomic(Path(argv[1]), json.dumps({"error": str(exc)}))
        return 1
    write_atomic(Path(argv[1]), outcome.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
