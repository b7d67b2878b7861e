"""The package index candidates are installed from: does it answer, which versions it has.

Asked before anything is built. An index that does not answer is no verdict on
the upgrade: pip would only say "no matching distribution", and the upgrade
would read as failing to install when it was never tried. A version the index
does not have fails fast, naming the versions it does have.

The project page of the PEP 503/691 Simple API is read, JSON where the index
speaks it, else the HTML page pip reads: a directory of wheels served over
HTTP is an index too.
"""

from __future__ import annotations

import html.parser
from collections.abc import Sequence

import httpx
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from checks.frameworks.releases import file_version
from retrain.verify.spec import VerifyError

SIMPLE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)
# Versions named in the message of one the index lacks: the newest this many.
SHOWN_VERSIONS = 8


class IndexUnreachable(VerifyError):
    """The index did not answer: nothing was verified."""

    def __init__(self, index_url: str, why: str) -> None:
        self.index_url = index_url
        super().__init__(
            f"the package index {index_url} did not answer ({why}): nothing was verified; "
            "check [frameworks] index_url"
        )


class NotOnIndex(VerifyError):
    """The upgrade names a version (or a package) the index does not have."""


def pip_index(index_url: str) -> str:
    """pip's index for the configured base URL: its PEP 503 simple API."""
    base = index_url.rstrip("/")
    return base if base.endswith("/simple") else f"{base}/simple/"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            self.names.append(href.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1])


def _filenames(response: httpx.Response) -> list[str]:
    if "json" in response.headers.get("content-type", ""):
        data = response.json()
        files = data.get("files") if isinstance(data, dict) else None
        return [str(f["filename"]) for f in files or () if isinstance(f, dict) and "filename" in f]
    links = _Links()
    links.feed(response.text)
    return links.names


def index_versions(
    index_url: str, package: str, *, timeout_s: float = 10.0, client: httpx.Client | None = None
) -> list[Version] | None:
    """The versions the index has of `package`, ascending; None when it does not know it.

    Raises IndexUnreachable when the index does not answer (refused, timed
    out, a server error).
    """
    name = canonicalize_name(package)
    url = f"{pip_index(index_url).rstrip('/')}/{name}/"
    own = client is None
    http = client or httpx.Client(timeout=timeout_s, follow_redirects=True)
    try:
        response = http.get(url, headers={"Accept": SIMPLE_ACCEPT})
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise IndexUnreachable(index_url, f"HTTP {response.status_code} on GET {url}")
        names = _filenames(response)
    except httpx.HTTPError as exc:
        raise IndexUnreachable(index_url, f"{type(exc).__name__}: {exc}") from exc
    except ValueError as exc:
        raise IndexUnreachable(index_url, f"unreadable project page {url}: {exc}") from exc
    finally:
        if own:
            http.close()
    found: set[Version] = set()
    for filename in names:
        text = file_version(filename, name)
        if text is None:
            continue
        try:
            found.add(Version(text))
        except InvalidVersion:
            continue
    return sorted(found)


def _listed(versions: Sequence[Version]) -> str:
    shown = [str(v) for v in versions[-SHOWN_VERSIONS:]]
    more = len(versions) - len(shown)
    return ", ".join(shown) + (f" (and {more} older)" if more > 0 else "")


def require_on_index(index_url: str, upgrade: Requirement, *, timeout_s: float = 10.0) -> None:
    """Fail fast on an upgrade the index cannot give: not there, or not that version."""
    (pin,) = [s for s in upgrade.specifier if s.operator == "=="]
    versions = index_versions(index_url, upgrade.name, timeout_s=timeout_s)
    if versions is None:
        raise NotOnIndex(f"{upgrade.name} is not on the package index {index_url}")
    if not any(pin.contains(v, prereleases=True) for v in versions):
        has = _listed(versions) if versions else "no installable files"
        raise NotOnIndex(
            f"{upgrade.name}=={pin.version} is not on the package index {index_url}; it has {has}"
        )
