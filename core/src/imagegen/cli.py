"""The `imagegen` command: `generate`, `edit`, `variation`, `plugins`, and whatever command plugins add
(the proxy's `serve`)."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .streaming import ImageStream
    from .types import ImageResponse


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and getattr(args, "func", None) is not _serve_missing:  # `serve`'s flags belong to the proxy
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    from .exceptions import ImageGenError

    try:
        return int(args.func(args) or 0)
    except ImageGenError as exc:
        print(f"imagegen: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagegen", description="Generate images with any provider.")
    parser.add_argument("--version", action="version", version=f"imagegen {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    generate = commands.add_parser("generate", help="generate images from a prompt and save them")
    generate.add_argument("prompt")
    _call_options(generate, param_flags=("-p", "--param"))
    generate.add_argument("--style")
    _stream_options(generate)
    generate.set_defaults(func=_generate)

    edit = commands.add_parser("edit", help="edit images following a prompt (optionally within a mask) and save them")
    edit.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="the image(s) to edit: files, data: URLs or http(s) URLs"
    )
    edit.add_argument("-p", "--prompt", required=True, help="the edit to make")
    edit.add_argument("--mask", help="a PNG the size of the (first) image; its transparent pixels are edited")
    _call_options(edit, param_flags=("--param",))
    _stream_options(edit)
    edit.set_defaults(func=_edit)

    variation = commands.add_parser("variation", help="make variations of an image and save them")
    variation.add_argument("input", metavar="INPUT", help="the image to vary: a file, a data: URL or an http(s) URL")
    _call_options(variation, param_flags=("--param",), quality=False)
    variation.set_defaults(func=_variation)

    plugins = commands.add_parser("plugins", help="list provider plugins, their models and load errors")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(func=_plugins)

    new_plugin = commands.add_parser("new-plugin", help="write a ready provider-plugin distribution to start from")
    new_plugin.add_argument("name", help="the provider's name, e.g. acme (prefix acme/, distribution imagegen-acme)")
    new_plugin.add_argument("--output", default=".", help="folder to create imagegen-NAME/ in (default: here)")
    new_plugin.set_defaults(func=_new_plugin)

    from .plugins import load_command_plugins

    load_command_plugins().hook.register_commands(subparsers=commands)
    if "serve" not in commands.choices:
        serve = commands.add_parser("serve", help="run the OpenAI-compatible proxy (needs imagegen-proxy)")
        serve.set_defaults(func=_serve_missing)
    return parser


def _call_options(parser: argparse.ArgumentParser, param_flags: tuple[str, ...], quality: bool = True) -> None:
    """The options every image command takes. `-p` is `generate`'s provider parameter (its prompt is positional)
    but `edit`'s prompt (its positionals are the images), as each command's users type it; `--param` works in all."""
    parser.add_argument("-m", "--model", help="e.g. gpt-image-1, dall-e-3, bedrock/amazon.nova-canvas-v1:0")
    parser.add_argument("-n", type=int, help="number of images")
    parser.add_argument("--size")
    if quality:
        parser.add_argument("--quality")
    parser.add_argument("--response-format", choices=["url", "b64_json"])
    parser.add_argument("--api-base")
    parser.add_argument("--timeout", type=float)
    parser.add_argument(
        *param_flags, dest="param", action="append", default=[], metavar="KEY=VALUE",
        help="a provider parameter or setting; VALUE is parsed as JSON when it can be (repeatable)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", help="file to write (image-1.png, image-2.png… for several)")


def _stream_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stream", action="store_true",
        help="write each partial image as it arrives (OUTPUT.partial-0.png, …), then the final one(s)",
    )  # fmt: skip
    parser.add_argument(
        "--partial-images", type=int, metavar="N",
        help="partial images to stream, 0-3 (default 2 with --stream; each costs extra output tokens)",
    )  # fmt: skip


def _serve_missing(args: argparse.Namespace) -> int:
    print("imagegen: `serve` needs the proxy: pip install imagegen-proxy", file=sys.stderr)
    return 2


def _param(text: str) -> tuple[str, Any]:
    from .exceptions import brief

    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"imagegen: error: --param takes KEY=VALUE, got {brief(text)}")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


@contextmanager
def _spinner(label: str) -> Iterator[None]:
    """An elapsed-time spinner on stderr (only on a terminal): image models take 10-60 s."""
    if not sys.stderr.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def spin() -> None:
        for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
            sys.stderr.write(f"\r{frame} {label} {time.monotonic() - started:5.1f}s")
            sys.stderr.flush()
            if done.wait(0.1):
                break
        sys.stderr.write("\r\033[K")

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _extension(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data[8:12] == b"WEBP":
        return ".webp"
    return ".png"


def _output_paths(output: str | None, count: int, first_bytes: bytes) -> list[Path]:
    if output is None:
        stem, suffix = Path(f"image-{int(time.time())}"), _extension(first_bytes)
    else:
        path = Path(output)
        stem, suffix = path.with_suffix(""), path.suffix or _extension(first_bytes)
    if count == 1:
        return [stem.with_suffix(suffix)]
    return [stem.with_name(f"{stem.name}-{i}").with_suffix(suffix) for i in range(1, count + 1)]


def _generate(args: argparse.Namespace) -> int:
    from .api import image_generation

    options = _options(args)
    if args.stream:
        stream = image_generation(args.prompt, **options, style=args.style, **_stream_kwargs(args))
        return _save_stream(stream, args.output, args.n or 1)
    with _spinner(f"generating with {args.model or 'gpt-image-1'}"):
        response = image_generation(args.prompt, **options, style=args.style)
        return _save(response, args.output)


def _edit(args: argparse.Namespace) -> int:
    from .api import image_edit

    image = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    options = {**_options(args), "mask": args.mask}
    if args.stream:
        stream = image_edit(image, args.prompt, **options, **_stream_kwargs(args))
        return _save_stream(stream, args.output, args.n or 1)
    with _spinner(f"editing with {args.model or 'gpt-image-1'}"):
        return _save(image_edit(image, args.prompt, **options), args.output)


def _variation(args: argparse.Namespace) -> int:
    from .api import image_variation

    with _spinner(f"making variations with {args.model or 'dall-e-2'}"):
        return _save(image_variation(args.input, **_options(args)), args.output)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments every image command passes: its options and its `--param`s."""
    options = dict(
        model=args.model, n=args.n, size=args.size, response_format=args.response_format, api_base=args.api_base,
        timeout=args.timeout,
    )  # fmt: skip
    if getattr(args, "quality", None) is not None:
        options["quality"] = args.quality
    return {**options, **dict(_param(p) for p in args.param)}


def _stream_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"stream": True, "partial_images": 2 if args.partial_images is None else args.partial_images}


def _save(response: ImageResponse, output: str | None) -> int:
    """Write the response's images (URL results downloaded, size-limited, their URLs shown without the
    query: a signed URL's signature is a secret) and print their paths; 1 on failure."""
    from .images import DownloadError, download

    try:
        images = [
            image.image_bytes() if image.b64_json is not None else download(str(image.url)) for image in response.data
        ]
    except DownloadError as exc:
        print(f"imagegen: error: could not download the image: {exc}", file=sys.stderr)
        return 1
    for warning in response.warnings:
        print(f"imagegen: warning: {warning}", file=sys.stderr)
    if not images:
        print("imagegen: error: the provider returned no images", file=sys.stderr)
        return 1
    for path, data in zip(_output_paths(output, len(images), images[0]), images, strict=True):
        if not _write(path, data):
            return 1
        print(path)
    return 0


def _save_stream(stream: ImageStream, output: str | None, count: int) -> int:
    """Write each partial image as it arrives, named after the final image it previews (`otter.png`:
    `otter.partial-0.png`, …; `otter-2.png`: `otter-2.partial-0.png`), with progress on stderr; then the
    final `count` images as `_save` does."""
    from .types import PartialImageEvent

    started = time.monotonic()
    completed = 0
    with stream:
        for event in stream:
            elapsed = time.monotonic() - started
            if not isinstance(event, PartialImageEvent):
                completed += 1
                print(f"imagegen: {elapsed:5.1f}s image {completed} of {count} complete", file=sys.stderr)
                continue
            data = event.image_bytes()
            final = _output_paths(output, count, data)[min(completed, count - 1)]
            path = final.with_name(f"{final.stem}.partial-{event.partial_image_index}{final.suffix}")
            if not _write(path, data):
                return 1
            print(f"imagegen: {elapsed:5.1f}s partial image → {path}", file=sys.stderr)
    return _save(stream.response, output)


def _write(path: Path, data: bytes) -> bool:
    try:
        path.write_bytes(data)
    except OSError as exc:
        print(f"imagegen: error: could not write {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def _new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import write_plugin

    try:
        folder = write_plugin(args.name, Path(args.output))
    except (ValueError, FileExistsError) as exc:
        print(f"imagegen: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {folder}\nnext: pip install -e '{folder}[test]' && pytest {folder}")
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from .plugins import registry

    rows: list[dict[str, Any]] = []
    for entry in registry.load_all():
        info = entry.provider.info if entry.provider else None
        rows.append(
            {
                "prefix": entry.prefix,
                "distribution": entry.distribution,
                "version": entry.version,
                "module": entry.module,
                "models": [spec.name for spec in info.models] if info else [],
                "operations": {spec.name: list(spec.operations) for spec in info.models} if info else {},
                "hooks_version": info.hooks_version if info else None,
                "error": entry.error,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no provider plugins installed; try: pip install imagegen-openai")
    for row in rows:
        print(f"{row['prefix']}/  {row['distribution']} {row['version']}  ({row['module']})")
        if row["error"]:
            print(f"    ERROR: {row['error']}")
        elif row["models"]:
            print(f"    models: {', '.join(row['models'])}")
            for operation in ("edit", "variation"):
                able = [name for name, ops in row["operations"].items() if operation in ops]
                if able:
                    print(f"    {operation}s: {', '.join(able)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
