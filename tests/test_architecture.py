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


def test_pure_layers_import_no_network_sandbox_apply_or_cli() -> None:
    forbidden = ("reconciler.api.client", "reconciler.live", "reconciler.sandbox", "reconciler.apply", "reconciler.commands", "reconciler.cli",
                 "requests", "urllib3", "click", "socket", "sqlite3", "subprocess", "threading")
    for path in modules("engine", "manifest", "plan", "projects.py", "models.py", "timeutil.py"):
        bad = {name for name in imports(path) if name == name.split(".")[0] and name in forbidden or name.startswith(forbidden)}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_engine_and_the_planner_touch_no_files() -> None:
    """Decisions are a pure function of (rules, backtests, reference time): no file, no environment, no console."""
    for path in modules("engine", "plan/planner.py", "projects.py"):
        tree = ast.parse(path.read_text())
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        touched = names & {"open", "os", "Path", "environ", "getenv", "stdin", "stdout", "stderr", "print", "input"}
        assert not touched, f"{path.relative_to(PACKAGE)} uses {sorted(touched)}"


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


def test_an_offline_plan_never_loads_the_http_stack(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"projects": [{"projectId": 1, "name": "P", "backtests": [
        {"backtestId": "0" * 32, "name": "a", "created": "2026-01-01 00:00:00", "status": "Completed."}]}]}))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    keep: [{last: 1}]\n")
    probe = ("import sys\nfrom reconciler.cli import main\n"
             f"sys.argv = ['reconciler', 'plan', {str(manifest)!r}, '--state', {str(state)!r}]\n"
             "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
             "print(code, sorted(m for m in ('requests', 'urllib3', 'reconciler.api.client', 'reconciler.live') if m in sys.modules), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stderr.strip().splitlines()[-1] == "0 []", result.stderr


def test_the_version_fast_path_says_what_click_says() -> None:
    import subprocess
    import sys

    from click.testing import CliRunner

    from reconciler.cli import cli
    from reconciler.entry import VERSION_LINE

    assert CliRunner().invoke(cli, ["--version"]).output == VERSION_LINE + "\n"
    fast = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['reconciler', '--version']\nfrom reconciler.entry import main\nmain()"],
                          capture_output=True, text=True)
    assert fast.returncode == 0 and fast.stdout == VERSION_LINE + "\n"


def test_the_linter_passes() -> None:
    """ruff, with its configuration in pyproject.toml ([tool.ruff]), over the whole repository."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a test dependency: pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", "--no-cache", str(PACKAGE.parent)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
