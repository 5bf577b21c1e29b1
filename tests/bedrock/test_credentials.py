"""Credentials: SigV4 from settings, environment, profiles and assumed roles; Bedrock API keys; regions."""

from __future__ import annotations

import datetime
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegen import aimage_generation, image_generation
from imagegen.exceptions import AuthenticationError, BadRequestError, ImageGenError
from imagegen.plugins import registry
from imagegen.provider import GenerationRequest, Settings
from tests.fakes.bedrock_fake import REGION, FakeBedrock

from .conftest import (
    ACCESS_KEY,
    API_KEY,
    ROLE_ARN,
    SECRET_KEY,
    SESSION_ACCESS_KEY,
    SESSION_SECRET_KEY,
    SESSION_TOKEN,
)

NOVA = "bedrock/amazon.nova-canvas-v1:0"


def authorization(fake: FakeBedrock, index: int = -1) -> str:
    invokes = [r for r in fake.requests if r.path.startswith("/model/")]
    return invokes[index].headers["authorization"]


@pytest.fixture
def no_aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty AWS config and credentials file, and no instance metadata: only what a test sets counts."""
    for name in ("config", "credentials"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


# SigV4


def test_requests_are_signed_with_sigv4_for_the_bedrock_service(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    image_generation("otter", model=NOVA, **sigv4)
    assert authorization(fake_bedrock).startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert f"/{REGION}/bedrock/aws4_request" in authorization(fake_bedrock)


def test_a_wrong_secret_key_fails_the_signature_check_without_showing_the_key(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    wrong = SECRET_KEY[::-1]
    with pytest.raises(AuthenticationError, match="InvalidSignatureException") as caught:
        image_generation("otter", model=NOVA, **{**sigv4, "aws_secret_access_key": wrong})
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)


def test_session_credentials_send_and_sign_the_security_token(fake_bedrock: FakeBedrock) -> None:
    image_generation(
        "otter", model=NOVA, api_base=fake_bedrock.url, aws_region_name=REGION, aws_access_key_id=SESSION_ACCESS_KEY,
        aws_secret_access_key=SESSION_SECRET_KEY, aws_session_token=SESSION_TOKEN,
    )  # fmt: skip
    request = fake_bedrock.requests[0]
    assert request.headers["x-amz-security-token"] == SESSION_TOKEN
    assert "x-amz-security-token" in request.headers["authorization"]


def test_credentials_and_region_come_from_the_environment(
    fake_bedrock: FakeBedrock, monkeypatch: pytest.MonkeyPatch, no_aws_files: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    response = image_generation("otter", model=NOVA, api_base=fake_bedrock.url)
    assert len(response.data) == 1


def test_aws_region_name_wins_over_aws_region_and_aws_default_region(
    fake_bedrock: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION_NAME", REGION)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    image_generation(
        "otter", model=NOVA, api_base=fake_bedrock.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )
    assert f"/{REGION}/bedrock/" in authorization(fake_bedrock)


def test_the_default_endpoint_is_the_regional_bedrock_runtime() -> None:
    provider = registry.provider("bedrock")
    request = GenerationRequest(
        prompt="otter", provider="bedrock", model="us.amazon.nova-canvas-v1:0",
        spec=provider.model("us.amazon.nova-canvas-v1:0"), params={},
        settings=Settings({"aws_region_name": "eu-central-1", "api_key": API_KEY}), timeout=10,
    )  # fmt: skip
    upstream = provider.hook.build_request(request=request, body={})
    assert (
        upstream.url == "https://bedrock-runtime.eu-central-1.amazonaws.com/model/us.amazon.nova-canvas-v1%3A0/invoke"
    )


def test_a_named_profile_supplies_credentials_and_region(fake_bedrock: FakeBedrock, no_aws_files: Path) -> None:
    (no_aws_files / "credentials").write_text(
        f"[imagegen]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    (no_aws_files / "config").write_text(f"[profile imagegen]\nregion = {REGION}\n")
    response = image_generation("otter", model=NOVA, api_base=fake_bedrock.url, aws_profile_name="imagegen")
    assert len(response.data) == 1


def test_a_missing_profile_is_an_authentication_error_naming_it(fake_bedrock: FakeBedrock, no_aws_files: Path) -> None:
    with pytest.raises(AuthenticationError, match="nope"):
        image_generation(
            "otter", model=NOVA, api_base=fake_bedrock.url, aws_region_name=REGION, aws_profile_name="nope"
        )


def test_no_credentials_at_all_says_how_to_provide_them(fake_bedrock: FakeBedrock, no_aws_files: Path) -> None:
    with pytest.raises(AuthenticationError, match="AWS_ACCESS_KEY_ID") as caught:
        image_generation("otter", model=NOVA, api_base=fake_bedrock.url, aws_region_name=REGION)
    assert caught.value.provider == "bedrock"
    assert fake_bedrock.requests == []


def test_an_access_key_without_its_secret_is_refused(fake_bedrock: FakeBedrock) -> None:
    with pytest.raises(AuthenticationError, match="aws_secret_access_key"):
        image_generation(
            "otter", model=NOVA, api_base=fake_bedrock.url, aws_region_name=REGION, aws_access_key_id=ACCESS_KEY
        )


def test_no_region_is_a_bad_request_naming_the_setting(no_aws_files: Path) -> None:
    with pytest.raises(BadRequestError, match="aws_region_name"):
        image_generation("otter", model=NOVA, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


# Assume role


def test_an_assumed_role_signs_with_its_temporary_credentials_and_is_cached(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    role = {"aws_role_name": ROLE_ARN, "aws_session_name": "otter-session", "aws_sts_endpoint": fake_bedrock.url}
    image_generation("otter", model=NOVA, **sigv4, **role)
    image_generation("otter", model=NOVA, **sigv4, **role)
    assert fake_bedrock.assumed_roles == [{"RoleArn": ROLE_ARN, "RoleSessionName": "otter-session"}]
    assert authorization(fake_bedrock).startswith("AWS4-HMAC-SHA256 Credential=ASIA")
    assert "x-amz-security-token" in fake_bedrock.requests[-1].headers


def test_assumed_role_credentials_close_to_expiry_are_refreshed(sigv4: dict[str, Any]) -> None:
    with FakeBedrock(
        credentials={ACCESS_KEY: (SECRET_KEY, None)}, roles=(ROLE_ARN,),
        role_credentials_ttl=datetime.timedelta(minutes=5),  # inside botocore's refresh window
    ) as fake:  # fmt: skip
        kwargs = {**sigv4, "api_base": fake.url, "aws_role_name": ROLE_ARN, "aws_sts_endpoint": fake.url}
        image_generation("otter", model=NOVA, **kwargs)
        assumed = len(fake.assumed_roles)
        image_generation("otter", model=NOVA, **kwargs)
        assert len(fake.assumed_roles) > assumed


def test_a_role_that_cannot_be_assumed_is_an_authentication_error(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    with pytest.raises(AuthenticationError, match="AccessDenied"):
        image_generation(
            "otter", model=NOVA, aws_role_name="arn:aws:iam::123456789012:role/other",
            aws_sts_endpoint=fake_bedrock.url, **sigv4,
        )  # fmt: skip


@pytest.mark.anyio
async def test_async_calls_resolve_credentials_off_the_event_loop_and_sign(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    role = {"aws_role_name": ROLE_ARN, "aws_session_name": "async-session", "aws_sts_endpoint": fake_bedrock.url}
    response = await aimage_generation("otter", model=NOVA, n=2, **sigv4, **role)
    assert len(response.data) == 2
    assert fake_bedrock.assumed_roles[0]["RoleSessionName"] == "async-session"


# Bedrock API keys


def test_an_api_key_is_sent_as_a_bearer_token_without_signing(fake_bedrock: FakeBedrock) -> None:
    image_generation("otter", model=NOVA, api_base=fake_bedrock.url, api_key=API_KEY)
    assert authorization(fake_bedrock) == f"Bearer {API_KEY}"
    assert "x-amz-date" not in fake_bedrock.requests[0].headers


def test_aws_bearer_token_bedrock_is_honoured(fake_bedrock: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
    image_generation("otter", model=NOVA, api_base=fake_bedrock.url)
    assert authorization(fake_bedrock) == f"Bearer {API_KEY}"


def test_explicit_sigv4_credentials_win_over_the_bearer_token_environment(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
    image_generation("otter", model=NOVA, **sigv4)
    assert authorization(fake_bedrock).startswith("AWS4-HMAC-SHA256")


def test_a_wrong_api_key_never_appears_in_the_error(fake_bedrock: FakeBedrock) -> None:
    wrong = "ABSK" + "x" * 40
    with pytest.raises(ImageGenError) as caught:
        image_generation("otter", model=NOVA, api_base=fake_bedrock.url, api_key=wrong)
    assert isinstance(caught.value, AuthenticationError)
    assert wrong not in str(caught.value)


# Assuming a role with an external id, or with a web identity token (LiteLLM's settings)

WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(40)


@pytest.fixture
def guarded_bedrock() -> Iterator[FakeBedrock]:
    """A role whose trust policy requires an external id, and an OIDC token STS accepts."""
    with FakeBedrock(
        credentials={ACCESS_KEY: (SECRET_KEY, None)}, roles=(ROLE_ARN,), external_ids={ROLE_ARN: "otter-tenant-7"},
        web_identity_tokens=(WEB_IDENTITY_TOKEN,),
    ) as fake:  # fmt: skip
        yield fake


def test_an_external_id_is_sent_with_assume_role(guarded_bedrock: FakeBedrock) -> None:
    image_generation(
        "otter", model=NOVA, api_base=guarded_bedrock.url, aws_region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, aws_role_name=ROLE_ARN, aws_sts_endpoint=guarded_bedrock.url,
        aws_external_id="otter-tenant-7",
    )  # fmt: skip
    assert guarded_bedrock.assumed_roles[0]["ExternalId"] == "otter-tenant-7"
    assert authorization(guarded_bedrock).startswith("AWS4-HMAC-SHA256 Credential=ASIA")
    assert "otter-tenant-7" not in json.dumps(guarded_bedrock.invocations)


def test_a_web_identity_token_assumes_the_role_without_other_credentials(
    guarded_bedrock: FakeBedrock, no_aws_files: Path
) -> None:
    image_generation(
        "otter", model=NOVA, api_base=guarded_bedrock.url, aws_region_name=REGION, aws_role_name=ROLE_ARN,
        aws_sts_endpoint=guarded_bedrock.url, aws_web_identity_token=WEB_IDENTITY_TOKEN,
    )  # fmt: skip
    assert guarded_bedrock.assumed_roles[0]["WebIdentityToken"] == WEB_IDENTITY_TOKEN
    sts_call = guarded_bedrock.requests[0]
    assert "authorization" not in sts_call.headers  # AssumeRoleWithWebIdentity is unsigned
    assert authorization(guarded_bedrock).startswith("AWS4-HMAC-SHA256 Credential=ASIA")
    assert WEB_IDENTITY_TOKEN not in json.dumps(guarded_bedrock.invocations)


def test_a_refused_web_identity_token_never_shows_in_the_error(
    guarded_bedrock: FakeBedrock, no_aws_files: Path
) -> None:
    refused = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(40)
    with pytest.raises(AuthenticationError, match="InvalidIdentityToken") as caught:
        image_generation(
            "otter", model=NOVA, api_base=guarded_bedrock.url, aws_region_name=REGION, aws_role_name=ROLE_ARN,
            aws_sts_endpoint=guarded_bedrock.url, aws_web_identity_token=refused,
        )  # fmt: skip
    assert refused not in str(caught.value) + repr(caught.value)


@pytest.mark.parametrize("setting", ["aws_external_id", "aws_web_identity_token"])
def test_role_settings_without_a_role_are_a_clear_error(fake_bedrock: FakeBedrock, setting: str) -> None:
    with pytest.raises(AuthenticationError, match=f"{setting} only apply when assuming a role: pass aws_role_name"):
        image_generation("otter", model=NOVA, api_base=fake_bedrock.url, aws_region_name=REGION, **{setting: "x"})
    assert fake_bedrock.requests == []


def test_an_external_id_with_a_web_identity_token_is_a_clear_error(guarded_bedrock: FakeBedrock) -> None:
    with pytest.raises(AuthenticationError, match="AssumeRoleWithWebIdentity takes no external id"):
        image_generation(
            "otter", model=NOVA, api_base=guarded_bedrock.url, aws_region_name=REGION, aws_role_name=ROLE_ARN,
            aws_web_identity_token=WEB_IDENTITY_TOKEN, aws_external_id="otter-tenant-7",
        )  # fmt: skip
    assert guarded_bedrock.requests == []
