"""Rebuild checks/frameworks/data/release_history.json: real PyPI release histories.

The demo's local index (daemon/frameworks/local_index.py) and the sync tests
serve these: versions, upload times (PEP 700), yanked flags and requires-python
of a few packages, as PyPI's PEP 691 project pages list them. Pre-releases are
left out to keep the file small.
Run: .venv/bin/python tests/frameworks/make_release_history.py PAGES_DIR
where PAGES_DIR holds `<name>.json`, each PyPI's `/simple/<name>/` page fetched
with `Accept: application/vnd.pypi.simple.v1+json` (pip's own session does).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from packaging.version import Version

from checks.frameworks.releases import SHIPPED_HISTORY, parse_simple_api

PACKAGES = ("mlflow", "numpy", "pandas", "pillow", "requests", "scikit-learn", "scipy", "torch")


def main(pages: Path) -> None:
    infos = []
    for name in PACKAGES:
        url = f"https://pypi.org/simple/{name}/"
        info = parse_simple_api(json.loads((pages / f"{name}.json").read_text()), name, url, url)
        kept = tuple(
            r
            for r in info.releases
            if r.uploaded is not None and (r.yanked or not Version(r.version).is_prerelease)
        )
        infos.append(replace(info, releases=kept).to_json())
    SHIPPED_HISTORY.write_text(
        json.dumps(
            {
                "source": "https://pypi.org/simple/ (PEP 691 JSON, PEP 700 upload-time)",
                "fetched": datetime.now(UTC).date().isoformat(),
                "packages": infos,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
