"""Small units of the core: retry timing, redaction, sizes and aspect ratios, merging responses."""

from __future__ import annotations

import base64
import threading

import httpx
import pytest

import imagegen
from imagegen import ImageResponse, UnsupportedParamsError, transport
from imagegen.exceptions import (
    AuthenticationError,
    InternalServerError,
    ServiceUnavailableError,
    error_class_for_status,
)
from imagegen.images import ImageInput
from imagegen.params import aspect_ratio_for, camel_case, check_params, dimensions_for, parse_size, reject_mask
from imagegen.provider import GenerationRequest, ModelSpec, NumberRange, Settings
from imagegen.testing import FakeRequest, FakeResponse, FakeUpstream, png_image
from imagegen.transport import retry_delay, should_retry


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def request(drop_params: bool = False) -> GenerationRequest:
    return GenerationRequest("p", "prov", "m", None, {}, Settings({}), 1.0, drop_params=drop_params)


@pytest.mark.parametrize(("headers", "expected"), [({"retry-after-ms": "250"}, 0.25), ({"retry-after": "3"}, 3.0)])
def test_retry_after_headers_are_honoured(headers: dict[str, str], expected: float) -> None:
    assert retry_delay(0, response(429, **headers)) == expected


def test_an_absurd_retry_after_falls_back_to_backoff() -> None:
    assert retry_delay(0, response(429, **{"retry-after": "3600"})) <= 0.5


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    delays = [retry_delay(attempt, None) for attempt in range(8)]
    assert 0.375 <= delays[0] <= 0.5
    assert 0.75 <= delays[1] <= 1.0
    assert max(delays) <= 8.0


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (503, True),
        (400, False),
        (401, False),
        (404, False),
        (422, False),
    ],
)
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    assert should_retry(response(status)) is retried


def test_an_upstream_may_veto_a_retry() -> None:
    assert should_retry(response(503, **{"x-should-retry": "false"})) is False


def test_status_codes_map_to_the_exception_tree() -> None:
    assert error_class_for_status(401) is AuthenticationError
    assert error_class_for_status(503) is ServiceUnavailableError
    assert error_class_for_status(502) is InternalServerError
    assert issubclass(ServiceUnavailableError, InternalServerError)


def test_secrets_are_masked_in_messages() -> None:
    error = AuthenticationError("bad key sk-abcdef123", provider="openai", secrets=["sk-abcdef123"])
    assert "sk-abcdef123" not in str(error) + repr(error)


def test_settings_repr_names_keys_only() -> None:
    assert repr(Settings({"api_key": "sk-secret", "api_base": "http://x"})) == "Settings(api_base, api_key)"


@pytest.mark.parametrize(
    ("size", "ratio"), [("1024x1024", "1:1"), ("1792x1024", "16:9"), ("1024x1792", "9:16"), ("1536x1024", "3:2")]
)
def test_sizes_map_to_their_exact_aspect_ratio_silently(size: str, ratio: str) -> None:
    req = request()
    assert aspect_ratio_for(req, size, ["1:1", "16:9", "9:16", "3:2", "2:3"]) == ratio
    assert req.warnings == []


def test_a_size_without_an_exact_ratio_gets_the_nearest_with_a_warning() -> None:
    req = request()
    assert aspect_ratio_for(req, "1536x1024", ["1:1", "4:3", "16:9"]) == "4:3"
    assert "nearest" in req.warnings[0]


def test_a_malformed_size_is_an_unsupported_param() -> None:
    with pytest.raises(UnsupportedParamsError, match="WIDTHxHEIGHT"):
        aspect_ratio_for(request(), "large", ["1:1"])


def test_dimensions_only_for_sizes_the_model_accepts() -> None:
    assert dimensions_for(request(), "512x512", {"512x512"}) == (512, 512)
    req = request(drop_params=True)
    assert dimensions_for(req, "100x100", {"512x512"}) is None
    assert req.warnings


def test_parse_size_and_camel_case() -> None:
    assert parse_size("1024x768") == (1024, 768)
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size("0x10")
    assert camel_case("negative_prompt") == "negativePrompt"
    assert camel_case("negativePrompt") == "negativePrompt"


def test_merging_fanned_out_responses_keeps_every_image_and_sums_usage() -> None:
    parts = [
        ImageResponse.model_validate(
            {
                "created": 1,
                "data": [{"b64_json": "QQ=="}],
                "usage": {
                    "input_tokens": 1,
                    "output_tokens": 2,
                    "total_tokens": 3,
                    "input_tokens_details": {"text_tokens": 1, "image_tokens": 0},
                },
                "extra": "kept",
            }
        ),
        ImageResponse.model_validate(
            {
                "created": 2,
                "data": [{"b64_json": "Qg=="}],
                "usage": {
                    "input_tokens": 1,
                    "output_tokens": 2,
                    "total_tokens": 3,
                    "input_tokens_details": {"text_tokens": 1, "image_tokens": 0},
                },
            }
        ),
    ]
    merged = ImageResponse.merge(parts)
    assert [image.b64_json for image in merged.data] == ["QQ==", "Qg=="]
    assert merged.usage is not None
    assert merged.usage.total_tokens == 6
    assert merged.model_dump()["extra"] == "kept"


def test_merging_sums_nested_usage_details_too() -> None:
    usage = {
        "input_tokens": 5,
        "output_tokens": 10,
        "total_tokens": 15,
        "input_tokens_details": {"text_tokens": 5, "image_tokens": 0},
        "output_tokens_details": {"image_tokens": 8, "text_tokens": 2},
    }
    parts = [ImageResponse.model_validate({"created": 1, "data": [], "usage": usage}) for _ in range(3)]
    merged = ImageResponse.merge(parts).model_dump()
    assert merged["usage"]["output_tokens_details"] == {"image_tokens": 24, "text_tokens": 6}
    assert merged["usage"]["total_tokens"] == 45


def test_usages_add_up_skipping_parts_without_one() -> None:
    from imagegen.types import Usage

    one = Usage(input_tokens=5, output_tokens=10, total_tokens=15)

    assert Usage.total([]) is None
    assert Usage.total([None, one]) is one  # nothing to add up: not copied
    total = Usage.total([one, None, one])
    assert total is not None
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (10, 20, 30)
    assert total.input_tokens_details == {"text_tokens": 0, "image_tokens": 0}


def test_reprs_of_an_upstream_request_show_no_credentials() -> None:
    from imagegen.provider import ProviderRequest

    upstream = ProviderRequest(
        url="https://x", headers={"authorization": "Bearer sk-secret-1"}, secrets=["sk-secret-1"]
    )
    assert "sk-secret-1" not in repr(upstream)


def test_a_dropped_parameter_warning_never_shows_its_value() -> None:
    from imagegen.params import reject

    req = request(drop_params=True)
    reject(req, "aws_web_identity_token", "eyJ-secret-token", None)
    assert "eyJ-secret-token" not in req.warnings[0]
    assert "aws_web_identity_token" in req.warnings[0]


def test_a_number_range_takes_integers_and_floats_within_it_but_not_booleans() -> None:
    strength = NumberRange(0.2, 1.0)
    assert all(value in strength for value in (0.2, 1, 0.55))
    assert not any(value in strength for value in (0.1, True, "0.5"))
    assert str(strength) == "a number from 0.2 to 1.0"


def test_a_value_outside_a_number_range_is_refused_naming_the_range() -> None:
    req = request()
    req.spec = ModelSpec("m", {"strength": NumberRange(0.0, 1.0)})
    req.params = {"strength": 1.5}
    with pytest.raises(UnsupportedParamsError, match=r"allowed: a number from 0\.0 to 1\.0"):
        check_params(req)


def test_a_rejected_mask_raises_with_the_reason_or_is_dropped_with_a_warning() -> None:
    mask = ImageInput(png_image(4, 4, transparent_box=(0, 0, 2, 2)), name="mask")
    with pytest.raises(UnsupportedParamsError, match="BACKGROUND_REMOVAL takes no mask"):
        reject_mask(GenerationRequest("p", "prov", "m", None, {}, Settings({}), 1.0, mask=mask),
                    "BACKGROUND_REMOVAL takes no mask")  # fmt: skip
    dropping = GenerationRequest("p", "prov", "m", None, {}, Settings({}), 1.0, drop_params=True, mask=mask)
    reject_mask(dropping, "BACKGROUND_REMOVAL takes no mask")
    assert dropping.mask is None
    assert "dropped `mask`" in dropping.warnings[0]


def test_an_error_can_be_masked_after_the_fact() -> None:
    error = AuthenticationError("token tok-123456 rejected").mask(["tok-123456"])
    assert "tok-123456" not in str(error) + repr(error) + str(error.args)


@pytest.mark.parametrize("value", ["soon", "", "Wed, 99 Foo 2026 00:00:00"])
def test_a_malformed_retry_after_is_ignored(value: str) -> None:
    assert retry_delay(0, response(429, **{"retry-after": value})) <= 0.5


def test_a_retry_after_date_without_a_zone_is_utc() -> None:
    import email.utils
    import time

    soon = email.utils.formatdate(time.time() + 5, usegmt=True).replace(" GMT", "")
    assert 3 <= retry_delay(0, response(429, **{"retry-after": soon})) <= 6


# --- FastAPI-style error bodies (BFL, fal) -------------------------------------------------------------


def test_a_fastapi_detail_message_is_the_errors_message() -> None:
    error = transport.error_from_body({"detail": "Not authenticated"}, status=401, provider="p", model="m", secrets=[])
    assert isinstance(error, imagegen.AuthenticationError)
    assert str(error).endswith("Not authenticated")


def test_a_fastapi_validation_list_names_each_field_and_its_problem() -> None:
    body = {"detail": [{"loc": ["body", "width"], "msg": "must be a multiple of 16", "type": "value_error"},
                       {"loc": ["body", "seed"], "msg": "not an integer", "type": "int_parsing"}]}  # fmt: skip
    error = transport.error_from_body(body, status=422, provider="p", model="m", secrets=[])
    assert isinstance(error, imagegen.BadRequestError)
    assert "width: must be a multiple of 16; seed: not an integer" in str(error)
    assert (error.param, error.code) == ("width", "value_error")


def test_a_fastapi_content_policy_problem_is_a_content_policy_error() -> None:
    body = {"detail": [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]}
    error = transport.error_from_body(body, status=422, provider="p", model="m", secrets=[])
    assert isinstance(error, imagegen.ContentPolicyViolationError)


# --- a fake on several hosts -------------------------------------------------------------------------


def test_a_fake_upstream_can_listen_on_more_ports_recording_which_one_was_asked() -> None:
    class Echo(FakeUpstream):
        def handle(self, request: FakeRequest) -> FakeResponse:
            return FakeResponse(200, {"port": request.port})

    with Echo() as fake:
        other = fake.add_listener()
        assert httpx.get(other).json() == {"port": int(other.rpartition(":")[2])}
        assert httpx.get(fake.url).json() == {"port": fake.port}
        assert [r.port for r in fake.requests] == [int(other.rpartition(":")[2]), fake.port]


def test_a_huge_unsupported_value_is_shown_by_its_start_and_length() -> None:
    error = UnsupportedParamsError("quality", value="A" * 1_000_000, allowed=["low", "high"], model="m")
    assert len(str(error)) < 300
    assert "1000000 characters" in str(error)


def test_an_error_message_never_holds_megabytes() -> None:
    error = InternalServerError("the provider said: " + "QUFB" * 1_000_000)
    assert len(error.message) < 5000
    assert "more characters" in error.message


def test_a_huge_prompt_or_model_never_lands_whole_in_an_error() -> None:
    huge = "b64/" + "QUFB" * 250_000  # base64 has slashes: it looks like prefix/model
    with pytest.raises(imagegen.ImageGenError) as caught:
        imagegen.image_generation("otter", model=huge, mock_response=True)
    assert len(str(caught.value)) < 500
    with pytest.raises(imagegen.BadRequestError) as refused:
        imagegen.image_generation("otter", model="dall-e-2", mock_response=True, partial_images="x" * 100_000)  # type: ignore[arg-type]
    assert len(str(refused.value)) < 500


@pytest.fixture
def preparing_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads calls are prepared on, as they are."""
    from imagegen import calls

    threads: list[int] = []
    original = calls._prepare

    def recorded(*args: object, **kwargs: object) -> calls.PreparedCall:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(calls, "_prepare", recorded)
    return threads


@pytest.mark.anyio
async def test_async_calls_with_input_images_prepare_on_a_worker_thread_not_the_event_loop(
    preparing_threads: list[int],
) -> None:
    await imagegen.aimage_edit(png_image(8, 8), "hat", model="dall-e-2", mock_response=True)
    assert preparing_threads
    assert threading.get_ident() not in preparing_threads  # masks are converted, bodies built, off the loop


@pytest.mark.anyio
async def test_an_async_generation_is_prepared_on_the_loop_without_a_thread_hop(preparing_threads: list[int]) -> None:
    await imagegen.aimage_generation("otter", model="dall-e-2", mock_response=True)
    assert preparing_threads == [threading.get_ident()]  # microseconds of work: cheaper than a thread hop


@pytest.mark.anyio
async def test_aprepare_reports_a_refused_call_to_its_observer_on_the_loop() -> None:
    from imagegen import calls, observe

    failures: list[object] = []

    class Watcher:
        def on_failure(self, record: object) -> None:
            failures.append(record)

    observer = observe.begin("generation", callbacks=[Watcher()])
    with pytest.raises(imagegen.BadRequestError):
        await calls.aprepare(
            "", "dall-e-2", {}, {}, timeout=None, drop_params=None, num_retries=None, observer=observer
        )
    assert len(failures) == 1


def test_an_emulated_stream_reads_mime_wrapped_base64_results() -> None:
    wrapped = base64.encodebytes(png_image(1024, 1024)).decode()  # a newline every 76 characters
    answer = ImageResponse(data=[imagegen.Image(b64_json=wrapped)])
    (event,) = list(imagegen.image_generation("otter", model="dall-e-2", mock_response=answer, stream=True))
    assert (event.size, event.output_format) == ("1024x1024", "png")
