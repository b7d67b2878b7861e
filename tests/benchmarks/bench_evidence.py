"""Evidence page: its size, and its cost against the drift check that it explains.

Run on demand: .venv/bin/python tests/benchmarks/bench_evidence.py [rows] [--evidently]
For three frames (typical; all categorical; 200 wide high-cardinality columns),
all with a `rows`-row window (default 100,000) against a reference of the same
size: the drift check (`DriftCheck.evaluate`, the reference's statistics
built beforehand, as the daemon caches them), the page's figures, its
rendering and its write (which renders it again: the share counts the figures
and the write), best of three each, the page's bytes and the share of the
check's time (target: <= 5%, page <= 300 KB). `--evidently` times
Evidently's full report of the first frame too (seconds).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from checks.drift import DriftCheck
from daemon.checking.specs import drift_spec
from daemon.evidence.page import MAX_BYTES, render_page
from daemon.evidence.write import Draft, draft, write_evidently, write_page
from tests.evidence.frames import END, checked, frame, names, settings

REPEATS = 3


def best(fn: Callable[[], object]) -> tuple[float, object]:
    times, out = [], None
    for _ in range(REPEATS):
        began = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - began)
    return min(times), out


def case(label: str, rows: int, numeric: int, categorical: int, drifted: int, card: int) -> None:
    num = names("n", numeric, long=numeric > 100)
    cat = names("c", categorical, long=numeric > 100)
    model = settings(num, cat)
    moved = (num + cat)[:drifted]
    reference = frame(rows, 1, num, cat, cardinality=card)
    window = frame(rows, 2, num, cat, shifted=moved, cardinality=card)
    ref, _ = checked(model, reference, window)
    spec = drift_spec(model)
    check = DriftCheck(spec=spec, reference=ref)
    check_s, outcome = best(lambda: check.evaluate(window))
    result = outcome.result  # type: ignore[attr-defined]
    observed = {c.column: c.observed for c in outcome.columns if c.observed is not None}  # type: ignore[attr-defined]

    def figures() -> Draft:
        return draft(
            model="bench",
            spec=spec,
            result=result,
            reference=ref,
            window=window,
            window_start=END,
            window_end=END,
            directory=Path(tempfile.gettempdir()) / "mlmaint-bench-evidence",
            observed=observed,
        )

    figures_s, found = best(figures)
    assert isinstance(found, Draft)
    render_s, page = best(lambda: render_page(found.data))
    write_s, path = best(lambda: write_page(found))
    size = len(str(page).encode("utf-8"))
    # The write renders the page itself (write_page): rendering is shown apart, counted once.
    total = figures_s + write_s
    print(
        f"{label}: {numeric} numeric + {categorical} categorical, {len(result.alerting)} "
        f"alerting measures, window of {rows:,} rows"
    )
    print(
        f"  check {check_s * 1000:8.1f} ms | figures {figures_s * 1000:6.1f} ms | render "
        f"{render_s * 1000:5.1f} ms | write (with render) {write_s * 1000:5.1f} ms | page "
        f"{size / 1000:6.1f} KB"
        f" (bound {MAX_BYTES / 1000:.0f} KB)"
    )
    print(f"  evidence / check = {total / check_s:.1%} (figures + write; target <= 5%)")
    if "--evidently" in sys.argv and label == "typical":
        out = Path(str(path)).with_suffix(".evidently.html")
        began = time.perf_counter()
        write_evidently(spec, result, ref, window, out)
        took = time.perf_counter() - began
        print(f"  Evidently's report: {took:.2f} s, {out.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rows = int(args[0]) if args else 100_000
    case("typical", rows, 15, 5, 7, 20)
    case("categorical", rows, 2, 20, 22, 50)
    case("wide", rows, 150, 50, 200, 2000)


if __name__ == "__main__":
    main()
