"""The report in headless Chromium (Debian's `chromium`): it renders, reads, and
makes no network request.

Chromium runs with a loopback recording proxy for every scheme and host
(`<-loopback>` removes the implicit loopback bypass), so any fetch the page
attempts shows up there. A control page with one external image proves the
proxy would see it.
"""

from __future__ import annotations

import socketserver
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from daemon.jobs import JobContext
from daemon.report.deliver import build_report
from daemon.report.weeks import Week
from tests.chromium import browser_env, headless
from tests.report.conftest import WEEK, free_port
from tests.report.seed import Seeded

WIDTH, HEIGHT = 1280, 2400
# The charts' threshold orange: drawn only by matplotlib in this page.
CHART_ORANGE = (0xE0, 0x80, 0x1B)


class RecordingProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        self.requests: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(4096).decode("latin-1").strip()
                proxy.requests.append(line)
                self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

        super().__init__(("127.0.0.1", port), Handler)


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    server = RecordingProxy(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def screenshot(page: Path, out: Path, proxy: RecordingProxy, profile: Path) -> None:
    command = headless(
        profile,
        f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}",
        "--proxy-bypass-list=<-loopback>",
        f"--window-size={WIDTH},{HEIGHT}",
        "--hide-scrollbars",
        f"--screenshot={out}",
        page.as_uri(),
    )
    env = browser_env(profile)
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False, env=env)
    assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_report_renders_in_chromium_without_network(
    seeded: tuple[JobContext, Seeded], week: Week, proxy: RecordingProxy, tmp_path: Path
) -> None:
    ctx, _ = seeded
    built = build_report(ctx, WEEK, week.end + timedelta(hours=8))

    # Control: the proxy sees an external request when a page makes one.
    control = tmp_path / "control.html"
    control.write_text('<html><body><img src="http://203.0.113.9/pixel.png">x</body></html>')
    screenshot(control, tmp_path / "control.png", proxy, tmp_path / "profile-control")
    assert any("203.0.113.9" in r for r in proxy.requests), proxy.requests
    proxy.requests.clear()

    shot = Path(ctx.settings.report.directory) / "screenshot.png"
    screenshot(built.path, shot, proxy, tmp_path / "profile")
    assert not proxy.requests, "\n".join(proxy.requests)

    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None
    counts = {rgb: n for n, rgb in colours}
    # Not blank: a background, text, cards, tags and charts give many colours.
    assert len(counts) > 200
    background = max(counts.values())
    assert background < 0.9 * WIDTH * HEIGHT
    # The charts drew (their threshold lines), and the health tags show.
    assert counts.get(CHART_ORANGE, 0) > 200
    assert counts.get((0xC6, 0x28, 0x28), 0) > 50  # alerting red
    assert counts.get((0x2E, 0x7D, 0x32), 0) > 50  # healthy green
