"""The `imagegen` command, run as a user runs it (a subprocess of the installed script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from imagegen.testing import TINY_PNG, FakeRequest, FakeResponse, png_image
from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "sk-cli-test-key"
IMAGEGEN = shutil.which("imagegen") or str(Path(__file__).parents[2] / ".venv/bin/imagegen")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "IMAGEGEN_"))}
    return subprocess.run([IMAGEGEN, *args], capture_output=True, text=True, env={**clean, **env}, check=False)


def test_generate_writes_the_images_and_prints_their_paths(tmp_path: Path) -> None:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "generate", "A cute baby sea otter", "-m", "gpt-image-1", "-n", "2", "-o", str(tmp_path / "otter.png"),
            OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert paths == [str(tmp_path / "otter-1.png"), str(tmp_path / "otter-2.png")]
    assert all(Path(p).read_bytes() == TINY_PNG for p in paths)


def test_generate_downloads_url_results(tmp_path: Path) -> None:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "generate", "otter", "-m", "dall-e-3", "--response-format", "url", "-o", str(tmp_path / "o.png"),
            "--api-base", fake.api_base, OPENAI_API_KEY=API_KEY,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o.png").read_bytes() == TINY_PNG


def test_generate_passes_provider_params(tmp_path: Path) -> None:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "generate", "otter", "-m", "gpt-image-1", "-p", "background=transparent", "-p", "output_compression=80",
            "-p", "output_format=webp", "-o", str(tmp_path / "o"), OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
        body = fake.requests[0].json()
    assert result.returncode == 0, result.stderr
    assert (body["background"], body["output_compression"]) == ("transparent", 80)


def test_errors_print_one_clear_line_and_exit_non_zero() -> None:
    result = run("generate", "otter", "-m", "dall-e-3", "--size", "5x5")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "imagegen: error:" in result.stderr
    assert "size" in result.stderr


def test_plugins_lists_distribution_version_prefix_and_models() -> None:
    result = run("plugins", "--json")
    rows = {row["prefix"]: row for row in json.loads(result.stdout)}
    assert rows["openai"]["distribution"] == "imagegen-openai"
    assert "dall-e-3" in rows["openai"]["models"]
    assert rows["openai"]["error"] is None
    text = run("plugins").stdout
    assert "openai/  imagegen-openai" in text


def test_an_unwritable_output_is_one_clear_line(tmp_path: Path) -> None:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "generate", "otter", "-m", "gpt-image-1", "-o", str(tmp_path / "missing" / "o.png"),
            OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "could not write" in result.stderr


def test_a_failed_download_is_one_clear_line(tmp_path: Path) -> None:
    class LostFiles(FakeOpenAI):
        def handle(self, request: FakeRequest) -> FakeResponse:
            if request.path.startswith("/files/"):
                return FakeResponse(404, {"error": "gone"})
            return super().handle(request)

    with LostFiles(api_keys=(API_KEY,)) as fake:
        result = run(
            "generate", "otter", "-m", "dall-e-2", "-o", str(tmp_path / "o.png"), "--api-base", fake.api_base,
            OPENAI_API_KEY=API_KEY,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "could not download the image" in result.stderr


def test_edit_sends_the_inputs_and_the_mask_and_writes_the_result(tmp_path: Path) -> None:
    image, mask = tmp_path / "otter.png", tmp_path / "mask.png"
    image.write_bytes(png_image(32, 32))
    mask.write_bytes(png_image(32, 32, transparent_box=(0, 0, 16, 16)))
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "edit", str(image), str(image), "-p", "Add a hat", "--mask", str(mask), "-m", "gpt-image-1",
            "--param", "input_fidelity=high", "-o", str(tmp_path / "hat.png"),
            OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
        fields, files = fake.uploads[0]
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "hat.png")]
    assert (tmp_path / "hat.png").read_bytes() == TINY_PNG
    assert [f.data for f in files["image[]"]] == [image.read_bytes()] * 2
    assert files["mask"][0].data == mask.read_bytes()
    assert (fields["prompt"], fields["input_fidelity"]) == (["Add a hat"], ["high"])


def test_variation_writes_each_image(tmp_path: Path) -> None:
    image = tmp_path / "otter.png"
    image.write_bytes(png_image(32, 32))
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "variation", str(image), "-m", "dall-e-2", "-n", "2", "--response-format", "b64_json",
            "-o", str(tmp_path / "v.png"), OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "v-1.png"), str(tmp_path / "v-2.png")]


def test_generate_stream_writes_each_partial_image_as_it_arrives(tmp_path: Path) -> None:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "generate", "otter", "-m", "gpt-image-1", "--stream", "--partial-images", "3",
            "-o", str(tmp_path / "otter.png"), OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    partials = [tmp_path / f"otter.partial-{index}.png" for index in range(3)]
    assert all(path.read_bytes() == TINY_PNG for path in partials)
    assert result.stdout.split() == [str(tmp_path / "otter.png")]
    assert next(line for line in result.stderr.splitlines() if "partial image" in line).endswith(str(partials[0]))
    assert "image 1 of 1 complete" in result.stderr


def test_edit_stream_names_each_images_partials_after_it(tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    image.write_bytes(png_image(32, 32))
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        result = run(
            "edit", str(image), "--prompt", "hat", "-m", "gpt-image-1", "-n", "2", "--stream", "--partial-images", "1",
            "-o", str(tmp_path / "hat.png"), OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "hat-1.partial-0.png").exists()
    assert (tmp_path / "hat-2.partial-0.png").exists()
    assert result.stdout.split() == [str(tmp_path / "hat-1.png"), str(tmp_path / "hat-2.png")]


def test_edit_of_a_missing_input_is_one_clear_line(tmp_path: Path) -> None:
    result = run("edit", str(tmp_path / "nope.png"), "-p", "hat", "-m", "gpt-image-1", OPENAI_API_KEY=API_KEY)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no such file" in result.stderr


class SignedFiles(FakeOpenAI):
    """URL results signed in their query (as providers' CDNs sign them), and downloads that may fail."""

    SIGNATURE = "sig=SECRET-SIGNATURE-123"

    def __init__(self, file_status: int = 200) -> None:
        super().__init__(api_keys=(API_KEY,))
        self.file_status = file_status

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.path.startswith("/files/") or request.path.startswith("/inputs/"):
            if self.file_status != 200:
                return FakeResponse(self.file_status, {"error": "expired"})
            return FakeResponse(200, png_image(32, 32) if request.path.startswith("/inputs/") else TINY_PNG)
        response = super().handle(request)
        if isinstance(response.body, dict):
            for item in response.body.get("data", []):
                if "url" in item:
                    item["url"] += f"?{self.SIGNATURE}"
        return response


def test_a_url_result_is_downloaded_and_a_failure_never_shows_its_signed_query(tmp_path: Path) -> None:
    with SignedFiles() as fake:
        result = run(
            "generate", "otter", "-m", "dall-e-2", "-o", str(tmp_path / "o.png"), "--api-base", fake.api_base,
            OPENAI_API_KEY=API_KEY,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o.png").read_bytes() == TINY_PNG
    with SignedFiles(file_status=403) as fake:
        result = run(
            "generate", "otter", "-m", "dall-e-2", "-o", str(tmp_path / "o.png"), "--api-base", fake.api_base,
            OPENAI_API_KEY=API_KEY,
        )  # fmt: skip
    assert result.returncode == 1
    assert "could not download the image" in result.stderr
    assert "403" in result.stderr
    assert "SECRET" not in result.stderr + result.stdout


def test_edit_takes_an_http_input_and_never_shows_its_signed_query(tmp_path: Path) -> None:
    with SignedFiles() as fake:
        url = f"{fake.url}/inputs/otter.png?{SignedFiles.SIGNATURE}"
        result = run(
            "edit", url, "-p", "Add a hat", "-m", "gpt-image-1", "-o", str(tmp_path / "hat.png"),
            OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=fake.api_base,
        )  # fmt: skip
        _, files = fake.uploads[0]
    assert result.returncode == 0, result.stderr
    assert files["image"][0].data == png_image(32, 32)
    with SignedFiles(file_status=403) as fake:
        url = f"{fake.url}/inputs/otter.png?{SignedFiles.SIGNATURE}"
        result = run("edit", url, "-p", "Add a hat", "-m", "gpt-image-1", OPENAI_API_KEY=API_KEY)
    assert result.returncode == 1
    assert "403" in result.stderr
    assert "SECRET" not in result.stderr + result.stdout
