"""README.md documents every setting and every CLI command (datasette's habit)."""

from __future__ import annotations

import ast
import pathlib

import pytest

from groups import config

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def environment_names() -> list[str]:
    """Every name from_environment reads: os.environ.get("X"), os.environ["X"], os.getenv("X")."""
    tree = ast.parse(pathlib.Path(config.__file__).read_text())
    function = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "from_environment"
    )
    names = []
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            target = ast.unparse(node.func)
            if target in ("os.environ.get", "os.getenv"):
                names.append(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            names.append(ast.literal_eval(node.slice))
    return sorted(set(names))


def cli_commands() -> list[str]:
    from groups import create_app

    app = create_app({"SECRET_KEY": "docs", "DATABASE_URL": "sqlite:////tmp/groups-docs.db"})
    return sorted(app.cli.commands)


def test_readme_opens_with_the_two_commands():
    assert README.startswith("```sh\nmake run\nmake test\n```\n")


def test_every_setting_is_found():
    assert {"APP_ENV", "SECRET_KEY", "DATABASE_URL", "BASE_URL"} <= set(environment_names())


@pytest.mark.parametrize("name", environment_names())
def test_setting_is_documented(name):
    assert f"`{name}`" in README


@pytest.mark.parametrize("command", cli_commands())
def test_command_is_documented(command):
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert f"`{command}" in section, f"add `{command}` to the Commands section of README.md"


def test_readme_describes_each_role():
    section = README.split("## What it does, by role", 1)[1].split("\n## ", 1)[0]
    for role in ("Admin", "Provider", "Member"):
        assert f"**{role}**" in section
