"""Finding, loading and routing to provider plugins (entry points, lazily, robustly)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import imagegen
import imagegen.testing
from imagegen.exceptions import PluginError
from imagegen.plugins import registry

from .plugin_dists import GOOD_PLUGIN, last_json, run_python, write_distribution

RESOLVE = """
import json, imagegen
from imagegen.plugins import registry
try:
    provider, model = registry.resolve({model!r})
    print(json.dumps([provider.prefix, provider.distribution, model]))
except imagegen.PluginError as exc:
    print(json.dumps(["error", str(exc)]))
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_distribution(tmp_path, "imagegen-foo", "foo", "imagegen_foo", GOOD_PLUGIN.format(name="Foo", model="foo-xl"))
    return tmp_path


def test_a_prefixed_model_goes_to_the_plugin_owning_the_prefix(site: Path) -> None:
    assert last_json(run_python(site, RESOLVE.format(model="foo/foo-xl"))) == ["foo", "imagegen-foo", "foo-xl"]


def test_a_bare_model_name_goes_to_the_plugin_that_declares_it(site: Path) -> None:
    assert last_json(run_python(site, RESOLVE.format(model="foo-xl")))[0] == "foo"
    assert last_json(run_python(site, RESOLVE.format(model="dall-e-3")))[:2] == ["openai", "imagegen-openai"]


def test_a_plugin_deferring_bare_names_answers_one_only_when_no_other_lists_it(tmp_path: Path) -> None:
    deferring = GOOD_PLUGIN.format(name="Aaa", model="shared-xl").replace(
        'ProviderInfo(name="Aaa",', 'ProviderInfo(name="Aaa", defer_bare_names=True,'
    )
    write_distribution(tmp_path, "imagegen-aaa", "aaa", "imagegen_aaa", deferring)
    assert last_json(run_python(tmp_path, RESOLVE.format(model="shared-xl")))[0] == "aaa"

    write_distribution(
        tmp_path, "imagegen-zzz", "zzz", "imagegen_zzz", GOOD_PLUGIN.format(name="Zzz", model="shared-xl")
    )
    assert last_json(run_python(tmp_path, RESOLVE.format(model="shared-xl")))[0] == "zzz"
    assert last_json(run_python(tmp_path, RESOLVE.format(model="aaa/shared-xl")))[0] == "aaa"


def test_no_model_means_openai_gpt_image_1() -> None:
    provider, model = registry.resolve(None)
    assert (provider.prefix, model) == ("openai", "gpt-image-1")


def test_an_unknown_prefix_names_it_lists_providers_and_suggests_the_install() -> None:
    with pytest.raises(PluginError) as caught:
        registry.resolve("stability_ai/sd-4")
    message = str(caught.value)
    assert "'stability_ai'" in message
    assert "openai" in message
    assert "pip install imagegen-stability-ai" in message


def test_an_unknown_bare_model_explains_how_to_name_it() -> None:
    with pytest.raises(PluginError, match="openai/my-model"):
        registry.resolve("my-model")


def test_import_imagegen_reads_no_plugin_and_imports_no_http_stack(site: Path) -> None:
    code = """
    import json, sys, imagegen
    print(json.dumps(sorted(m for m in sys.modules if m.startswith(("imagegen_", "httpx", "pydantic", "pluggy")))))
    """
    assert last_json(run_python(site, code)) == []


def test_a_plugin_is_imported_only_when_its_prefix_is_used(site: Path) -> None:
    code = """
    import json, sys
    from imagegen.plugins import registry
    registry.provider("foo")
    print(json.dumps(sorted(m for m in sys.modules if m.startswith("imagegen_"))))
    """
    assert last_json(run_python(site, code)) == ["imagegen_foo"]


def test_a_broken_plugin_does_not_break_the_others(tmp_path: Path) -> None:
    write_distribution(
        tmp_path, "imagegen-broken", "broken", "imagegen_broken", "raise ImportError('no module named yaml')"
    )
    code = RESOLVE.format(model="broken/x") + RESOLVE.format(model="dall-e-2")
    result = run_python(tmp_path, code)
    broken, openai = (line for line in result.stdout.splitlines())
    assert "imagegen-broken failed to load: ImportError: no module named yaml" in broken
    assert '"openai"' in openai


def test_strict_mode_makes_a_load_failure_fatal(tmp_path: Path) -> None:
    write_distribution(tmp_path, "imagegen-broken", "broken", "imagegen_broken", "raise ImportError('boom')")
    result = run_python(
        tmp_path, "from imagegen.plugins import registry\nregistry.provider('broken')", IMAGEGEN_STRICT_PLUGINS="1"
    )
    assert result.returncode != 0
    assert "boom" in result.stderr


def test_two_plugins_claiming_one_prefix_is_an_error_naming_both(site: Path) -> None:
    write_distribution(site, "imagegen-foo-fork", "foo", "imagegen_foo_fork", GOOD_PLUGIN.format(name="F", model="x"))
    message = last_json(run_python(site, RESOLVE.format(model="foo/foo-xl")))[1]
    assert "imagegen-foo" in message
    assert "imagegen-foo-fork" in message


def test_disabled_plugins_are_not_loaded(site: Path) -> None:
    result = last_json(run_python(site, RESOLVE.format(model="foo/foo-xl"), IMAGEGEN_DISABLE_PLUGINS="foo, bar"))
    assert result[0] == "error"
    assert "IMAGEGEN_DISABLE_PLUGINS" in result[1]


def test_a_misspelled_hook_is_rejected_at_load(tmp_path: Path) -> None:
    source = GOOD_PLUGIN.format(name="Typo", model="t") + "\n@hookimpl\ndef build_reqest(request, body):\n    pass\n"
    write_distribution(tmp_path, "imagegen-typo", "typo", "imagegen_typo", source)
    message = last_json(run_python(tmp_path, RESOLVE.format(model="typo/t")))[1]
    assert "build_reqest" in message


def test_a_plugin_for_another_hooks_version_gets_a_clear_message(tmp_path: Path) -> None:
    source = GOOD_PLUGIN.format(name="Old", model="o").replace(
        'ProviderInfo(name="Old"', 'ProviderInfo(hooks_version=99, name="Old"'
    )
    write_distribution(tmp_path, "imagegen-future", "future", "imagegen_future", source)
    message = last_json(run_python(tmp_path, RESOLVE.format(model="future/o")))[1]
    assert "hooks version 99" in message
    assert "upgrade imagegen-core" in message


def test_a_plugin_built_for_hooks_version_1_still_generates_and_refuses_edits(tmp_path: Path) -> None:
    source = GOOD_PLUGIN.format(name="Old", model="old-xl").replace(
        'ProviderInfo(name="Old"', 'ProviderInfo(hooks_version=1, name="Old"'
    )
    write_distribution(tmp_path, "imagegen-old", "old", "imagegen_old", source)
    code = """
    import json, imagegen, imagegen.testing
    from imagegen.plugins import registry
    provider, model = registry.resolve("old/old-xl")
    try:
        imagegen.image_edit(imagegen.testing.png_image(8, 8), "hat", model="old/old-xl")
    except imagegen.UnsupportedParamsError as exc:
        print(json.dumps([provider.info.hooks_version, provider.model(model).operations, str(exc)]))
    """
    version, operations, error = last_json(run_python(tmp_path, code))  # type: ignore[misc]
    assert (version, operations) == (1, ["generation"])
    assert "cannot edit" in error


@pytest.mark.parametrize(
    ("operation", "verb"), [("edit", "cannot edit images"), ("variation", "cannot make variations")]
)
def test_a_hooks_version_1_plugin_refuses_edits_and_variations_of_any_model_before_sending(
    monkeypatch: pytest.MonkeyPatch, operation: str, verb: str
) -> None:
    from . import inprocess_plugin

    entry = inprocess_plugin.install()
    assert entry.provider is not None
    # Built for version 1, and serving models it does not list: nothing in a ModelSpec says "no edits".
    entry.provider.info = dataclasses.replace(entry.provider.info, hooks_version=1, pass_through_unknown_models=True)
    monkeypatch.setitem(registry.entries(), inprocess_plugin.PREFIX, entry)
    inprocess_plugin.received.clear()
    image = imagegen.testing.png_image(8, 8)
    call = (
        (lambda: imagegen.image_edit(image, "hat", model="inproc/unlisted-1"))
        if operation == "edit"
        else (lambda: imagegen.image_variation(image, model="inproc/unlisted-1"))
    )
    with pytest.raises(imagegen.UnsupportedParamsError) as caught:
        call()
    message = str(caught.value)
    assert "inproc/unlisted-1" in message
    assert verb in message
    assert "hooks version 1" in message
    assert "drop_params" not in message  # no parameter to drop: the plugin cannot do it
    assert inprocess_plugin.received == []
    assert imagegen.image_generation("otter", model="inproc/unlisted-1").data  # generation still works
