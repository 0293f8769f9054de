"""The docs cover the app (datasette's habit): every setting that config.py
reads and every CLI command with its options is in docs/operations.md, and the
README keeps the two commands, the roles, the screenshots and the map."""

from __future__ import annotations

import ast
import pathlib
import re

import click
import pytest

from groups import config

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section."""
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


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


def cli_commands() -> dict[str, click.Command]:
    from groups import create_app

    app = create_app({"SECRET_KEY": "docs", "DATABASE_URL": "sqlite:////tmp/groups-docs.db"})
    return dict(sorted(app.cli.commands.items()))


COMMANDS = cli_commands()


def command_entry(name: str) -> str:
    """The bullet of the Commands section that documents ``name``."""
    entries = re.split(r"\n- (?=`)", section(OPERATIONS, "Commands"))
    found = [entry for entry in entries if entry.startswith(f"`{name}")]
    assert found, f"add `{name}` to the Commands section of docs/operations.md"
    return found[0]


def test_readme_opens_with_the_two_commands():
    assert README.startswith("```sh\nmake run\nmake test\n```\n")


def test_readme_describes_each_role_and_links_its_guide():
    roles = section(README, "What it does, by role")
    for role in ("Admin", "Provider", "Member"):
        assert f"**{role}**" in roles
        assert f"(docs/{role.lower()}-guide.md)" in roles
        assert (ROOT / "docs" / f"{role.lower()}-guide.md").is_file()


def test_readme_shows_every_screenshot():
    screenshots = sorted(p.name for p in (ROOT / "docs").glob("*.png"))
    assert screenshots
    for name in screenshots:
        assert f"(docs/{name})" in section(README, "Screenshots")


def test_every_setting_is_found():
    assert {"APP_ENV", "SECRET_KEY", "DATABASE_URL", "BASE_URL"} <= set(environment_names())


@pytest.mark.parametrize("name", environment_names())
def test_setting_is_documented(name):
    table = section(OPERATIONS, "Configuration")
    assert f"| `{name}` |" in table, f"add `{name}` to the table in docs/operations.md"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_and_its_options_are_documented(name):
    entry = command_entry(name)
    for param in COMMANDS[name].params:
        if isinstance(param, click.Option):
            assert any(opt in entry for opt in param.opts), (
                f"document {'/'.join(param.opts)} of `{name}` in docs/operations.md"
            )
