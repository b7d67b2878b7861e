"""Package index and OSV clients against a loopback server, faults included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from checks.frameworks import SourceUnavailable
from checks.frameworks.advisories import query_batch, sync_export
from checks.frameworks.releases import (
    IndexApi,
    PackageNotFound,
    ReleaseInfo,
    fetch_releases,
)
from tests.frameworks.conftest import FakeIndex, json_api, osv_record, zip_of


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=0.5) as c:
        yield c


def test_json_api(fake_index: FakeIndex, client: httpx.Client) -> None:
    fake_index.json(
        "/pypi/scikit-learn/json",
        json_api(
            "scikit-learn",
            {
                "1.4.0": ("2024-01-18T10:00:00Z", False),
                "1.5.0": ("2024-05-21T10:00:00Z", True),
                "1.6.0rc1": ("2024-11-01T10:00:00Z", False),
            },
        ),
    )
    info = fetch_releases(client, fake_index.url, "Scikit_Learn", IndexApi.JSON)
    assert [r.version for r in info.releases] == ["1.4.0", "1.5.0", "1.6.0rc1"]
    five = info.get("1.5.0")
    assert five is not None and five.yanked and five.yanked_reason == "broken"
    # Yanked and pre-releases are not "latest".
    assert info.latest() is not None and str(info.latest()[0]) == "1.4.0"  # type: ignore[index]
    assert ReleaseInfo.from_json(info.to_json()) == info


def test_simple_api_with_upload_times(fake_index: FakeIndex, client: httpx.Client) -> None:
    fake_index.json(
        "/simple/torch/",
        {
            "meta": {"api-version": "1.1"},
            "name": "torch",
            "versions": ["2.3.0", "2.4.0", "2.5.0"],
            "files": [
                {
                    "filename": "torch-2.3.0-cp311-cp311-manylinux1_x86_64.whl",
                    "upload-time": "2024-04-24T16:00:00.123456Z",
                    "yanked": False,
                    "requires-python": ">=3.8",
                },
                {
                    "filename": "torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl",
                    "upload-time": "2024-07-24T16:00:00Z",
                    "yanked": "bad build",
                },
                {
                    "filename": "torch-2.4.0.tar.gz",
                    "upload-time": "2024-07-23T16:00:00Z",
                    "yanked": "bad build",
                },
                {"filename": "weird.exe", "upload-time": "2024-07-23T16:00:00Z"},
            ],
        },
    )
    info = fetch_releases(client, fake_index.url, "torch", IndexApi.SIMPLE)
    four = info.get("2.4.0")
    assert four is not None and four.yanked and four.yanked_reason == "bad build"
    assert four.uploaded == datetime(2024, 7, 23, 16, tzinfo=UTC)
    # A PEP 700 version without files is still known.
    assert info.get("2.5.0") is not None and info.get("2.5.0").uploaded is None  # type: ignore[union-attr]
    assert info.get("2.3.0").requires_python == ">=3.8"  # type: ignore[union-attr]


@pytest.mark.parametrize("fault", ["slow", "500", "malformed"])
def test_index_faults_are_source_unavailable(
    fault: str, fake_index: FakeIndex, client: httpx.Client
) -> None:
    fake_index.fault("/pypi/numpy/json", fault)
    with pytest.raises(SourceUnavailable, match="package index") as info:
        fetch_releases(client, fake_index.url, "numpy")
    assert {"slow": "Timeout", "500": "HTTP 500", "malformed": "malformed JSON"}[fault] in str(
        info.value
    )


def test_unknown_package_is_not_an_outage(fake_index: FakeIndex, client: httpx.Client) -> None:
    with pytest.raises(PackageNotFound):
        fetch_releases(client, fake_index.url, "my-private-thing")


def test_export_full_then_incremental(fake_index: FakeIndex, client: httpx.Client) -> None:
    a = osv_record("PYSEC-1", "numpy", "0", "1.22.0")
    b = osv_record("GHSA-2", "pillow", "0", "10.0.1")
    fake_index.raw("/osv/PyPI/all.zip", zip_of([a, b]))
    full = sync_export(client, f"{fake_index.url}/osv/PyPI", {})
    assert full.full and {r.id for r in full.records} == {"PYSEC-1", "GHSA-2"}

    known = {r.id: r.modified for r in full.records}
    b2 = {**b, "modified": "2024-03-01T00:00:00Z"}
    fake_index.raw(
        "/osv/PyPI/modified_id.csv",
        b"2024-03-01T00:00:00Z,PyPI/GHSA-2\n2024-01-01T00:00:00Z,PYSEC-1\n",
    )
    fake_index.json("/osv/PyPI/GHSA-2.json", b2)
    fake_index.hits.clear()
    step = sync_export(client, f"{fake_index.url}/osv/PyPI", known)
    assert not step.full and [r.id for r in step.records] == ["GHSA-2"]
    assert "/osv/PyPI/all.zip" not in fake_index.hits and step.listed == 2


def test_export_truncated_zip_and_outage(fake_index: FakeIndex, client: httpx.Client) -> None:
    payload = zip_of([osv_record(f"PYSEC-{i}", "numpy", "0", "2.0") for i in range(50)])
    fake_index.raw("/osv/PyPI/all.zip", payload[: len(payload) // 2])
    with pytest.raises(SourceUnavailable, match="corrupt zip"):
        sync_export(client, f"{fake_index.url}/osv/PyPI", {})
    fake_index.fault("/osv/PyPI/modified_id.csv", "500")
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        sync_export(client, f"{fake_index.url}/osv/PyPI", {"X": datetime.now(UTC)})


def test_query_batch(fake_index: FakeIndex, client: httpx.Client) -> None:
    fake_index.json(
        "/v1/querybatch",
        {"results": [{"vulns": [{"id": "PYSEC-9", "modified": "2024-01-01T00:00:00Z"}]}, {}]},
    )
    fake_index.json("/v1/vulns/PYSEC-9", osv_record("PYSEC-9", "mlflow", "0", "2.12.1"))
    records = query_batch(client, fake_index.url, [("mlflow", "2.9.0"), ("numpy", "2.0.0")])
    assert [r.id for r in records] == ["PYSEC-9"]
    assert fake_index.posts[0]["queries"][0] == {  # type: ignore[index]
        "package": {"name": "mlflow", "ecosystem": "PyPI"},
        "version": "2.9.0",
    }
    # Already held and not newer: not fetched again.
    fake_index.hits.clear()
    held = {"PYSEC-9": datetime(2024, 1, 1, tzinfo=UTC)}
    assert query_batch(client, fake_index.url, [("mlflow", "2.9.0"), ("n", "1")], held) == []
    assert "/v1/vulns/PYSEC-9" not in fake_index.hits
    fake_index.fault("/v1/querybatch", "malformed")
    with pytest.raises(SourceUnavailable, match="malformed JSON"):
        query_batch(client, fake_index.url, [("mlflow", "2.9.0")])
