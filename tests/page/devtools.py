"""Layout sizes from headless Chromium over the DevTools protocol, with no script in the page.

The page's policy forbids every script, and `--dump-dom` gives no layout: the
test starts Chromium with a DevTools port, loads the page and asks the browser
itself (Page.getLayoutMetrics, DOM.getBoxModel) how wide the document and its
elements are laid out.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.chromium import browser_env, headless


@dataclass
class Tab:
    socket: ClientConnection
    sent: int = 0
    # Every event the browser sent while a call or a wait read past it, in order.
    events: list[dict[str, Any]] = field(default_factory=list)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.sent += 1
        ident = self.sent
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == ident:
                assert "error" not in message, message
                return dict(message["result"])
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str) -> None:
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if "method" in message:
                self.events.append(message)
            if message.get("method") == event:
                return

    def width_of(self, selector: str) -> float:
        """The laid-out border-box width of the first element matching `selector`."""
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        assert node, f"no element matches {selector!r}"
        quad = self.call("DOM.getBoxModel", nodeId=node)["model"]["border"]
        return float(quad[2] - quad[0])


@contextmanager
def browser_tab(
    url: str, profile: Path, width: int, height: int, enable: tuple[str, ...] = ()
) -> Iterator[Tab]:
    """Chromium at `width`x`height` with `url` loaded, driven over its DevTools socket.

    `enable`: DevTools domains ("Log", "Audits") turned on before the page loads,
    so their events about the load are in `Tab.events`.
    """
    command = headless(
        profile,
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
    )
    env = browser_env(profile)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            assert process.poll() is None, "chromium exited before opening its DevTools port"
            assert time.monotonic() < deadline, "chromium opened no DevTools port in 30 s"
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            tab = Tab(socket)
            tab.call("Page.enable")
            for domain in enable:
                tab.call(f"{domain}.enable")
            tab.call("Page.navigate", url=url)
            tab.wait_for("Page.loadEventFired")
            yield tab
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
