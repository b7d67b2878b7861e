"""Rebuild checks/frameworks/data/advisories.json: real PyPA records for the ML stack.

The package ships this curated subset of the PyPA advisory database (CC-BY 4.0,
github.com/pypa/advisory-database) so `mlmaint demo` and offline installs have
an advisory snapshot without the full database.
Run: .venv/bin/python tests/frameworks/make_snapshot.py [path/to/pypa-advisory-db]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from checks.frameworks.advisories import load_path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "checks" / "frameworks" / "data" / "advisories.json"
PACKAGES = {
    "aiohttp",
    "certifi",
    "cryptography",
    "fastapi",
    "flask",
    "gunicorn",
    "idna",
    "jinja2",
    "joblib",
    "keras",
    "lightgbm",
    "mlflow",
    "numpy",
    "onnx",
    "onnxruntime",
    "pandas",
    "pillow",
    "protobuf",
    "pyarrow",
    "pyyaml",
    "requests",
    "scikit-learn",
    "scipy",
    "setuptools",
    "sqlalchemy",
    "starlette",
    "tensorflow",
    "torch",
    "transformers",
    "urllib3",
    "werkzeug",
    "xgboost",
}


def main() -> None:
    source = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/pypa-advisory-db"
    )
    records = [r for r in load_path(source) if set(r.packages) & PACKAGES]
    records.sort(key=lambda r: r.id)
    OUT.write_text(json.dumps([dict(r.raw) for r in records], separators=(",", ":")) + "\n")
    print(f"{len(records)} records -> {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
