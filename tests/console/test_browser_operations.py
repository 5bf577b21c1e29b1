"""The playground's edits, variations and streams, in Chromium against the real proxy and a fake OpenAI.

The proxy serves dall-e-2 (edits and variations), dall-e-3 (generation only) and gpt-image-1 (edits, native
streaming); the fake records each multipart body, so the tests check the mask the browser made, pixel by pixel.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from imagegen.testing.images import noise_png, png_image
from tests.fakes.openai_fake import FakeOpenAI
from tests.keys.test_proxy_keys import generate_key
from tests.proxy.conftest import MASTER_KEY, ProxyLauncher, RunningProxy, openai_deployment

from .conftest import PHONE, ConsolePage
from .test_browser import UNLABELLED_CONTROLS

pytest.importorskip("playwright", reason="Playwright is in the dev group: run scripts/bootstrap")
from PIL import Image
from playwright.sync_api import Locator, expect

WIDTH, HEIGHT = 480, 320  # not square: the mask must take the image's own size


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: FakeOpenAI) -> Iterator[RunningProxy]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("console-operations"))
    models = [openai_deployment(name, upstream) for name in ("dall-e-2", "dall-e-3", "gpt-image-1")]
    yield launcher({"model_list": models, "general_settings": {"master_key": MASTER_KEY}})
    launcher.close()


@pytest.fixture
def slow_events(upstream: FakeOpenAI) -> Iterator[None]:
    upstream.event_delay = 0.6  # long enough to see each partial image before the next event
    yield
    upstream.event_delay = 0.0


def png_file(name: str, content: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/png", "buffer": content}


def only_model(console: ConsolePage, model: str) -> None:
    """Pick `model` alone among the models offered for the current operation."""
    models = console.page.get_by_role("group", name="Models")
    expect(models.get_by_label(model)).to_be_visible()  # the list is built whole once the groups are read
    for box in models.get_by_role("checkbox").all():
        if box.get_attribute("value") != model:
            box.uncheck()
    models.get_by_label(model).check()


def last_upload(upstream: FakeOpenAI) -> tuple[dict[str, list[str]], dict[str, list[Any]]]:
    return upstream.uploads[-1]


def mask_canvas_of_an_edit(console: ConsolePage) -> Locator:
    """Signed in, an edit on gpt-image-1 of one WIDTH x HEIGHT image: the canvas to paint its mask on."""
    console.sign_in()
    page = console.page
    page.get_by_role("radio", name="Edit").check()
    only_model(console, "gpt-image-1")
    page.get_by_label("Input images (up to 16)").set_input_files(png_file("otter.png", noise_png(WIDTH, HEIGHT)))
    return page.get_by_role("img", name="Mask: paint over the area to edit")


def test_an_edit_sends_the_uploaded_image_and_a_painted_mask_of_its_size(
    console: ConsolePage, upstream: FakeOpenAI
) -> None:
    page = console.page
    canvas = mask_canvas_of_an_edit(console)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / WIDTH  # the image is shown at most at its own size
    page.mouse.move(box["x"] + 100 * scale, box["y"] + 160 * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + 200 * scale, box["y"] + 160 * scale, steps=5)
    page.mouse.up()
    page.get_by_label("Prompt").fill("Give the otter a hat")
    console.screenshot("playground-edit-mask")
    page.get_by_role("button", name="Edit", exact=True).click()

    card = page.locator("article.result").filter(has_text="gpt-image-1")
    expect(card.get_by_role("link", name="Download image 1")).to_be_visible()
    fields, files = last_upload(upstream)
    assert fields["prompt"] == ["Give the otter a hat"]
    assert [image.data for image in files["image"]] == [noise_png(WIDTH, HEIGHT)]
    mask = Image.open(io.BytesIO(files["mask"][0].data))
    assert (mask.format, mask.size, mask.mode) == ("PNG", (WIDTH, HEIGHT), "RGBA")
    alpha = mask.getchannel("A")
    assert alpha.getpixel((150, 160)) == 0  # painted: the area to edit
    assert alpha.getpixel((100, 160)) == 0
    assert alpha.getpixel((400, 40)) == 255  # not painted: kept
    assert alpha.getpixel((150, 300)) == 255
    expect(page.get_by_role("list").filter(has_text="Give the otter a hat")).to_contain_text("Edit")


def test_a_mask_is_painted_with_the_keyboard(console: ConsolePage, upstream: FakeOpenAI) -> None:
    """Arrow keys move a brush from the image's centre, Space puts it down and lifts it."""
    page = console.page
    canvas = mask_canvas_of_an_edit(console)
    expect(canvas).to_have_accessible_description(re.compile("arrow keys move the brush"))
    canvas.focus()
    page.keyboard.press("Space")  # down at the centre, (240, 160)
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # half the 40-pixel brush a step, or more where the image is shrunk
    page.keyboard.press("Space")  # lifted
    page.keyboard.press("ArrowDown")  # moves without painting
    console.screenshot("playground-mask-keyboard")
    page.get_by_label("Prompt").fill("Give the otter a hat")
    page.get_by_role("button", name="Edit", exact=True).click()

    card = page.locator("article.result").filter(has_text="gpt-image-1")
    expect(card.get_by_role("link", name="Download image 1")).to_be_visible()
    alpha = Image.open(io.BytesIO(last_upload(upstream)[1]["mask"][0].data)).getchannel("A")
    assert [alpha.getpixel((x, 160)) for x in (240, 290, 330)] == [0, 0, 0]  # painted: the area to edit
    assert alpha.getpixel((290, 200)) == 255  # where the lifted brush moved
    assert alpha.getpixel((40, 40)) == 255


def test_an_uploaded_mask_file_is_sent_as_it_is(console: ConsolePage, upstream: FakeOpenAI) -> None:
    """The way to give a mask without a pointer: the mask file field, reached with the keyboard."""
    mask = png_image(WIDTH, HEIGHT, transparent_box=(0, 0, 50, 50))
    console.sign_in()
    page = console.page
    page.get_by_role("radio", name="Edit").check()
    only_model(console, "gpt-image-1")
    page.get_by_label("Input images (up to 16)").set_input_files(png_file("otter.png", noise_png(WIDTH, HEIGHT)))
    page.get_by_label("Mask file (optional)").set_input_files(png_file("mask.png", mask))
    page.get_by_label("Prompt").fill("A hat in the corner")
    page.get_by_role("button", name="Edit", exact=True).click()

    expect(page.locator("article.result").get_by_role("link", name="Download image 1")).to_be_visible()
    _, files = last_upload(upstream)
    assert [part.data for part in files["mask"]] == [mask]


def test_a_variation_sends_one_image_and_no_prompt(console: ConsolePage, upstream: FakeOpenAI) -> None:
    console.sign_in()
    page = console.page
    page.get_by_role("radio", name="Variations").check()
    models = page.get_by_role("group", name="Models")
    expect(models.get_by_role("checkbox")).to_have_count(1)  # only dall-e-2 makes variations
    expect(models).to_contain_text("dall-e-2")
    expect(page.get_by_label("Prompt")).to_be_hidden()
    page.get_by_label("Input image", exact=True).set_input_files(png_file("square.png", noise_png(64, 64)))
    page.get_by_role("button", name="Make variations").click()

    card = page.locator("article.result").filter(has_text="dall-e-2")
    expect(card.get_by_role("link", name="Download image 1")).to_be_visible()
    assert upstream.requests[-1].path == "/v1/images/variations"
    fields, files = last_upload(upstream)
    assert [image.data for image in files["image"]] == [noise_png(64, 64)]
    assert "prompt" not in fields
    assert "mask" not in files


@pytest.mark.usefixtures("slow_events")
def test_a_streamed_generation_shows_a_partial_image_then_the_final_one(
    console: ConsolePage, upstream: FakeOpenAI
) -> None:
    console.sign_in()
    page = console.page
    only_model(console, "gpt-image-1")
    page.get_by_label("Stream: show partial images as they arrive").check()
    page.get_by_label(re.compile("^Partial images")).fill("2")
    page.get_by_label("Prompt").fill("An otter, slowly")
    page.get_by_role("button", name="Generate").click()

    card = page.locator("article.result").filter(has_text="gpt-image-1")
    expect(card.get_by_role("img", name="Partial image 1 from gpt-image-1, still being made")).to_be_visible()
    expect(card.get_by_role("img", name="Partial image 2 from gpt-image-1, still being made")).to_be_visible()
    expect(card.get_by_role("link", name="Download image 1")).to_be_visible()
    expect(card.get_by_role("img", name=re.compile("^Partial image"))).to_have_count(0)
    assert card.get_by_role("img").evaluate("image => image.complete && image.naturalWidth > 0")
    expect(card.locator(".cost")).to_have_text("in the spend log")  # priced by its tokens, after the stream
    expect(page.get_by_role("list").filter(has_text="An otter, slowly")).to_contain_text("cost in the spend log")
    sent = upstream.requests[-1].json()
    assert (sent["stream"], sent["partial_images"]) == (True, 2)
    console.screenshot("playground-streamed")


@pytest.mark.usefixtures("slow_events")
def test_a_streamed_edit_shows_its_partial_image_then_the_final_one(console: ConsolePage, upstream: FakeOpenAI) -> None:
    console.sign_in()
    page = console.page
    page.get_by_role("radio", name="Edit").check()
    only_model(console, "gpt-image-1")
    page.get_by_label("Input images (up to 16)").set_input_files(png_file("otter.png", noise_png(64, 64)))
    page.get_by_label("Stream: show partial images as they arrive").check()
    page.get_by_label(re.compile("^Partial images")).fill("1")
    page.get_by_label("Prompt").fill("An otter in a hat, slowly")
    page.get_by_role("button", name="Edit", exact=True).click()

    card = page.locator("article.result").filter(has_text="gpt-image-1")
    expect(card.get_by_role("img", name="Partial image 1 from gpt-image-1, still being made")).to_be_visible()
    expect(card.get_by_role("link", name="Download image 1")).to_be_visible()
    fields, _ = last_upload(upstream)
    assert (fields["stream"], fields["partial_images"]) == (["true"], ["1"])


def test_an_error_in_the_middle_of_a_stream_is_shown_as_an_error(console: ConsolePage, upstream: FakeOpenAI) -> None:
    console.sign_in()
    page = console.page
    only_model(console, "gpt-image-1")
    page.get_by_label("Stream: show partial images as they arrive").check()
    page.get_by_label("Prompt").fill("An otter that breaks")
    upstream.fail_next("mid_stream_error")
    page.get_by_role("button", name="Generate").click()

    card = page.locator("article.result.failed")
    expect(card.get_by_role("alert")).to_contain_text("The server had an error while processing your request.")
    expect(card.get_by_role("alert")).to_contain_text("try again")
    expect(card.get_by_role("img")).to_have_count(0)


def test_only_the_operations_and_models_a_key_can_use_are_offered(console: ConsolePage, proxy: RunningProxy) -> None:
    generating_only = generate_key(proxy, key_alias="generating-only", models=["dall-e-3"])
    editing = generate_key(proxy, key_alias="editing", models=["dall-e-3", "gpt-image-1"])
    page = console.page

    console.sign_in(generating_only)
    expect(page.get_by_role("radio")).to_have_count(0)  # generation alone: no choice to make
    expect(page.get_by_role("group", name="Input images")).to_be_hidden()
    expect(page.get_by_text("dall-e-3 cannot stream partial images")).to_be_visible()  # emulated streaming

    page.get_by_role("button", name="Sign out").click()
    console.sign_in(editing)
    expect(page.get_by_role("radio", name="Edit")).to_be_visible()
    expect(page.get_by_role("radio", name="Variations")).to_have_count(0)
    page.get_by_role("radio", name="Edit").check()
    models = page.get_by_role("group", name="Models")
    expect(models.get_by_role("checkbox")).to_have_count(1)
    expect(models).to_contain_text("gpt-image-1")  # dall-e-3 cannot edit
    expect(page.get_by_text("cannot stream partial images")).to_be_hidden()


def test_picking_a_model_with_the_keyboard_keeps_the_focus_on_it(console: ConsolePage) -> None:
    console.sign_in()
    page = console.page
    box = page.get_by_role("group", name="Models").get_by_label("gpt-image-1")
    box.focus()
    page.keyboard.press("Space")

    expect(box).to_be_checked()
    expect(box).to_be_focused()
    expect(page.get_by_role("group", name="gpt-image-1 parameters")).to_be_visible()


def test_every_control_of_an_edit_has_a_label(console: ConsolePage) -> None:
    console.sign_in()
    page = console.page
    page.get_by_role("radio", name="Edit").check()  # dall-e-2, picked first, edits one square PNG
    page.get_by_label("Input image", exact=True).set_input_files(png_file("otter.png", noise_png(64, 64)))
    expect(page.get_by_role("img", name="Mask: paint over the area to edit")).to_be_visible()

    assert page.evaluate(UNLABELLED_CONTROLS) == []


def test_a_generated_image_can_be_edited_in_place(console: ConsolePage, upstream: FakeOpenAI) -> None:
    console.sign_in()
    page = console.page
    only_model(console, "gpt-image-1")
    page.get_by_label("Prompt").fill("An otter")
    page.get_by_role("button", name="Generate").click()
    page.locator("article.result").get_by_role("button", name="Edit image 1").click()

    expect(page.get_by_role("radio", name="Edit")).to_be_checked()
    expect(page.get_by_role("img", name="Mask: paint over the area to edit")).to_be_visible()
    page.get_by_label("Prompt").fill("The same otter, in a hat")
    page.get_by_role("button", name="Edit", exact=True).click()
    expect(page.get_by_role("list").filter(has_text="in a hat")).to_contain_text("Edit")
    _, files = last_upload(upstream)
    assert [image.data for image in files["image"]] == [upstream.image]  # the generated image, as it came


def test_the_models_page_shows_what_each_operation_takes(console: ConsolePage) -> None:
    console.sign_in()
    console.go("Models")

    gpt_image = console.page.get_by_role("region", name="gpt-image-1")
    expect(gpt_image).to_contain_text("generation (streams partial images); edit (up to 16 images, mask")
    dall_e_2 = console.page.get_by_role("region", name="dall-e-2")
    expect(dall_e_2).to_contain_text("variation (1 image, square, PNG)")


def test_a_mask_painted_on_a_phone_screen_keeps_the_images_size(
    browser: Any, proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    context = browser.new_context(viewport=PHONE, has_touch=True)
    tab = ConsolePage(context.new_page(), proxy)
    try:
        tab.sign_in()
        page = tab.page
        page.get_by_role("radio", name="Edit").check()
        only_model(tab, "gpt-image-1")
        page.get_by_label("Input images (up to 16)").set_input_files(png_file("wide.png", noise_png(1200, 600)))
        canvas = page.get_by_role("img", name="Mask: paint over the area to edit")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box["width"] < PHONE["width"]  # shown smaller than it is
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a dot in the middle
        page.get_by_label("Prompt").fill("A hat in the middle")
        tab.screenshot("phone-edit")
        page.get_by_role("button", name="Edit", exact=True).click()
        expect(page.locator("article.result").get_by_role("link", name="Download image 1")).to_be_visible()
    finally:
        context.close()
    assert tab.unexpected_errors() == []
    _, files = last_upload(upstream)
    alpha = Image.open(io.BytesIO(files["mask"][0].data)).getchannel("A")
    assert alpha.size == (1200, 600)
    assert (alpha.getpixel((600, 300)), alpha.getpixel((600, 50)), alpha.getpixel((50, 300))) == (0, 255, 255)
