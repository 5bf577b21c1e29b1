"""The console at /ui, used as a person would: in Chromium, against the real proxy and a fake OpenAI."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from imagegen_proxy.keys.tokens import hash_key
from tests.fakes.openai_fake import FakeOpenAI
from tests.keys.test_proxy_keys import generate_key
from tests.proxy.conftest import MASTER_KEY, RunningProxy

from .conftest import PHONE, ConsolePage

pytest.importorskip("playwright", reason="Playwright is in the dev group: run scripts/bootstrap")
from playwright.sync_api import expect


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def generate_with(proxy: RunningProxy, key: str, model: str = "dall-e-3") -> None:
    assert proxy.post_generation({"model": model, "prompt": "an otter"}, api_key=key).status_code == 200


def logged_requests(proxy: RunningProxy, key: str) -> int:
    with proxy.http() as client:
        total: int = client.get("/spend/logs/ui", params={"api_key": hash_key(key)}).json()["total"]
    return total


def key_spend(proxy: RunningProxy, key: str) -> float:
    with proxy.http(key) as client:
        spend: float = client.get("/key/info").json()["info"]["spend"]
    return spend


def key_row(console: ConsolePage, alias: str) -> Any:
    return console.page.get_by_role("row").filter(has_text=alias)


def test_signing_in_with_the_master_key_opens_every_section(console: ConsolePage) -> None:
    console.sign_in()

    nav = console.page.get_by_role("navigation", name="Console")
    for section in ("Playground", "Keys", "Spend", "Models"):
        expect(nav.get_by_role("link", name=section)).to_be_visible()
    assert console.page.evaluate("sessionStorage.getItem('imagegen.console.key')") == MASTER_KEY
    assert console.page.context.cookies() == []
    assert MASTER_KEY not in console.page.url


def test_a_wrong_key_is_refused_with_what_to_do(console: ConsolePage) -> None:
    console.expect_error("status of 401")
    console.open()
    console.page.get_by_label("API key").fill("sk-not-a-key")
    console.page.get_by_role("button", name="Sign in").click()

    expect(console.page.get_by_role("alert")).to_contain_text("That key was refused")
    assert console.page.evaluate("sessionStorage.length") == 0


def test_generating_with_two_models_shows_both_images_side_by_side(console: ConsolePage) -> None:
    console.sign_in()
    page = console.page
    page.get_by_label("gpt-image-1").check()  # dall-e-3, the first model, is already picked
    page.get_by_role("group", name="dall-e-3 parameters").get_by_label("size").select_option("1024x1792")
    page.get_by_label("Prompt").fill("A cute baby sea otter")
    page.get_by_role("button", name="Generate").click()

    cards = page.locator("article.result")
    expect(cards.locator("img")).to_have_count(2)
    dall_e, gpt_image = cards.filter(has_text="dall-e-3"), cards.filter(has_text="gpt-image-1")
    for card in (dall_e, gpt_image):
        assert card.locator("img").evaluate("image => image.complete && image.naturalWidth > 0")
        expect(card.get_by_text("Latency")).to_be_visible()
        expect(card.get_by_role("link", name="Download image 1")).to_be_visible()
    expect(dall_e.locator(".cost")).to_have_text("$0.08")  # dall-e-3 at 1024x1792, from x-imagegen-response-cost
    first, second = dall_e.bounding_box(), gpt_image.bounding_box()
    assert first["y"] == second["y"]  # side by side
    assert first["x"] < second["x"]
    expect(page.get_by_role("list").filter(has_text="A cute baby sea otter")).to_contain_text("dall-e-3, gpt-image-1")
    console.screenshot("playground-two-models")


def test_a_created_key_is_shown_once_with_a_copy_button(console: ConsolePage, proxy: RunningProxy) -> None:
    console.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    console.sign_in()
    console.go("Keys")
    page = console.page
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Alias").fill("shown-once")
    dialog.get_by_label("dall-e-3").check()
    dialog.get_by_label("Budget (USD)").fill("2")
    dialog.get_by_role("button", name="Create key").click()

    shown = dialog.get_by_label("The new key")
    expect(shown).to_have_value(re.compile(r"^sk-"))
    key = shown.input_value()
    expect(dialog).to_contain_text("shown only once")
    dialog.get_by_role("button", name="Copy key").click()
    expect(dialog.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == key
    console.screenshot("key-created")
    dialog.get_by_role("button", name="Done").click()

    expect(key_row(console, "shown-once")).to_contain_text(f"sk-...{key[-4:]}")
    assert key not in page.content()
    page.get_by_role("button", name="Sign out").click()
    console.sign_in(key)  # the copied key signs in, as a virtual key
    expect(page.get_by_role("navigation", name="Console").get_by_role("link", name="Usage")).to_be_visible()
    expect(page.get_by_role("navigation", name="Console").get_by_role("link", name="Keys")).to_be_hidden()


def test_a_virtual_key_sees_only_its_own_usage(console: ConsolePage, proxy: RunningProxy) -> None:
    mine = generate_key(proxy, key_alias="mine", models=["dall-e-3"])
    theirs = generate_key(proxy, key_alias="theirs")
    generate_with(proxy, mine)
    generate_with(proxy, theirs)
    eventually(lambda: logged_requests(proxy, mine) == 1 and logged_requests(proxy, theirs) == 1, "spend rows")

    console.sign_in(mine)
    page = console.page
    nav = page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link", name="Keys")).to_be_hidden()
    expect(nav.get_by_role("link", name="Models")).to_be_hidden()
    expect(page.get_by_role("group", name="Models")).to_contain_text("dall-e-3")
    expect(page.get_by_role("group", name="Models")).not_to_contain_text("gpt-image-1")
    console.go("Usage")
    expect(page.get_by_role("heading", name="Usage", level=1)).to_be_visible()
    expect(page.locator("dl").first).to_contain_text("mine")
    expect(page.locator("table.log tbody tr")).to_have_count(1)
    expect(page.get_by_role("heading", name="Per key")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("theirs")
    console.screenshot("virtual-key-usage")

    with proxy.http(mine) as client:  # enforced by the API, not only hidden
        assert client.get("/key/list").status_code == 403
        assert client.get("/key/info", params={"key": theirs}).status_code == 403
        assert client.get("/spend/summary", params={"api_key": theirs}).status_code == 403
        assert "litellm_params" not in client.get("/model/info").text


def test_a_key_page_for_the_master_key_only_says_so_to_a_virtual_key(console: ConsolePage, proxy: RunningProxy) -> None:
    key = generate_key(proxy, key_alias="curious")
    console.sign_in(key)
    console.page.goto(f"{proxy.url}/ui/#/keys")

    expect(console.page.get_by_role("heading", level=1)).to_have_text("Not available with this key")
    expect(console.page.get_by_role("alert")).to_contain_text("master key")


def test_a_budget_bar_shows_the_spend_against_the_budget(console: ConsolePage, proxy: RunningProxy) -> None:
    key = generate_key(proxy, key_alias="budgeted", max_budget=1.0)
    generate_with(proxy, key)  # dall-e-3 at its default size: $0.04
    eventually(lambda: key_spend(proxy, key) > 0, "the key's spend")

    console.sign_in()
    console.go("Keys")

    meter = key_row(console, "budgeted").locator("meter")
    expect(meter).to_have_attribute("value", "0.04")
    expect(meter).to_have_attribute("max", "1")
    expect(key_row(console, "budgeted")).to_contain_text("$0.04 of $1.00")
    console.screenshot("keys-budget")


def test_editing_a_key_changes_only_what_was_changed(console: ConsolePage, proxy: RunningProxy) -> None:
    key = generate_key(proxy, key_alias="edited", max_budget=1.0, rpm_limit=10)
    console.sign_in()
    console.go("Keys")
    key_row(console, "edited").get_by_role("button", name=re.compile("^Edit ")).click()
    dialog = console.page.get_by_role("dialog", name="Edit edited")
    expect(dialog.get_by_label("Requests per minute")).to_have_value("10")
    dialog.get_by_label("Budget (USD)").fill("5")
    dialog.get_by_role("button", name="Save changes").click()

    expect(key_row(console, "edited")).to_contain_text("$0.00 of $5.00")
    with proxy.http(key) as client:
        info = client.get("/key/info").json()["info"]
    assert (info["max_budget"], info["rpm_limit"]) == (5.0, 10)


def test_deleting_a_key_asks_first_then_the_key_stops_working(console: ConsolePage, proxy: RunningProxy) -> None:
    key = generate_key(proxy, key_alias="doomed")
    console.sign_in()
    console.go("Keys")
    page = console.page
    delete = key_row(console, "doomed").get_by_role("button", name="Delete")

    delete.click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(key_row(console, "doomed")).to_have_count(1)
    delete.click()
    expect(page.get_by_role("dialog")).to_contain_text("Delete doomed")
    page.get_by_role("dialog").get_by_role("button", name="Delete key").click()

    expect(key_row(console, "doomed")).to_have_count(0)
    assert proxy.post_generation({"model": "dall-e-3", "prompt": "x"}, api_key=key).status_code == 401


def test_the_spend_log_exports_as_csv(console: ConsolePage, proxy: RunningProxy) -> None:
    key = generate_key(proxy, key_alias="exported")
    generate_with(proxy, key)
    generate_with(proxy, key, model="gpt-image-1")
    eventually(lambda: logged_requests(proxy, key) == 2, "two spend rows")

    console.sign_in()
    console.go("Spend")
    page = console.page
    page.get_by_label("Key", exact=True).select_option(label="exported")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.log tbody tr")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()

    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert [row["model_group"] for row in rows] == ["gpt-image-1", "dall-e-3"]  # newest first
    assert {row["api_key"] for row in rows} == {hash_key(key)}
    assert [row["status"] for row in rows] == ["200", "200"]
    assert rows[1]["spend"] == "0.04"
    console.screenshot("spend")


def test_the_console_is_served_with_a_strict_security_policy(console: ConsolePage) -> None:
    response = console.open()

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_signing_out_forgets_the_key(console: ConsolePage) -> None:
    console.sign_in()
    console.page.get_by_role("button", name="Sign out").click()

    expect(console.page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert console.page.evaluate("sessionStorage.length") == 0
    console.page.reload()
    expect(console.page.get_by_label("API key")).to_be_visible()


def test_the_models_page_shows_health_without_calling_any_upstream(console: ConsolePage, upstream: FakeOpenAI) -> None:
    console.sign_in()
    before = len(upstream.requests)
    console.go("Models")

    group = console.page.get_by_role("region", name="dall-e-3")
    expect(group.get_by_role("heading", name="dall-e-3#1")).to_contain_text("Ready")
    expect(group).to_contain_text("$0.04 per image")
    assert len(upstream.requests) == before
    console.screenshot("models")


def test_the_console_fits_a_phone_screen(browser: Any, proxy: RunningProxy) -> None:
    context = browser.new_context(viewport=PHONE)
    tab = ConsolePage(context.new_page(), proxy)
    try:
        tab.sign_in()
        tab.page.get_by_label("Prompt").fill("an otter")
        tab.page.get_by_role("button", name="Generate").click()
        expect(tab.page.locator("article.result img")).to_have_count(1)
        for view in ("Keys", "Spend", "Models"):
            tab.go(view)
            tab.page.get_by_role("heading", name=view, level=1).wait_for()
            assert tab.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], view
        tab.screenshot("phone-models")
    finally:
        context.close()
    assert tab.unexpected_errors() == []


def test_the_console_works_with_the_keyboard_alone(console: ConsolePage) -> None:
    console.open()
    page = console.page
    page.keyboard.type(MASTER_KEY)  # the key field has the focus
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Playground", level=1).wait_for()

    keys_link = page.get_by_role("navigation", name="Console").get_by_role("link", name="Keys")
    for _ in range(10):
        if keys_link.evaluate("link => link === document.activeElement"):
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Keys", level=1)).to_be_focused()


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button, meter")]
    .filter((control) => !control.hidden && !(control.labels && control.labels.length)
        && !control.getAttribute("aria-label") && !control.textContent.trim())
    .map((control) => control.outerHTML)"""


def test_every_control_has_a_label(console: ConsolePage, proxy: RunningProxy) -> None:
    generate_key(proxy, key_alias="labelled", max_budget=3)
    console.sign_in()
    for view in ("Playground", "Keys", "Spend", "Models"):
        console.go(view)
        console.page.get_by_role("heading", name=view, level=1).wait_for()
        console.page.locator(".loading").first.wait_for(state="detached")
        assert console.page.evaluate(UNLABELLED_CONTROLS) == [], view
    console.go("Keys")
    console.page.get_by_role("button", name="Create key").click()
    assert console.page.evaluate(UNLABELLED_CONTROLS) == [], "the create dialog"
