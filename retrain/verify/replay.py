"""`python -m retrain.verify.replay REQUEST.json OUT.json`: score the champion in this environment.

Started twice per verification, once by the current interpreter and once by
the candidate's, so both sides are measured the same way. It loads the model
with the scorer mlmaint uses for champion and challenger
(`retrain.model_scoring.load_scorer`: the native scikit-learn flavor where it
gives probabilities, else `mlflow.pyfunc.load_model`), scores every dataset
in one call, then times single-row calls for the latency percentiles, and
reports its own peak memory (`getrusage(RUSAGE_SELF).ru_maxrss`, KiB on Linux).

A model that does not load or score is an outcome (`stage` and the
traceback), never a crash the caller has to parse. Exit status: 0 scored,
3 failed to load or score, 2 bad arguments.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
import warnings
from pathlib import Path

TAIL_CHARS = 4000


def _versions(names: list[str]) -> dict[str, str]:
    from importlib import metadata

    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def replay(request: dict[str, object]) -> dict[str, object]:
    import pandas as pd

    from checks.interface import TaskKind
    from retrain.model_scoring import load_scorer

    task = TaskKind(str(request["task"]))
    positive = request.get("positive")
    features = [str(c) for c in request["features"]]  # type: ignore[attr-defined]
    versions = _versions([str(n) for n in request.get("packages", [])])  # type: ignore[attr-defined]
    started = time.monotonic()
    try:
        scorer = load_scorer(
            str(request["model_dir"]), task, None if positive is None else str(positive)
        )
    except Exception as exc:
        return {"stage": "load", "error": _tail(exc), "versions": versions}
    load_s = time.monotonic() - started
    outputs: dict[str, list[object]] = {}
    latencies: list[float] = []
    try:
        frames = {
            str(d["name"]): pd.read_parquet(str(d["path"])).loc[:, features]
            for d in request["datasets"]  # type: ignore[attr-defined]
        }
        for name, frame in frames.items():
            outputs[name] = scorer.predict(frame).tolist()
        rows = int(request.get("latency_rows", 200))  # type: ignore[call-overload]
        sample = next((f for f in frames.values() if len(f)), None)
        if sample is not None:
            for i in range(min(rows, len(sample))):
                one = sample.iloc[i : i + 1]
                t0 = time.perf_counter()
                scorer.predict(one)
                latencies.append(time.perf_counter() - t0)
    except Exception as exc:
        return {"stage": "score", "error": _tail(exc), "versions": versions}
    return {
        "gives": scorer.gives.value,
        "outputs": outputs,
        "latencies_s": latencies,
        "load_s": load_s,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "versions": versions,
    }


def _tail(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    return text[-TAIL_CHARS:]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m retrain.verify.replay REQUEST.json OUT.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    sys.path[:0] = [str(p) for p in request.get("python_path", [])]
    with warnings.catch_warnings():
        # MLflow's and scikit-learn's advice on load is not the verdict's business.
        warnings.simplefilter("ignore")
        result = replay(request)
    out = Path(argv[1])
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(out)
    return 3 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
