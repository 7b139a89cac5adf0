"""The README is a user guide that stays true: every command in it runs, shown output matches, the reference is complete."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.manifest.schema import schema
from reconciler.sandbox.server import SandboxServer

from helpers import cli_env

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
INSTALL_STEPS = (re.compile(r"^python3? -m venv "), re.compile(r"^\. \.venv/bin/activate$"), re.compile(r"^pip install "))
CHECKED_OUTPUT = "<!-- checked: tests/test_readme.py"


def shell_blocks() -> list[tuple[int, str, str | None]]:
    """(line number, command block, the checked text block right after it or None)."""
    blocks = []
    for match in re.finditer(r"```sh\n(.*?)```\n", README, re.S):
        rest = README[match.end():]
        checked = re.match(r"\s*" + re.escape(CHECKED_OUTPUT) + r"[^\n]*\n```text\n(.*?)```", rest, re.S)
        blocks.append((README[: match.start()].count("\n") + 1, match.group(1), checked.group(1) if checked else None))
    return blocks


def commands(block: str) -> list[tuple[str, int]]:
    result = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        expected = 0
        marker = re.search(r"\s+# exit (\d+)$", line)
        if marker:
            expected, line = int(marker.group(1)), line[: marker.start()]
        parts = [part for part in line.split(" && ") if not any(p.match(part.strip()) for p in INSTALL_STEPS)]
        if parts:
            result.append((" && ".join(parts), expected))
    return result


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    (_, first, _), (_, second, _) = shell_blocks()[:2]
    assert "reconciler --sandbox plan examples/sandbox-demo.yaml" in first and "pip install -e ." in first
    test_command = second.strip().split(" && ", 2)[2]
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in test_command


def test_every_readme_command_runs(demo_sandbox: SandboxServer, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    update = request.config.getoption("--update-readme")
    rewritten = README
    for folder in ("examples", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder, symlinks=False)
    env = {**cli_env(demo_sandbox.url), "HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    ran = 0
    for line_number, block, checked in shell_blocks():
        last_output = ""
        for command, expected in commands(block):
            if "pytest" in command:
                continue  # the test command itself: CI runs it
            where = f"README.md:{line_number}: {command}"
            if "sandbox serve" in command:
                _serve_briefly(command, tmp_path, env, where)
            else:
                result = subprocess.run(["bash", "-eo", "pipefail", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
                assert result.returncode == expected, f"{where}\nexit {result.returncode}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
                assert "Traceback" not in result.stderr or "--verbose" in command, where
                last_output = result.stdout
            ran += 1
        if checked is not None and update and last_output != checked:
            assert rewritten.count(checked) == 1, f"README.md:{line_number}: the checked block is not unique; update it by hand"
            rewritten = rewritten.replace(checked, last_output)
        elif checked is not None:
            assert last_output == checked, f"README.md:{line_number}: the shown output differs from what the command prints (--update-readme rewrites it)"
    assert ran >= 20
    if update and rewritten != README:
        (ROOT / "README.md").write_text(rewritten)


def _serve_briefly(command: str, cwd: Path, env: dict[str, str], where: str) -> None:
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert any("listening on http://127.0.0.1:" in line for line in lines), where
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None


def _property_names(node: object) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}))
        for value in node.values():
            names |= _property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _property_names(value)
    return names


def test_manifest_reference_covers_every_schema_key() -> None:
    reference = README.split("## Manifest reference", 1)[1].split("\n## ", 1)[0]
    missing = sorted(name for name in _property_names(schema()) if f"`{name}`" not in reference)
    assert not missing, f"schema keys missing from the README's manifest reference: {missing}"
