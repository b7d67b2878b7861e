"""mlmaint's DLE beside NannyML's, on the same chunks of a regression whose noise grows.

Run on demand:
    .venv/bin/python tests/benchmarks/bench_dle.py [--reference 20000] [--chunk 2000]
        [--nannyml /work/nannyml-venv/bin/python] [--seed 0]

NannyML is never a dependency of mlmaint: it runs in a virtual environment of its
own, in a subprocess, given the same reference and chunks as Parquet files. Make
one with

    python3 -m venv /work/nannyml-venv
    /work/nannyml-venv/bin/pip install "nannyml==0.13.*" statsmodels "pandas<3"

(nannyml 0.13.1 imports statsmodels without declaring it, and its encoders fail on
pandas 3's Arrow strings). Without that
interpreter the script says so and compares mlmaint with the realized values alone.

The data (tests/checks/regression.py): the model predicts the conditional mean;
its noise rises from 0.5 to 2.0 as x1 crosses 1. The reference draws x1 around 0;
the analysis chunks are clean, then shifted along x1 into the noisy region. Both
estimators fit on the labelled reference (NannyML with LightGBM, mlmaint with
scikit-learn's HistGradientBoostingRegressor set to LightGBM's defaults) and
estimate MAE and RMSE on each chunk without its labels. Printed: per chunk, the
realized MAE, both estimates and both alerts; the largest relative difference
between the two estimators; each one's error against the realized values; and
whether the alerts agree. mlmaint's alert is its band (the metric realized on
the reference's chunks, mean + 3 sigma at the chunk's size); NannyML's is its
default: the realized metric on the reference's chunks of this size, mean + 3 sigma.

Exits 1 when mlmaint's MAE estimate is more than 10% off the realized MAE on a
shifted chunk, or (with NannyML) when the two estimates differ by more than
--tolerance (default 3%) on any chunk.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from checks.calibration import realized_band
from checks.interface import LABEL, TaskKind
from checks.performance import DirectLossCheck, DLESpec, Metric, fit_loss_model, realized
from checks.reference import build_reference
from checks.thresholds import BandMode
from tests.checks.regression import CATEGORICAL, NUMERIC, regression_window

SHIFTS = (0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
DEFAULT_NANNYML = Path("/work/nannyml-venv/bin/python")

# Run by NannyML's interpreter: DLE with its defaults, one chunk per analysis chunk.
NANNYML_SCRIPT = """
import json, sys
import pandas as pd
import nannyml as nml

reference = pd.read_parquet(sys.argv[1])
analysis = pd.read_parquet(sys.argv[2])
features = json.loads(sys.argv[3])
chunk = int(sys.argv[4])
# pandas 3 reads text as Arrow strings, which NannyML's encoder cannot reshape.
for frame in (reference, analysis):
    for name in json.loads(sys.argv[5]):
        frame[name] = frame[name].astype(object)
dle = nml.DLE(
    feature_column_names=features,
    y_pred="prediction",
    y_true="label",
    metrics=["mae", "rmse"],
    chunk_size=chunk,
)
dle.fit(reference)
out = dle.estimate(analysis).filter(period="analysis").to_df()
rows = []
for _, r in out.iterrows():
    rows.append({
        m: {
            "value": float(r[(m, "value")]),
            "alert": bool(r[(m, "alert")]),
            "upper": float(r[(m, "upper_threshold")]),
        }
        for m in ("mae", "rmse")
    })
print(json.dumps({"version": nml.__version__, "chunks": rows}))
"""


def nannyml_estimates(
    python: Path, reference: pd.DataFrame, analysis: pd.DataFrame, chunk: int
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, analysis_path = Path(tmp) / "reference.parquet", Path(tmp) / "analysis.parquet"
        reference.to_parquet(ref_path)
        analysis.to_parquet(analysis_path)
        features = json.dumps([*NUMERIC, *CATEGORICAL])
        out = subprocess.run(
            [
                str(python),
                "-c",
                NANNYML_SCRIPT,
                str(ref_path),
                str(analysis_path),
                features,
                str(chunk),
                json.dumps(list(CATEGORICAL)),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
    if out.returncode != 0:
        raise SystemExit(f"NannyML's run failed:\n{out.stderr[-3000:]}")
    found: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--nannyml", type=Path, default=DEFAULT_NANNYML)
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0, help="another draw of the same data")
    args = parser.parse_args()

    base = 1_000 * args.seed
    reference = regression_window(args.reference, base + 1)
    chunks = [regression_window(args.chunk, base + 100 + i, shift=s) for i, s in enumerate(SHIFTS)]
    columns = [*NUMERIC, *CATEGORICAL, "prediction", LABEL]
    reference, chunks = reference[columns], [c[columns] for c in chunks]

    began = time.perf_counter()
    model = fit_loss_model(reference, NUMERIC, CATEGORICAL)
    assert model is not None
    fit_s = time.perf_counter() - began
    ref = build_reference(reference, (*NUMERIC, "prediction", LABEL), CATEGORICAL)
    checks = {
        metric: DirectLossCheck(
            spec=DLESpec(metric=metric, mode=BandMode.BAND, min_rows=1),
            reference=ref,
            model=model,
            band=realized_band(TaskKind.REGRESSION, metric, reference),
        )
        for metric in (Metric.MAE, Metric.RMSE)
    }
    began = time.perf_counter()
    ours = []
    for chunk in chunks:
        unlabelled = chunk.drop(columns=[LABEL])
        results = {m: c.run(unlabelled) for m, c in checks.items()}
        ours.append(
            {
                m.value: {
                    "value": results[m].measure(m.value, "estimated").value,
                    "alert": results[m].measure(m.value, "estimated").alerting,
                    "upper": results[m].measure(m.value, "estimated").threshold,
                }
                for m in checks
            }
        )
    estimate_s = time.perf_counter() - began
    print(
        f"reference {args.reference:,} rows, {len(chunks)} chunks of {args.chunk:,} rows; "
        f"mlmaint's fit {fit_s:.2f}s, estimates {estimate_s:.2f}s"
    )
    truth = [realized(TaskKind.REGRESSION, c, (Metric.MAE, Metric.RMSE)) for c in chunks]

    theirs: list[dict[str, dict[str, object]]] | None = None
    if args.nannyml.exists():
        began = time.perf_counter()
        found = nannyml_estimates(
            args.nannyml, reference, pd.concat(chunks, ignore_index=True), args.chunk
        )
        chunks_out = found["chunks"]
        assert isinstance(chunks_out, list) and len(chunks_out) == len(chunks)
        theirs = chunks_out
        took = time.perf_counter() - began
        print(f"NannyML {found['version']} (LightGBM): fit and estimate {took:.2f}s")
    else:
        print(
            f"NannyML skipped: no interpreter at {args.nannyml} "
            "(see this script's docstring to make one; --nannyml PATH names another)"
        )

    failed = False
    for metric in ("mae", "rmse"):
        print(f"\n{metric}: shift  realized  mlmaint  NannyML  rel.diff  alert mlmaint/NannyML")
        diffs, ours_err, theirs_err, agree = [], [], [], 0
        for i, shift in enumerate(SHIFTS):
            actual = truth[i][Metric(metric)]
            mine = float(str(ours[i][metric]["value"]))
            mine_alert = bool(ours[i][metric]["alert"])
            ours_err.append(abs(mine / actual - 1))
            if shift > 0 and metric == "mae" and ours_err[-1] > 0.10:
                failed = True
            line = f"  {shift:4.1f}  {actual:8.4f}  {mine:7.4f}"
            if theirs is not None:
                other = float(str(theirs[i][metric]["value"]))
                other_alert = bool(theirs[i][metric]["alert"])
                diffs.append(abs(mine / other - 1))
                theirs_err.append(abs(other / actual - 1))
                agree += mine_alert == other_alert
                line += f"  {other:7.4f}  {diffs[-1]:7.2%}  {mine_alert!s:5}/{other_alert!s:5}"
            else:
                line += f"  {'-':>7}  {'-':>7}  {mine_alert!s:5}/-"
            print(line)
        print(
            f"  mlmaint vs realized: mean |rel. error| {sum(ours_err) / len(ours_err):.2%}, "
            f"max {max(ours_err):.2%}"
        )
        if theirs is not None:
            print(
                f"  NannyML vs realized: mean |rel. error| "
                f"{sum(theirs_err) / len(theirs_err):.2%}, max {max(theirs_err):.2%}"
            )
            print(
                f"  max relative difference mlmaint / NannyML: {max(diffs):.2%} "
                f"(tolerance {args.tolerance:.0%}); alerts agree on {agree}/{len(SHIFTS)} chunks"
            )
            failed = failed or max(diffs) > args.tolerance
    print("\nresult:", "FAIL" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
