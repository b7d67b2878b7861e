"""Links follow the HTTP server: `[report] base_url` unset is derived from
`[service] http_host`/`http_port` (127.0.0.1 for an any-address bind); set, it wins."""

from __future__ import annotations

from pathlib import Path

from daemon.config import load_config, parse_config
from daemon.report.deliver import report_link

ROOT = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path, environ={"TOKEN": "t" * 32}).report.base_url


def test_links_follow_the_configured_http_port_unless_base_url_is_set(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[service]\nhttp_port = 8797\n")
    settings = load_config(path, environ={})
    assert settings.report.base_url == "http://127.0.0.1:8797"
    # One rendered link: the weekly report's, as alerts and the footer build them.
    assert report_link(settings, "2026-W49") == "http://127.0.0.1:8797/reports/2026-W49"

    token = '\napi_token = { env = "TOKEN" }\n'
    assert _load(tmp_path, f'[service]\nhttp_host = "10.0.0.5"{token}') == ("http://10.0.0.5:8787")
    for anywhere in ("0.0.0.0", "::"):
        said = _load(tmp_path, f'[service]\nhttp_host = "{anywhere}"\nhttp_port = 9000{token}')
        assert said == "http://127.0.0.1:9000", anywhere
    assert _load(tmp_path, '[service]\nhttp_host = "::1"\nhttp_port = 9001\n') == (
        "http://[::1]:9001"
    )
    explicit = '[service]\nhttp_port = 8797\n[report]\nbase_url = "https://mlmaint.example.com"\n'
    assert _load(tmp_path, explicit) == "https://mlmaint.example.com"
    # No [service] table at all, and the shipped config (base_url left unset): the default.
    assert parse_config({}, environ={}).report.base_url == "http://127.0.0.1:8787"
    assert load_config(ROOT / "config.toml", environ={}).report.base_url == (
        "http://127.0.0.1:8787"
    )


def test_a_port_picked_at_start_keeps_the_default_base_url(tmp_path: Path) -> None:
    # http_port = 0 (the demo's world, tests): no address exists before the server starts,
    # so links never say ":0".
    assert _load(tmp_path, "[service]\nhttp_port = 0\n") == "http://127.0.0.1:8787"
