"""Debian's Chromium, headless: the DOM after load (``--dump-dom``) and a screenshot of a page.

CI installs it (``.ci/run``); there a missing binary is a failure, elsewhere the test is skipped.
The flags are the ones that work on this kind of machine (no sandbox as root, no network
chatter: background networking would only meet refused connections).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def binary() -> str:
    found = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    if found is None:
        if in_ci():
            pytest.fail("chromium is not installed: .ci/run must install Debian's `chromium` package")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    return found


def _run(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [binary(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False)


def dump_dom(page: Path, profile: Path) -> str:
    proc = _run(page, profile, "--dump-dom")
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def screenshot(page: Path, profile: Path, out: Path, *, size: str = "1200,1600") -> Path:
    proc = _run(page, profile, f"--screenshot={out}", f"--window-size={size}")
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]
    return out


class Elements(HTMLParser):
    """Every start tag of a document: (tag, attributes), and its text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def having(self, attr: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if attr in a]
