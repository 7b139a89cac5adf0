"""A backtest's whole life in the sandbox: projects, their files, compiles and created backtests that run.

What each endpoint does and where that is shown (LEAN, lean-cli, QuantConnect's MCP server)
is in docs/sandbox.md, "Fidelity"; wordings no source shows are marked there as ours.
A backtest created here is queued, runs with rising progress and completes after
`run_seconds`, with statistics that follow from its project's files as compiled and its
parameters: the same inputs give the same statistics.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from reconciler.models import MAX_TEXT_LENGTH
from reconciler.sandbox.errors import BadRequest
from reconciler.sandbox.seed import plausible_statistics
from reconciler.sandbox.store import BacktestRow, SandboxStore
from reconciler.timeutil import format_api_datetime, utcnow

LANGUAGES = ("Py", "C#")
LEAN_VERSION = 17000
QUEUED_SHARE = 0.2  # the first fifth of a run is spent "In Queue..."

_NOTEBOOK = json.dumps({"cells": [], "metadata": {"kernelspec": {"display_name": "Foundation-Py-Default", "language": "python",
                                                                  "name": "python3"}}, "nbformat": 4, "nbformat_minor": 2}, indent=1)

_MAIN_PY = '''# region imports
from AlgorithmImports import *
# endregion


class {name}(QCAlgorithm):

    def initialize(self):
        self.set_start_date(2024, 1, 1)
        self.set_cash(100000)
        self.add_equity("SPY", Resolution.MINUTE)

    def on_data(self, data: Slice):
        if not self.portfolio.invested:
            self.set_holdings("SPY", 1)
'''

_MAIN_CS = '''#region imports
    using System;
    using QuantConnect.Data;
#endregion
namespace QuantConnect.Algorithm.CSharp
{{
    public class {name} : QCAlgorithm
    {{
        public override void Initialize()
        {{
            SetStartDate(2024, 1, 1);
            SetCash(100000);
            AddEquity("SPY", Resolution.Minute);
        }}

        public override void OnData(Slice data)
        {{
            if (!Portfolio.Invested)
            {{
                SetHoldings("SPY", 1);
            }}
        }}
    }}
}}
'''


def template_files(language: str, project_name: str) -> dict[str, str]:
    """What a new project holds: main.py and research.ipynb for Python, Main.cs and Research.ipynb for C# (docs/sandbox.md, "Fidelity")."""
    class_name = "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", project_name.rsplit("/", 1)[-1]) if part) or "Algorithm"
    if not class_name[0].isalpha():
        class_name = "Algorithm" + class_name
    if language == "C#":
        return {"Main.cs": _MAIN_CS.format(name=class_name), "Research.ipynb": _NOTEBOOK}
    return {"main.py": _MAIN_PY.format(name=class_name), "research.ipynb": _NOTEBOOK}


def python_build_errors(files: dict[str, str]) -> list[str]:
    """Build errors of a Python project: each .py file through Python's own compiler (which never runs it)."""
    errors = []
    for name, content in sorted(files.items()):
        if not name.endswith(".py"):
            continue
        try:
            compile(content, name, "exec", dont_inherit=True)
        except SyntaxError as exc:
            errors.append(f"Build Error File: {name} Line: {exc.lineno or 0} Column: {exc.offset or 0} - {exc.msg}")
        except (ValueError, RecursionError, MemoryError) as exc:  # a NUL byte; nesting too deep for the compiler
            errors.append(f"Build Error File: {name} Line: 0 Column: 0 - {type(exc).__name__}: {str(exc)[:200]}")
    return errors


def apply_patch(files: dict[str, str], patch: str) -> dict[str, str]:
    """The files a unified diff changes, with the diff applied; BadRequest when a hunk's context does not match."""
    changed: dict[str, str] = {}
    lines = patch.splitlines()
    index = 0
    while index < len(lines):
        if not lines[index].startswith("--- ") or index + 1 >= len(lines) or not lines[index + 1].startswith("+++ "):
            index += 1
            continue
        target = _diff_path(lines[index + 1][4:])
        if target not in files and target not in changed:
            raise BadRequest(f"The patch changes {target[:200]}, which is not a file of this project.")
        original = (changed.get(target) if target in changed else files[target]) or ""
        source = original.splitlines()
        result: list[str] = []
        position = 0
        index += 2
        while index < len(lines) and lines[index].startswith("@@"):
            match = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", lines[index])
            if match is None:
                raise BadRequest(f"The patch has a malformed hunk header: {lines[index][:100]}")
            start = max(int(match.group(1)) - 1, 0) if match.group(2) != "0" else int(match.group(1))
            result += source[position:start]
            position = start
            index += 1
            while index < len(lines) and lines[index][:1] in ("", " ", "-", "+", "\\") and not lines[index].startswith("--- "):
                kind, text = lines[index][:1] or " ", lines[index][1:]  # an empty line is a blank context line (as GNU patch reads it)
                if kind in (" ", "-"):
                    if position >= len(source) or source[position] != text:
                        raise BadRequest(f"The patch does not apply to {target[:200]}: line {position + 1} differs from its context.")
                    position += 1
                    if kind == " ":
                        result.append(text)
                elif kind == "+":
                    result.append(text)
                index += 1
        result += source[position:]
        changed[target] = "\n".join(result) + ("\n" if original.endswith("\n") or not original else "")
    if not changed:
        raise BadRequest("The patch is not a unified diff (no ---/+++ file headers).")
    return changed


def _diff_path(header: str) -> str:
    path = header.split("\t", 1)[0].strip()
    return path[2:] if path.startswith(("a/", "b/")) else path


def run_status(share: float) -> tuple[str, float]:
    """Where a run is, `share` of its time gone: queued, running with rising progress, completed."""
    if share >= 1:
        return "Completed.", 1.0
    if share < QUEUED_SHARE:
        return "In Queue...", 0.0
    progress = min(max(round((share - QUEUED_SHARE) / (1 - QUEUED_SHARE), 2), 0.01), 0.99)
    return f"Running: {progress:.0%}", progress


@dataclass
class Lifecycle:
    """The endpoints of a backtest's life; `clock` is unix seconds (tests move it)."""

    store: SandboxStore
    run_seconds: float = 3.0
    compile_seconds: float = 0.2
    clock: Callable[[], float] = time.time

    def endpoints(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "projects/create": self.projects_create, "projects/update": self.projects_update, "projects/delete": self.projects_delete,
            "files/create": self.files_create, "files/read": self.files_read, "files/update": self.files_update,
            "files/patch": self.files_patch, "files/delete": self.files_delete,
            "compile/create": self.compile_create, "compile/read": self.compile_read,
        }

    def advance(self) -> None:
        self.store.advance_runs(self.clock(), run_status)

    # --- projects ---------------------------------------------------------

    def projects_create(self, params: dict[str, Any]) -> dict[str, Any]:
        name, language = params.get("name"), params.get("language")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_TEXT_LENGTH:
            raise BadRequest(f"name is required and at most {MAX_TEXT_LENGTH} characters.")
        if language not in LANGUAGES:
            raise BadRequest("language must be Py or C#.")
        now = format_api_datetime(utcnow())
        row = self.store.create_project(name, language, now, template_files(language, name))
        return {"projects": [row], "versions": []}  # the server renders the project body

    def projects_update(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id = self.project(params)
        name, description = params.get("name"), params.get("description")
        if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > MAX_TEXT_LENGTH):
            raise BadRequest(f"name must be 1 to {MAX_TEXT_LENGTH} characters.")
        if description is not None and not isinstance(description, str):
            raise BadRequest("description must be a string.")
        self.store.update_project(project_id, format_api_datetime(utcnow()), name, description)
        return {}

    def projects_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        self.store.delete_project(self.project(params))
        return {}

    # --- files --------------------------------------------------------------

    def files_create(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id, files = self._files(params)
        name = self._name(params, "name")
        content = params.get("content")
        if name in files:
            raise BadRequest(f"File {name} already exists in project {project_id}.")
        if content is not None and (not isinstance(content, str) or content == ""):
            raise BadRequest("content, when given, must be a non-empty string.")  # as the MCP server's tests expect (docs/sandbox.md, "Fidelity")
        self.store.put_files(project_id, {name: content or ""}, format_api_datetime(utcnow()))
        return {"files": self._file_bodies(project_id, {name})}

    def files_read(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id, files = self._files(params)
        name = params.get("name")
        if name not in (None, ""):
            if name not in files:
                raise BadRequest(f"File {str(name)[:200]} not found in project {project_id}.")
            return {"files": self._file_bodies(project_id, {name})}
        return {"files": self._file_bodies(project_id)}

    def files_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """With `newName`, a rename (RestResponse); with `content`, new contents (the file back)."""
        project_id, files = self._files(params)
        name = self._name(params, "name")
        if name not in files:
            raise BadRequest(f"File {name} not found in project {project_id}.")
        now = format_api_datetime(utcnow())
        if params.get("newName") not in (None, ""):
            new_name = self._name(params, "newName")
            if new_name in files:
                raise BadRequest(f"File {new_name} already exists in project {project_id}.")
            self.store.rename_file(project_id, name, new_name, now)
            return {}
        content = params.get("content")
        if not isinstance(content, str):
            raise BadRequest("content or newName is required.")
        self.store.put_files(project_id, {name: content}, now)
        return {"files": self._file_bodies(project_id, {name})}

    def files_patch(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id, files = self._files(params)
        patch = params.get("patch")
        if not isinstance(patch, str) or not patch.strip():
            raise BadRequest("patch is required: a unified diff.")
        self.store.put_files(project_id, apply_patch(files, patch), format_api_datetime(utcnow()))
        return {}

    def files_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id, files = self._files(params)
        name = self._name(params, "name")
        if name not in files:
            raise BadRequest(f"File {name} not found in project {project_id}.")
        self.store.delete_file(project_id, name)
        return {}

    # --- compile ------------------------------------------------------------

    def compile_create(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id, files = self._files(params)
        project = self.store.project(project_id)
        digest = hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()
        compile_id = f"{digest[:32]}-{secrets.token_hex(16)}"  # the documented form: <32 hex>-<32 hex>
        errors = python_build_errors(files) if project is not None and project.language == "Py" else []
        head = f"Build Request Successful for Project ID: {project_id}, with CompileID: {compile_id}, Lean Version: 2.5.0.0.{LEAN_VERSION}"
        logs = [head, *errors, "Build Error." if errors else "Build Success."]
        self.store.add_compile(compile_id, project_id, self.clock() + self.compile_seconds, "BuildError" if errors else "BuildSuccess", logs, digest)
        return {"compileId": compile_id, "state": "InQueue", "projectId": project_id, "signature": digest[:32], "signatureOrder": sorted(files),
                "parameters": []}

    def compile_read(self, params: dict[str, Any]) -> dict[str, Any]:
        project_id = self.project(params)
        compile_id = params.get("compileId")
        found = self.store.compile(project_id, compile_id) if isinstance(compile_id, str) else None
        if found is None:
            raise BadRequest(f"Compile {str(compile_id)[:80]} not found for project {project_id}.")
        ready_at, state, logs, _ = found
        if self.clock() < ready_at:
            return {"compileId": compile_id, "state": "InQueue", "logs": []}
        return {"compileId": compile_id, "state": state, "logs": logs}

    # --- backtests/create ---------------------------------------------------

    def create_backtest(self, project_id: int, compile_id: Any, name: str, parameters: dict[str, Any]) -> BacktestRow:
        """A queued backtest of a successful compile of this project (and only of one the sandbox issued for it)."""
        found = self.store.compile(project_id, compile_id) if isinstance(compile_id, str) else None
        if found is None:
            raise BadRequest(f"Compile id {str(compile_id)[:80]} was not issued for project {project_id}: compile it first with /compile/create.")
        ready_at, state, _, digest = found
        if self.clock() < ready_at:
            raise BadRequest(f"Compile {compile_id} is still in the queue: read it with /compile/read until it is BuildSuccess.")
        if state != "BuildSuccess":
            raise BadRequest(f"Compile {compile_id} ended in a build error: fix the files and compile again.")
        seed = hashlib.sha256(f"{digest}:{json.dumps(parameters, sort_keys=True)}".encode()).digest()
        statistics = plausible_statistics(random.Random(int.from_bytes(seed[:8], "big")))
        row = BacktestRow(secrets.token_hex(16), project_id, name, "", format_api_datetime(utcnow()), "In Queue...", 0.0, "", [], {}, dict(parameters))
        self.store.start_run(row, self.clock(), self.run_seconds, statistics)
        return row

    # --- helpers --------------------------------------------------------------

    def project(self, params: dict[str, Any]) -> int:
        """The project a call is about: every endpoint's one lookup, and its one "not found"."""
        value = params.get("projectId")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62 or self.store.project(value) is None:
            raise BadRequest(f"Project {str(value)[:40]} not found or not accessible.")
        return value

    def _files(self, params: dict[str, Any]) -> tuple[int, dict[str, str]]:
        """The project and its files; a seeded project gets its language's files the first time they are asked for."""
        project_id = self.project(params)
        files = {name: content for name, content, _ in self.store.files(project_id)}
        if not files:
            project = self.store.project(project_id)
            assert project is not None
            files = template_files(project.language, project.name)
            self.store.put_files(project_id, files, project.modified)
        return project_id, files

    @staticmethod
    def _name(params: dict[str, Any], key: str) -> str:
        name = params.get(key)
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_TEXT_LENGTH or name.startswith("/") or ".." in name.split("/"):
            raise BadRequest(f"{key} is required: a file path inside the project, at most {MAX_TEXT_LENGTH} characters.")
        return name

    def _file_bodies(self, project_id: int, names: set[str] | None = None) -> list[dict[str, Any]]:
        """Files as /files/read answers them (all, or those named), from one read of the store."""
        return [{"id": int.from_bytes(hashlib.sha256(f"{project_id}/{name}".encode()).digest()[:4], "big"), "projectId": project_id,
                 "name": name, "content": content, "modified": modified, "open": False, "isLibrary": False}
                for name, content, modified in self.store.files(project_id) if names is None or name in names]
