"""The layout's arrows point downward: the engine is pure, click stays in the CLI, HTTP stays in the client."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "reconciler"


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(*parts: str) -> list[Path]:
    return [p for part in parts for p in ((PACKAGE / part).rglob("*.py") if (PACKAGE / part).is_dir() else [PACKAGE / part])]


def test_pure_layers_do_no_io() -> None:
    forbidden = ("reconciler.api", "reconciler.live", "reconciler.sandbox", "reconciler.apply", "reconciler.commands", "requests", "click",
                 "socket", "sqlite3", "subprocess")
    for path in modules("engine", "manifest", "plan", "models.py", "timeutil.py"):
        bad = {name for name in imports(path) if name.startswith(forbidden)}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_only_the_cli_knows_click_and_only_the_client_knows_requests() -> None:
    for path in PACKAGE.rglob("*.py"):
        names = imports(path)
        if path.name != "cli.py":
            assert not any(n == "click" or n.startswith("click.") for n in names), path
        if path.parent.name != "api":
            assert not any(n == "requests" or n.startswith("requests.") for n in names), path


def test_the_cli_starts_without_loading_http_or_the_sandbox() -> None:
    import subprocess
    import sys

    probe = "import sys, reconciler.cli; print(sorted(m for m in ('requests', 'sqlite3', 'jsonschema', 'reconciler.apply.executor') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"imported at start-up: {loaded} (validate in a pre-commit hook should stay fast)"
