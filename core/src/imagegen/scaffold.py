"""`imagegen new-plugin NAME`: write a ready provider-plugin distribution from the template."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

TEMPLATE_PACKAGE = "imagegen.plugin_template"


def template_values(name: str) -> dict[str, str]:
    """The names a plugin called `name` uses: distribution, module, prefix, class, env var, title."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*", name):
        raise ValueError(
            f"a plugin name is lower-case letters, digits and dashes (like 'acme' or 'acme-ai'), got {name!r}"
        )
    words = re.split(r"[-_]", name)
    module = "_".join(words)
    return {
        "dist": "-".join(words),
        "module": module,
        "prefix": module,
        "klass": "".join(word.capitalize() for word in words),
        "env": module.upper(),
        "title": " ".join(word.capitalize() for word in words),
    }


def _files(folder: Traversable, relative: Path = Path()) -> list[tuple[Path, str]]:
    found = []
    for item in folder.iterdir():
        if item.is_dir():
            if item.name != "__pycache__":
                found += _files(item, relative / item.name)
        elif item.name.endswith(".tmpl"):
            found.append((relative / item.name.removesuffix(".tmpl"), item.read_text()))
    return found


def render_plugin(name: str) -> dict[Path, str]:
    """The files of the plugin distribution `imagegen-<name>`, by path relative to its folder."""
    values = template_values(name)
    rendered = {}
    for path, text in _files(resources.files(TEMPLATE_PACKAGE)):
        target = Path(str(path).replace("imagegen_PKG", f"imagegen_{values['module']}"))
        rendered[target] = Template(text).substitute(values)
    return rendered


def write_plugin(name: str, parent: Path) -> Path:
    """Write `imagegen-<name>/` under `parent`; refuses to overwrite an existing folder."""
    folder = parent / f"imagegen-{template_values(name)['dist']}"
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; choose another name or folder")
    for path, text in render_plugin(name).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    return folder
