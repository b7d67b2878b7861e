"""[report]: when the weekly report is written, where it is kept and sent."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from daemon.config.common import Frozen, Schedule

# Bound to every address: the links name this machine's loopback address instead.
_ANY_HOST = frozenset({"0.0.0.0", "::", "[::]", ""})
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787


class ReportSettings(Frozen):
    enabled: bool = True
    schedule: Schedule = Schedule(cron="0 8 * * mon", timezone="UTC")
    # Relative: under service.state_dir (Settings.report_directory).
    directory: Path = Path("reports")
    email_channel: str | None = None
    slack_channel: str | None = None
    # Unset in config.toml: derived from [service] http_host/http_port
    # (`derived_base_url`, applied by Settings); set: it wins.
    base_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def derived_base_url(host: str, port: int) -> str:
    """The daemon's address from where it listens: the host as given (an IPv6 one in
    brackets), 127.0.0.1 for the any-address binds 0.0.0.0 and ::."""
    bare = host.strip().strip("[]")
    if host.strip() in _ANY_HOST or bare in _ANY_HOST:
        bare = DEFAULT_HOST
    try:
        literal = ipaddress.ip_address(bare)
    except ValueError:
        literal = None
    shown = f"[{bare}]" if literal is not None and literal.version == 6 else bare
    return f"http://{shown}:{port}"


def _field(table: object, name: str, default: object) -> object:
    if isinstance(table, Mapping):
        return table.get(name, default)
    if isinstance(table, BaseModel):
        return getattr(table, name, default)
    return default


def with_base_url(data: Mapping[str, object]) -> Mapping[str, object]:
    """The raw config with `[report] base_url` filled in from `[service]` when unset.

    Values of the wrong type are left for validation to report.
    """
    report = data.get("report", {})
    if isinstance(report, BaseModel):
        if "base_url" in report.model_fields_set:
            return data
        report = report.model_dump(exclude_unset=True)
    if not isinstance(report, Mapping) or "base_url" in report:
        return data
    service = data.get("service", {})
    host = _field(service, "http_host", DEFAULT_HOST)
    port = _field(service, "http_port", DEFAULT_PORT)
    if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool):
        return data
    if port == 0:
        # A port the kernel picks at start (tests, the demo's world): no address to link
        # to before then, so the default stays.
        return data
    return {**data, "report": {**report, "base_url": derived_base_url(host, port)}}
