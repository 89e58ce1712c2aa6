"""README.md stays true: every extra is explained, and the test command CI runs is there."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_every_extra_is_explained() -> None:
    # a regex, not tomllib: the package supports Python 3.10, which has no tomllib
    pyproject = (REPO / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([A-Za-z0-9_-]+) *= *\[", section, re.MULTILINE))
    assert "dev" in extras  # the parse works
    table = README.split("| extra ", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `([a-z0-9_-]+)` +\|", table, re.MULTILINE))
    missing = sorted(set(extras) - documented)
    assert not missing, f"README.md's extras table lacks {missing}"
    unknown = sorted(documented - set(extras))
    assert not unknown, f"README.md documents extras pyproject.toml lacks: {unknown}"


def test_ci_runs_the_readme_test_command() -> None:
    block = re.search(r"<!-- test-command -->\n```bash\n(.+)\n```", README)
    assert block is not None, "README.md needs '<!-- test-command -->' before a bash block"
    command = block.group(1).strip()
    # the servers the tests need are installed by the command itself, then pytest runs
    assert command.startswith("scripts/test-servers/setup.sh all && ")
    assert command.endswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci  # .ci/run takes the command from README.md


def test_first_run_needs_no_server() -> None:
    assert "```bash\nguidellm run\n```" in README


def _between(text: str, marker: str) -> str:
    start = text.index(f"<!-- {marker} -->\n") + len(f"<!-- {marker} -->\n")
    return text[start : text.index(f"\n<!-- /{marker} -->")]


def test_the_settings_table_is_generated_from_run_config() -> None:
    from guidellm.config import settings_table

    text = (REPO / "README.md").read_text()
    assert _between(text, "settings-table") == settings_table(), (
        "README.md's settings table drifted from RunConfig; paste the output of "
        "python -c 'from guidellm.config import settings_table; print(settings_table())'"
    )


def test_every_command_and_variable_is_in_the_readme() -> None:
    from guidellm.cli import build_cli
    from guidellm.config import OTHER_VARIABLES

    text = (REPO / "README.md").read_text()
    for name, command in build_cli().commands.items():
        builtin = ((command.callback and command.callback.__module__) or "").startswith("guidellm.")
        if name != "benchmark" and builtin:
            assert f"`guidellm {name}" in text, f"README.md does not describe 'guidellm {name}'"
    variables = _between(text, "variables-table")
    for var in OTHER_VARIABLES:
        assert f"`{var}`" in variables, var
