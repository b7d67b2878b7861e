"""`python -m retrain.run_job SPEC.json OUT.json`: one job in this process.

The local executor starts this as a subprocess; a Celery worker calls the same
`retrain.job.execute`. The outcome is written atomically (temp file, rename), so
a reader sees a whole outcome or none. Exit status: 0 when the job succeeded,
1 when it failed, 2 on bad arguments or an unreadable spec.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from retrain.interface import JobState, RetrainError, RetrainSpec
from retrain.job import execute


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m retrain.run_job SPEC.json OUT.json", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        spec = RetrainSpec.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, RetrainError) as exc:
        print(f"cannot read the retrain spec {argv[0]}: {exc}", file=sys.stderr)
        return 2
    outcome = execute(spec)
    write_atomic(Path(argv[1]), outcome.to_json())
    return 0 if outcome.state is JobState.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
