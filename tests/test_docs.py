"""README and docs stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from gateway.cli import app
from gateway.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_configuration_table_matches_the_settings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(ACCORD_[A-Z_]+)` \| ([^|]+) \|", readme, flags=re.MULTILINE))
    expected = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(rows) == expected
    for name, field in Settings.model_fields.items():
        default = rows[ENV_PREFIX + name.upper()].strip()
        if field.annotation is not None and "SecretStr" in str(field.annotation):
            assert default == "development value"
        else:
            value = field.default.value if hasattr(field.default, "value") else field.default
            assert default == f"`{value}`", name


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    assert "../shared/ARCHITECTURE.md" in readme


def test_documented_cli_commands_exist() -> None:
    group = get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    assert {"serve", "db", "platform", "brand", "schema", "demo"} <= names
