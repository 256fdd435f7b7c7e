"""The report in a real browser: headless Chromium (Debian's, driven by Playwright) loads it from file://.

Chromium comes from the system (``.ci/run`` installs Debian's ``chromium``);
Playwright only drives it (``executable_path``), it never downloads a browser.
Without Chromium the test is skipped, except under ``CI=true``, where it fails:
CI must prove the page works in a browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from physlens.report import write_report
from tests.test_report import png_size, write_run

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run; .ci/run installs Debian's chromium)")
    pytest.skip(f"{reason}; install it with `apt-get install -y chromium` (CI=true makes this a failure)")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _unavailable("no chromium executable on PATH")
    return path


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright as sp
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    return sp()


def test_report_loads_in_headless_chromium_with_every_image_decoded_and_no_console_error(tmp_path):
    browser_exe = chromium_path()
    report = write_report(write_run(tmp_path / "run"))
    shot = tmp_path / "report.png"
    console, page_errors, requests = [], [], []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=browser_exe, headless=True, args=FLAGS, viewport={"width": 1200, "height": 900})
        try:
            page = context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            response = page.goto(report.as_uri(), wait_until="load")
            assert response is None or response.ok
            state = page.evaluate("""() => ({
                title: document.title,
                ready: document.readyState,
                images: Array.from(document.images).map(i => ({complete: i.complete, w: i.naturalWidth,
                                                               alt: i.alt.slice(0, 60)})),
                sections: document.querySelectorAll("section").length,
                overflow: document.documentElement.scrollWidth - window.innerWidth,
            })""")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    assert state["ready"] == "complete" and state["title"].startswith("physlens report")
    assert len(state["images"]) >= 8
    broken = [i["alt"] for i in state["images"] if not i["complete"] or i["w"] == 0]
    assert not broken, f"images that did not decode: {broken}"
    assert state["sections"] >= 10  # ten finding kinds and the model
    assert state["overflow"] <= 0, "the page scrolls sideways at 1200 px"
    assert not page_errors, page_errors
    assert not [m for m in console if m.startswith("error")], console
    assert all(u.startswith(("file:", "data:")) for u in requests), [u for u in requests if "://" in u][:3]
    width, height = png_size(shot.read_bytes())
    assert width == 1200 and height > 2000 and shot.stat().st_size > 50_000
