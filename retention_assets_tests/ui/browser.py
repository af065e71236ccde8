"""A real browser on the real UI: Debian's Chromium driven by Playwright, against `dagster-webserver` on a
Dagster instance that holds the runs a user would have made. Helpers for the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".ui_screenshots"  # git-ignored: for people to look at


def ensure_chromium() -> str:
    """Debian's Chromium, installed with apt when missing (the machines run as root with apt; Playwright's own
    browser download is not reachable). Fails with the command to run when it cannot be installed."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=900, env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], capture_output=True,
                       timeout=1800, env=env, check=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Debian's Chromium at {CHROMIUM}: apt-get install -y chromium")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def webserver(env: dict[str, str], cwd: Path, timeout: float = 180.0):
    """`dagster-webserver` on the code location, in its own process group (killed as a group afterwards);
    without the daemon, so no sensor launches a run while the test looks. Yields the base URL."""
    port = free_port()
    log = (cwd / "webserver.log").open("w")
    process = subprocess.Popen(["dagster-webserver", "-m", "retention_assets.definitions", "-h", "127.0.0.1",
                                "-p", str(port)], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(f"dagster-webserver did not start: {(cwd / 'webserver.log').read_text()[-2000:]}")
                time.sleep(1)
        yield base
    finally:
        os.killpg(process.pid, 9)
        process.wait(timeout=30)
        log.close()


@contextmanager
def browser():
    """A headless Chromium page at 1600x1000, 1x scale (what "readable at 1x" means)."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
            page.set_default_timeout(60_000)
            yield page
        finally:
            chromium.close()


def open_page(page, url: str, wait_for: str) -> None:
    """Go to a page of the React app and wait for a text on it (not for the load event); dismiss the
    first-visit community dialog."""
    page.goto(url)
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.click(timeout=8_000)
    except Exception:  # noqa: BLE001 - the dialog shows once per browser profile
        pass
    page.get_by_text(wait_for, exact=False).first.wait_for()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _open_markdown(page, entry: str):
    """The element showing a markdown metadata entry: its dialog after "Show Markdown" (long entries), else the
    table row itself (short entries render inline)."""
    row = page.locator("tr", has_text=entry).first
    row.wait_for()
    show = row.get_by_text("Show Markdown")
    if not show.count():
        return row, False
    show.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog, True


def _close(page, opened: bool) -> None:
    if opened:
        page.keyboard.press("Escape")
        page.get_by_role("dialog").wait_for(state="hidden")


def markdown_images(page, entry: str) -> list[tuple[int, int]]:
    """The (natural, shown) widths of the images of a markdown metadata entry of the asset page."""
    shown, opened = _open_markdown(page, entry)
    shown.locator("img").first.wait_for()
    sizes = [tuple(img.evaluate("i => [i.naturalWidth, i.clientWidth]")) for img in shown.locator("img").all()]
    _close(page, opened)
    return sizes


def markdown_text(page, entry: str) -> str:
    """The text of a markdown metadata entry of the asset page (tables as tab-separated lines)."""
    shown, opened = _open_markdown(page, entry)
    text = shown.inner_text()
    _close(page, opened)
    return text
