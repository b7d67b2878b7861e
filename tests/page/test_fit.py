"""The page's layout in headless Chromium: it fits a laptop screen and its charts read.

Chromium is asked over its DevTools protocol (tests/page/devtools.py) how wide
the document is laid out and how large the charts' text is drawn; the page
itself runs no script. Screenshots at 1440x900 and 1100x900 are written to the
test's folder (printed; run with -s).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from daemon.jobs import JobContext
from tests.page.devtools import Tab, browser_tab
from tests.page.seed import Seeded
from tests.page.test_page import serving

# Laptop widths: the page must not scroll sideways at any of them.
NARROW = (1024, 1100)
WIDE = 1440
# Axis and tick text, in CSS pixels as drawn.
MIN_TEXT_PX = 11.0


def shoot(tab: Tab, out: Path, *, whole: bool = False) -> None:
    """The window as shown, or (`whole`) the whole page at the window's width."""
    shot = tab.call("Page.captureScreenshot", format="png", captureBeyondViewport=whole)
    out.write_bytes(base64.b64decode(shot["data"]))


def text_px(tab: Tab, selector: str) -> float:
    """The drawn size of the first SVG text matching `selector`, in CSS pixels: its
    font size in user units times the SVG's scale (drawn width over viewBox width)."""
    root = tab.call("DOM.getDocument")["root"]["nodeId"]
    text = tab.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
    assert text, f"no element matches {selector!r}"
    style = tab.call("CSS.getComputedStyleForNode", nodeId=text)["computedStyle"]
    size = float(next(p["value"] for p in style if p["name"] == "font-size").removesuffix("px"))
    svg = selector.rsplit(" text", 1)[0]
    node = tab.call("DOM.querySelector", nodeId=root, selector=svg)["nodeId"]
    attributes = tab.call("DOM.getAttributes", nodeId=node)["attributes"]
    view_box = dict(zip(attributes[::2], attributes[1::2], strict=True))["viewBox"]
    return size * tab.width_of(svg) / float(view_box.split()[2])


def blocked_by_policy(tab: Tab) -> list[str]:
    """What the browser refused under the page's Content-Security-Policy, as it says it."""
    said = []
    for event in tab.events:
        params = event["params"]
        if event["method"] == "Log.entryAdded" and params["entry"]["source"] == "security":
            said.append(params["entry"]["text"])
        if event["method"] == "Audits.issueAdded" and "ContentSecurityPolicy" in str(params):
            said.append(str(params["issue"]["details"]))
    return said


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_page_fits_a_laptop_screen_without_sideways_scrolling(
    seeded: tuple[JobContext, Seeded], tmp_path: Path
) -> None:
    ctx, info = seeded
    shots = []
    with serving(ctx, info.now) as server:
        for width in NARROW:
            for path in ("/", f"/models/{info.model}"):
                profile = tmp_path / f"profile-{width}-{len(path)}"
                with browser_tab(
                    server.url + path, profile, width, 900, enable=("Log", "Audits")
                ) as tab:
                    metrics = tab.call("Page.getLayoutMetrics")
                    # The page runs under its own policy: nothing it uses is blocked.
                    assert not blocked_by_policy(tab), (path, blocked_by_policy(tab))
                    viewport = metrics["cssLayoutViewport"]["clientWidth"]
                    assert viewport == width
                    # The document is no wider than the window: no sideways scrollbar.
                    assert metrics["cssContentSize"]["width"] <= viewport, (width, path)
                    # And the retrain and version tables fit the section they are in.
                    section = tab.width_of("section.model")
                    for table in ("table.jobs", "table.versions"):
                        assert tab.width_of(table) <= section, (width, path, table)
                    if width == 1100:
                        shots.append(tmp_path / f"page-{width}-{len(path)}.png")
                        shoot(tab, shots[-1])
                        shots.append(tmp_path / f"page-{width}-{len(path)}-whole.png")
                        shoot(tab, shots[-1], whole=True)
    print("\nscreenshots at 1100x900 (and whole pages at 1100 wide):", *shots)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_chart_text_is_readable_on_a_laptop(
    seeded: tuple[JobContext, Seeded], tmp_path: Path
) -> None:
    ctx, info = seeded
    shots = []
    with serving(ctx, info.now) as server:
        for path in ("/", f"/models/{info.model}"):
            with browser_tab(server.url + path, tmp_path / f"p{len(path)}", WIDE, 900) as tab:
                tab.call("DOM.enable")
                tab.call("CSS.enable")
                for chart in ("figure.drift svg.chart", "figure.performance svg.chart"):
                    for text in ("text.x-tick", "text.y-tick", "text.y-label"):
                        size = text_px(tab, f"{chart} {text}")
                        assert size >= MIN_TEXT_PX, (path, chart, text, round(size, 2))
                shots.append(tmp_path / f"page-{WIDE}-{len(path)}.png")
                shoot(tab, shots[-1])
    print("\nscreenshots at 1440x900:", *shots)
