"""The proxy serves a third-party plugin (tests/plugins/imagegen-acme) from a config, like one of ours."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from imagegen.testing import TINY_PNG_B64

from .conftest import MASTER_KEY, ProxyLauncher

ACME_TESTS = Path(__file__).parents[1] / "plugins" / "imagegen-acme" / "tests"


def acme_fixtures() -> ModuleType:
    # The plugin's own fake lives in its test folder, which is not a package: load it from its file.
    spec = importlib.util.spec_from_file_location("acme_fixtures", ACME_TESTS / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_third_party_plugin_is_served_from_a_config(start_proxy: ProxyLauncher) -> None:
    fixtures = acme_fixtures()
    with fixtures.FakeAcme() as fake:
        config = {
            "model_list": [
                {
                    "model_name": "acme",
                    "litellm_params": {"model": "acme/acme-image-1", "api_base": fake.url, "api_key": fixtures.API_KEY},
                }
            ],
            "general_settings": {"master_key": MASTER_KEY},
        }
        proxy = start_proxy(config)
        result = proxy.openai().images.generate(model="acme", prompt="otter", n=2, size="512x512")
    assert [image.b64_json for image in result.data or []] == [TINY_PNG_B64, TINY_PNG_B64]
    assert fake.requests[0].json() == {"prompt": "otter", "count": 2, "width": 512, "height": 512}
