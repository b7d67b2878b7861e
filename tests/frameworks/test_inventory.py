"""Inventories give exactly what pip list or the file says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from checks.frameworks import InventoryError
from checks.frameworks import inventory as inv

VENV_PYTHON = Path(sys.executable)


def test_own_venv_equals_pip_list() -> None:
    listed = subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    expected = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    found = inv.from_interpreter("venv", VENV_PYTHON)
    assert found.versions() == expected
    assert found.python_version == ".".join(map(str, sys.version_info[:3]))
    assert len(expected) > 50


def test_local_build_label_kept() -> None:
    package = inv.Package(name="torch", version="2.4.1+cu118")
    assert package.local == "cu118"


def test_missing_interpreter_is_an_inventory_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such interpreter"):
        inv.from_interpreter("x", tmp_path / "python")


UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "demo-app"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "torch" }]

[[package]]
name = "Torch"
version = "2.4.1+cu118"
source = { registry = "https://download.pytorch.org/whl/cu118" }

[[package]]
name = "numpy"
version = "1.26.4"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "scikit_learn"
version = "1.5.0"
source = { registry = "https://pypi.org/simple" }
"""


def test_uv_lock(tmp_path: Path) -> None:
    path = tmp_path / "uv.lock"
    path.write_text(UV_LOCK)
    found = inv.from_lock("svc", path)
    assert found.source is inv.SourceKind.UV_LOCK
    assert found.versions() == {"torch": "2.4.1+cu118", "numpy": "1.26.4", "scikit-learn": "1.5.0"}


def test_poetry_pylock_and_pipfile_locks(tmp_path: Path) -> None:
    poetry = tmp_path / "poetry.lock"
    poetry.write_text(
        '[[package]]\nname = "Pillow"\nversion = "9.0.0"\n\n[metadata]\nlock-version = "2.0"\n'
    )
    assert inv.from_lock("p", poetry).versions() == {"pillow": "9.0.0"}
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(
        'lock-version = "1.0"\ncreated-by = "pip"\n\n'
        '[[packages]]\nname = "onnx"\nversion = "1.15.0"\n\n[[packages]]\nname = "local-thing"\n'
    )
    assert inv.from_lock("l", pylock).versions() == {"onnx": "1.15.0", "local-thing": None}
    pipfile = tmp_path / "Pipfile.lock"
    pipfile.write_text(
        json.dumps(
            {
                "_meta": {"requires": {"python_full_version": "3.10.4"}},
                "default": {"mlflow": {"version": "==2.9.0"}, "git-dep": {"git": "https://x"}},
                "develop": {"pytest": {"version": "==8.0.0"}},
            }
        )
    )
    found = inv.from_lock("pf", pipfile)
    assert found.versions() == {"mlflow": "2.9.0", "git-dep": None, "pytest": "8.0.0"}
    assert found.python_version == "3.10.4"
    bad = tmp_path / "other.lock"
    bad.write_text("")
    with pytest.raises(InventoryError, match="unknown lock format"):
        inv.from_lock("b", bad)


def test_requirements_with_includes_hashes_and_markers(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("numpy==1.26.4 \\\n    --hash=sha256:abc\n")
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# comment\n-r base.txt\n--index-url https://example.invalid/simple\n"
        "torch==2.4.1+cu118 ; python_version >= '3.9'  # pinned\n"
        "Scikit_Learn>=1.4\nrequests[socks]===2.31.0\n"
    )
    found = inv.from_requirements("r", path)
    assert found.versions() == {
        "numpy": "1.26.4",
        "torch": "2.4.1+cu118",
        "scikit-learn": None,
        "requests": "2.31.0",
    }


def test_mlflow_model_directory(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "mlflow==2.9.2\ncloudpickle==3.0.0\nscikit-learn==1.3.2\n"
    )
    (tmp_path / "python_env.yaml").write_text("python: 3.10.13\nbuild_dependencies:\n- pip\n")
    found = inv.from_mlflow_model("m", tmp_path)
    assert found.versions() == {"mlflow": "2.9.2", "cloudpickle": "3.0.0", "scikit-learn": "1.3.2"}
    assert found.python_version == "3.10.13"
