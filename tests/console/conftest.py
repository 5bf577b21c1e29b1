"""The web console in a real browser: Playwright driving Debian's Chromium against the real proxy.

Chromium is `/usr/bin/chromium` (installed by scripts/bootstrap through scripts/install-chromium); no
browser is ever downloaded. Without it the browser tests skip saying why, except under CI=true, where
they fail. One proxy (with a fake OpenAI upstream) and one browser serve the whole module; each test
gets a fresh browser context (its own sessionStorage), and fails if the page logged an error.
Screenshots go to `test-artifacts/console/` (not committed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, ProxyLauncher, RunningProxy, openai_deployment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (scripts/bootstrap installs Debian's chromium package when it can)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires the browser tests to run")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh, temporary user-data-dir.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: FakeOpenAI) -> Iterator[RunningProxy]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("console"))
    config = {
        "model_list": [openai_deployment("dall-e-3", upstream), openai_deployment("gpt-image-1", upstream)],
        "general_settings": {"master_key": MASTER_KEY},
    }
    yield launcher(config)
    launcher.close()


class ConsolePage:
    """A browser tab on the console, and the errors its page logged."""

    def __init__(self, page: Any, proxy: RunningProxy) -> None:
        self.page = page
        self.proxy = proxy
        self.errors: list[str] = []
        self.expected_errors: list[str] = []
        self.urls: list[str] = []
        self.keys_used: set[str] = {MASTER_KEY}
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.urls.append(request.url))

    def expect_error(self, text: str) -> None:
        """The page will log an error containing `text` (a request the test means to be refused)."""
        self.expected_errors.append(text)

    def unexpected_errors(self) -> list[str]:
        return [error for error in self.errors if not any(text in error for text in self.expected_errors)]

    def open(self, view: str = "") -> Any:
        response = self.page.goto(f"{self.proxy.url}/ui/{f'#/{view}' if view else ''}")
        self.page.get_by_role("heading", level=1).first.wait_for()
        return response

    def sign_in(self, key: str = MASTER_KEY) -> None:
        self.keys_used.add(key)
        self.open()
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("heading", name="Playground", level=1).wait_for()

    def go(self, view: str) -> None:
        self.page.get_by_role("navigation", name="Console").get_by_role("link", name=view).click()

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def console(browser: Any, proxy: RunningProxy) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = ConsolePage(context.new_page(), proxy)
    yield tab
    context.close()
    assert tab.unexpected_errors() == [], f"the page logged errors: {tab.errors}"
    assert not [url for url in tab.urls if any(key in url for key in tab.keys_used)], "a key was sent in a URL"
