"""Debian's Chromium, driven by Playwright (never a downloaded browser build), with the
flags this machine needs and a fresh profile each time; what a page logged and asked
for, so tests can assert it loads cleanly and fetches nothing."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass
class Watched:
    page: Any  # playwright.sync_api.Page
    errors: list[str] = field(default_factory=list)  # console errors and page errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[Watched]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.new_page()
            watched = Watched(page)
            page.on(
                "console",
                lambda m: watched.errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: watched.errors.append(str(e)))
            page.on("request", lambda r: watched.requests.append(r.url))
            yield watched
        finally:
            context.close()
