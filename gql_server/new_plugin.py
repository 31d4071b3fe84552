"""`gql-server new-plugin NAME`: write a plugin package whose tests pass as generated.

The package (`gql-server-NAME/`) has a pyproject with the `gql_server` entry point, a code-checking method
to replace (`src/gql_server_NAME/__init__.py`, importing nothing of gql_server but its plugin API) and tests
that enroll it and log in with it through gql_server's test kit (`tests/test_NAME.py`). The files are
`plugin_template/*.tmpl`, filled in with `string.Template`.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "plugin_template"
# Lower-case words joined by "_" or "-": a method id, a module name (with "_") and a distribution name (with
# "-") all at once.
NAME = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")


class NewPluginError(Exception):
    """The package cannot be written: a name that is not one, or a directory that is already there."""


def write_plugin(name: str, directory: Path) -> Path:
    """Write the package for plugin `name` into `directory`/gql-server-NAME; the package's directory."""
    if not NAME.fullmatch(name):
        raise NewPluginError(f"{name!r} is not a plugin name: lower-case letters and digits, words joined by _ or -")
    words = re.split(r"[_-]", name)
    values = {
        "name": name,
        "method_id": "_".join(words),
        "module": "gql_server_" + "_".join(words),
        "dist": "gql-server-" + "-".join(words),
        "class_name": "".join(word.capitalize() for word in words),
        "display_name": " ".join(words).capitalize(),
    }
    root = directory / values["dist"]
    if root.exists():
        raise NewPluginError(f"{root} already exists; nothing was written")
    files = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        f"src/{values['module']}/__init__.py": "__init__.py.tmpl",
        f"src/{values['module']}/py.typed": None,
        f"tests/test_{values['method_id']}.py": "test_plugin.py.tmpl",
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "" if template is None else Template((TEMPLATES / template).read_text("utf-8")).substitute(values)
        path.write_text(text, encoding="utf-8")
    return root
