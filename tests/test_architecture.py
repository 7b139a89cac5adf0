"""The layout's arrows point downward: the engine is pure, click stays in the CLI, HTTP stays in the client."""

from __future__ import annotations

import ast
import re
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


DESIGN = PACKAGE.parent / "docs" / "design.md"


def layers() -> list[list[str]]:
    """docs/design.md's Layout table, top row first: each row the paths (files, or folders ending in /) it holds."""
    text = DESIGN.read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`reconciler/" in line]
    return [re.findall(r"`(reconciler/[^`]*)`", row.split("|")[2]) for row in rows]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(path: Path, table: list[list[str]]) -> int:
    """The row (0 = top) that holds a module; a module the table does not place fails the test."""
    relative = path.relative_to(PACKAGE.parent).as_posix()
    for row, places in enumerate(table):
        if any(relative == place or (place.endswith("/") and relative.startswith(place)) for place in places):
            return row
    raise AssertionError(f"{relative} is in no row of docs/design.md's Layout table: add it where it belongs")


def internal_imports(path: Path) -> set[str]:
    """The reconciler modules a file imports, anywhere in it (a function's import is an arrow too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reconciler"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from reconciler.plan import html`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("reconciler"))
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {target for target in internal_imports(path) if target in files and target != name} for name, path in files.items()}


def upward_imports(graph: dict[str, set[str]], table: list[list[str]]) -> list[str]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return [f"{name} (row {layer_of(files[name], table)}) imports {target} (row {layer_of(files[target], table)})"
            for name, targets in sorted(graph.items()) for target in sorted(targets) if layer_of(files[target], table) < layer_of(files[name], table)]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_every_import_points_down_docs_design_layout_table() -> None:
    table = layers()
    assert len(table) >= 10, "the Layout table was not found in docs/design.md"
    assert upward_imports(import_graph(), table) == []


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_layer_check_fails_on_an_upward_import_and_a_cycle() -> None:
    """The review's case: an import of reconciler.plan.model added to engine/retention.py passed every test."""
    graph = import_graph()
    graph["reconciler.engine.retention"] = graph["reconciler.engine.retention"] | {"reconciler.plan.model"}
    assert upward_imports(graph, layers()) == ["reconciler.engine.retention (row 5) imports reconciler.plan.model (row 4)"]
    graph["reconciler.plan.render"] = graph["reconciler.plan.render"] | {"reconciler.plan.html"}  # html imports render: a cycle
    assert ["reconciler.plan.html", "reconciler.plan.render", "reconciler.plan.html"] in cycles(graph)


def test_every_design_citation_names_a_real_heading() -> None:
    headings = {line.lstrip("#").strip() for line in DESIGN.read_text().splitlines() if line.startswith("#")}
    cited = []
    for path in [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "tests").glob("*.py"), *(PACKAGE.parent / "bench").glob("*.py")]:
        for match in re.finditer(r'docs/design\.md[,:]? "([^"]+)"', path.read_text()):
            cited.append((path.name, match.group(1)))
    assert len(cited) > 20
    assert [(name, heading) for name, heading in cited if heading not in headings] == []


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


def test_exit_codes_are_defined_once_and_listed_in_every_help() -> None:
    import click

    from reconciler import exit_codes
    from reconciler.cli import cli

    for path in PACKAGE.rglob("*.py"):
        if path.name == "exit_codes.py":
            continue
        source = path.read_text()
        assert not re.search(r"\bEXIT_[A-Z]+\s*=|sys\.exit\(\d|return [0-9]+$|exit_code = \d", source, re.M), f"{path}: an exit code outside exit_codes.py"

    def commands(group: click.Group, prefix: list[str]):
        for name, command in group.commands.items():
            yield [*prefix, name], command
            if isinstance(command, click.Group):
                yield from commands(command, [*prefix, name])

    listed = list(commands(cli, []))
    assert len(listed) > 12
    for path, command in listed:
        with click.Context(command, info_name=" ".join(path)) as context:
            assert command.epilog == exit_codes.HELP and "Exit codes: 0 success" in command.get_help(context), path
