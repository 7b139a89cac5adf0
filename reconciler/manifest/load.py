"""Load manifests safely and report every problem at once, each with file, line and key path.

YAML is composed (not constructed) first, so aliases cannot blow up memory:
the expanded size is computed over the node graph before any value is built.
Then the JSON Schema and the semantic checks run; records are built only when
nothing is wrong.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import jsonschema
import yaml

from reconciler.errors import ReconcilerError
from reconciler.fsutil import read_at_most
from reconciler.manifest import schema as manifest_schema
from reconciler.manifest.build import DEFAULT_RULES, RULE_KEYS, build_project
from reconciler.manifest.model import DeclaredBacktest, Manifest, ProjectSpec
from reconciler.manifest.regex import compile_linear
from reconciler.manifest.templates import TemplateError, parse_template
from reconciler.models import tag_key
from reconciler.timeutil import DURATION_UNITS_TEXT, parse_duration

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_EXPANDED_BYTES = 16 * 1024 * 1024
#: Levels of nesting a manifest may have (it needs fewer than ten); deeper documents are refused before anything recurses.
MAX_DEPTH = 64
# Bytes counted per node besides its text: every node takes at least one byte of source (a separator),
# so a document without aliases never counts more than its own size, and a bomb of empty strings still counts.
_NODE_OVERHEAD = 1
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Path_ = tuple[Any, ...]

_PATTERN_MESSAGES = {
    "^[1-9][0-9]{0,8}(min|mo|h|d|w|y|m)$": f"must be a duration: a whole number and one unit of {DURATION_UNITS_TEXT}",
    "^[0-9a-f]{32}$": "must be a backtest id: 32 lowercase hex characters",
}
_COMPARISON_MESSAGE = 'must be a comparison such as "< 0.5" or ">= 10"'
_TYPE_WORDS = {"string": "a string", "integer": "an integer", "boolean": "true or false", "array": "a list", "object": "a mapping", "number": "a number"}


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(ReconcilerError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(set(problems))
        count = len(self.problems)
        super().__init__("\n".join([f"invalid manifest ({count} problem{'s' if count != 1 else ''}):", *(f"  {p}" for p in self.problems)]))


def format_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def expand_paths(paths: Sequence[str | Path]) -> tuple[list[tuple[Path, str]], list[Problem]]:
    """Each manifest file with the name the digest uses: its name inside the directory given, or its
    file name, so `manifests/`, `./manifests` and an absolute path give the same digest."""
    files: list[tuple[Path, str]] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                problems.append(Problem(str(path), 0, "", "directory has no *.yaml or *.yml files"))
            files.extend((p, p.name) for p in found)
        elif path.is_file():
            files.append((path, path.name))
        else:
            problems.append(Problem(str(path), 0, "", "no such file or directory"))
    if not paths:
        problems.append(Problem("(arguments)", 0, "", "give at least one manifest file or directory"))
    return files, problems


def load_manifest(paths: Sequence[str | Path]) -> Manifest:
    """Every file, all problems at once; raises ManifestError, touches no network."""
    files, problems = expand_paths(paths)
    documents: list[tuple[str, dict[str, Any], dict[Path_, int]]] = []
    digest = hashlib.sha256()
    for path, digest_name in files:
        name = str(path)
        raw, file_problems = _read(path)
        problems.extend(file_problems)
        if raw is None:
            continue
        digest.update(digest_name.encode() + b"\0" + raw + b"\0")
        data, lines, file_problems = parse_yaml(raw, name)
        problems.extend(file_problems)
        if data is None:
            continue
        file_problems = validate_document(data, lines, name)
        problems.extend(file_problems)
        documents.append((name, data, lines))
    problems.extend(_cross_file_problems(documents))
    if problems:
        raise ManifestError(problems)
    projects = tuple(spec for name, data, lines in documents for spec in _build_projects(data, lines, name))
    warnings = tuple(f"{name}:{_line(lines, ('defaults',))}: `defaults` apply only to the projects of their own file, and this file lists "
                     "none: they do nothing. Repeat them in each file that lists projects" for name, data, lines in documents
                     if data.get("defaults") and not data.get("projects"))
    return Manifest(projects=projects, files=tuple(str(f) for f, _ in files), digest="sha256:" + digest.hexdigest(), warnings=warnings)


def _read(path: Path) -> tuple[bytes | None, list[Problem]]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [Problem(str(path), 0, "", f"file is {size:,} bytes; manifests are limited to 16 MiB ({MAX_FILE_BYTES:,} bytes)")]
        raw = read_at_most(path, MAX_FILE_BYTES)
    except OSError as exc:
        return None, [Problem(str(path), 0, "", f"cannot read: {exc.strerror or exc}")]
    if raw is None:
        return None, [Problem(str(path), 0, "", f"file is larger than 16 MiB ({MAX_FILE_BYTES:,} bytes), the limit for manifests")]
    return raw, []


# --- YAML -> data with line numbers -----------------------------------------------


def parse_yaml(raw: bytes, name: str) -> tuple[dict[str, Any] | None, dict[Path_, int], list[Problem]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, {}, [Problem(name, 0, "", f"not UTF-8 text (byte {exc.start})")]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, {}, [Problem(name, mark.line + 1 if mark else 0, "", f"invalid YAML: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, {}, [Problem(name, 0, "", f"invalid YAML: {str(exc).splitlines()[0]}")]
    finally:
        loader.dispose()
    if node is None:
        return None, {}, [Problem(name, 1, "", "the file is empty; a manifest needs at least 'version: 1' and 'projects'")]
    deep = _too_deep(node)
    if deep is not None:
        return None, {}, [Problem(name, deep.start_mark.line + 1, "", f"nested deeper than {MAX_DEPTH} levels; a manifest needs fewer than ten")]
    memo: dict[int, int] = {}
    if _expanded_size(node, memo) > MAX_EXPANDED_BYTES:
        return None, {}, [Problem(name, node.start_mark.line + 1, "", "YAML aliases expand this document beyond 16 MiB; refused")]
    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    data = _to_data(node, (), lines, problems, name, yaml.constructor.SafeConstructor())
    if problems:
        return None, lines, problems
    if not isinstance(data, dict):
        return None, lines, [Problem(name, node.start_mark.line + 1, "", "the top level must be a mapping with 'version' and 'projects'")]
    return data, lines, []


def _too_deep(root: yaml.Node) -> yaml.Node | None:
    """The first node nested deeper than MAX_DEPTH, found without recursion (every later step recurses over the tree)."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        if id(node) in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else [child for pair in node.value for child in pair]
        stack.extend((child, depth + 1) for child in children)
    return None


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_EXPANDED_BYTES + 1  # a cycle counts as infinite
    if isinstance(node, yaml.ScalarNode):
        size = len(node.value) + _NODE_OVERHEAD
    elif isinstance(node, yaml.SequenceNode):
        size = _NODE_OVERHEAD + sum(_expanded_size(child, memo) for child in node.value)
    else:
        size = _NODE_OVERHEAD + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = min(size, MAX_EXPANDED_BYTES + 1)
    return memo[key]


def _to_data(node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[Problem], name: str, constructor: Any) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(name, key_node.start_mark.line + 1, format_path(path), "YAML merge keys (<<) are not supported; write the keys out"))
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                got = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                problems.append(Problem(name, key_node.start_mark.line + 1, format_path(path), f"keys must be strings, got {got!r}"))
                continue
            key = key_node.value
            if key in result:
                problems.append(Problem(name, key_node.start_mark.line + 1, format_path((*path, key)), "duplicate key"))
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _to_data(value_node, (*path, key), lines, problems, name, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(child, (*path, index), lines, problems, name, constructor) for index, child in enumerate(node.value)]
    try:
        value = constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        problems.append(Problem(name, node.start_mark.line + 1, format_path(path), f"cannot read value {node.value[:40]!r}: {type(exc).__name__}"))
        return None
    if not isinstance(value, (str, int, float, bool, type(None))):
        return str(node.value)  # dates and binary stay text; the schema then says what is expected
    return value


# --- schema and semantic checks ------------------------------------------------------


def validate_document(data: dict[str, Any], lines: dict[Path_, int], name: str) -> list[Problem]:
    problems = [problem for error in manifest_schema.validator().iter_errors(data) for problem in _schema_problems(error, lines, name)]
    problems.extend(_semantic_problems(data, lines, name))
    return problems


def _line(lines: dict[Path_, int], path: Path_) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _schema_problems(error: jsonschema.ValidationError, lines: dict[Path_, int], name: str) -> list[Problem]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    validator, value = error.validator, error.validator_value

    def at(message: str, where: Path_ = path) -> list[Problem]:
        return [Problem(name, _line(lines, where), format_path(where), message)]

    if "x-message" in schema and validator in ("oneOf", "not", "anyOf"):
        return at(schema["x-message"])
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        result = []
        for key in sorted(set(error.instance) - set(known)):
            hint = difflib.get_close_matches(key, known, n=1)
            result += at(f"unknown key{'; did you mean ' + repr(hint[0]) + '?' if hint else '; expected one of: ' + ', '.join(known)}", (*path, key))
        return result
    if validator in ("oneOf", "anyOf") and error.context:
        # A field that takes a value or a list (a selector or a list of selectors, a glob or a list of globs): explain the
        # branch whose shape the value has, so `match: {tags: keep}` says that tags must be a list, not that match must be one.
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        fitting = [errors for errors in branches.values() if not any(e.validator == "type" and not e.relative_path for e in errors)]
        candidates = fitting[0] if len(fitting) == 1 else error.context
        return _schema_problems(jsonschema.exceptions.best_match(candidates), lines, name)
    if validator == "enum" and "propertyNames" in error.schema_path:
        return at(f"unknown statistic {error.instance!r}; known: {', '.join(value)}", (*path, error.instance))
    if validator == "required":
        missing = [key for key in value if key not in (error.instance or {})]
        return at(f"missing required key {missing[0]!r}" if missing else error.message)
    if validator in _MESSAGES:
        return at(_MESSAGES[validator](value, error.instance))
    if validator == "pattern":
        message = _PATTERN_MESSAGES.get(value, _COMPARISON_MESSAGE if "<=" in value else f"does not match {value}")
        return at(f"{message}, got {error.instance!r}")
    if validator in ("minProperties", "maxProperties") and path and path[-2:-1] == ("keep",):
        return at(
            "each keep entry is exactly one policy: last, hourly, daily, weekly, monthly, yearly, within, best or match "
            "(plus per: optimization or per: parameters, if wanted)"
        )
    if validator == "minProperties" and path and path[-2:-1] == ("label",):
        return at("a label rule needs name, note or tags besides match")
    if validator == "minProperties":
        return at("must not be empty")
    return at(error.message)


#: Validators whose message needs only the schema value and the instance: a table, not a chain of ifs.
_MESSAGES: dict[str, Callable[[Any, Any], str]] = {
    "type": lambda value, instance: f"must be {_type_words(value)}, got {_describe(instance)}",
    "minimum": lambda value, instance: "must be a positive integer" if value == 1 else f"must be at least {value}",
    "minLength": lambda value, instance: "must not be empty",
    "maxLength": lambda value, instance: f"must be at most {value} characters",
    "minItems": lambda value, instance: "must not be empty",
    "maxItems": lambda value, instance: f"must have at most {value} items",
    "uniqueItems": lambda value, instance: "must not repeat items",
    "enum": lambda value, instance: f"must be one of: {', '.join(map(str, value))}, got {_describe(instance)}",
    "const": lambda value, instance: f"must be {value!r}, got {_describe(instance)}",
}


def _type_words(value: Any) -> str:
    words = [_TYPE_WORDS.get(item, str(item)) for item in (value if isinstance(value, list) else [value])]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _semantic_problems(data: dict[str, Any], lines: dict[Path_, int], name: str) -> list[Problem]:
    """What the schema cannot say: regexes that do not compile, impossible windows."""
    problems = []
    for path, key, value in _durations(data):
        try:
            parse_duration(value)
        except ValueError as exc:
            where = (*path, key)
            problems.append(Problem(name, _line(lines, where), format_path(where), str(exc)))
    for path, rule in _label_rules(data):
        tags = rule.get("tags") if isinstance(rule.get("tags"), dict) else {}
        added, removed = ({tag_key(t) for t in tags.get(key) or () if isinstance(t, str)} for key in ("add", "remove"))
        if added & removed:
            where = (*path, "tags")
            problems.append(
                Problem(
                    name,
                    _line(lines, where),
                    format_path(where),
                    f"tags.add and tags.remove both name {', '.join(sorted(added & removed))}: keep it in one of them",
                )
            )
        for key in ("name", "note"):
            if isinstance(rule.get(key), str):
                try:
                    parse_template(rule[key])
                except TemplateError as exc:
                    where = (*path, key)
                    problems.append(Problem(name, _line(lines, where), format_path(where), f"invalid template: {exc}"))
    for path, selector in _selectors(data):
        regex = selector.get("name_regex")
        if isinstance(regex, str):
            try:
                compile_linear(regex)
            except ValueError as exc:
                where = (*path, "name_regex")
                problems.append(Problem(name, _line(lines, where), format_path(where), f"invalid regular expression: {exc}"))
        older, newer = selector.get("older_than"), selector.get("newer_than")
        try:
            if isinstance(older, str) and isinstance(newer, str) and parse_duration(older) >= parse_duration(newer):
                problems.append(Problem(name, _line(lines, path), format_path(path), f"older_than {older} and newer_than {newer} can never both hold"))
        except ValueError:
            pass  # reported by the schema
    return problems


def _durations(data: dict[str, Any]) -> Iterable[tuple[Path_, str, str]]:
    """Every duration string (the schema's pattern cannot refuse a trailing newline or an overflow)."""
    for path, selector in _selectors(data):
        for key in ("older_than", "newer_than"):
            if isinstance(selector.get(key), str):
                yield path, key, selector[key]
    for base, scope in _scopes(data):
        if isinstance(scope.get("grace"), str):
            yield base, "grace", scope["grace"]
        keep = scope.get("keep")
        if isinstance(keep, list):
            for i, policy in enumerate(keep):
                if isinstance(policy, dict) and isinstance(policy.get("within"), str):
                    yield (*base, "keep", i), "within", policy["within"]


def _label_rules(data: dict[str, Any]) -> Iterable[tuple[Path_, dict[str, Any]]]:
    for base, scope in _scopes(data):
        rules = scope.get("label")
        if isinstance(rules, list):
            yield from (((*base, "label", i), rule) for i, rule in enumerate(rules) if isinstance(rule, dict))


def _scopes(data: dict[str, Any]) -> Iterable[tuple[Path_, dict[str, Any]]]:
    scopes: list[tuple[Path_, Any]] = [(("defaults",), data.get("defaults"))]
    projects = data.get("projects")
    if isinstance(projects, list):
        scopes += [(("projects", i), p) for i, p in enumerate(projects)]
    return [(base, scope) for base, scope in scopes if isinstance(scope, dict)]


def _selectors(data: dict[str, Any]) -> Iterable[tuple[Path_, dict[str, Any]]]:
    for base, scope in _scopes(data):
        for key in ("protect", "delete"):
            items = scope.get(key)
            if isinstance(items, list):
                yield from (((*base, key, i), item) for i, item in enumerate(items) if isinstance(item, dict))
        for key in ("keep", "label"):
            items = scope.get(key)
            if isinstance(items, list):
                for i, policy in enumerate(items):
                    match = policy.get("match") if isinstance(policy, dict) else None
                    if isinstance(match, dict):
                        yield (*base, key, i, "match"), match
                    elif isinstance(match, list):
                        yield from (((*base, key, i, "match", j), m) for j, m in enumerate(match) if isinstance(m, dict))


def _cross_file_problems(documents: list[tuple[str, dict[str, Any], dict[Path_, int]]]) -> list[Problem]:
    """A project listed twice, or a backtest declared twice, across every file."""
    problems: list[Problem] = []
    projects_seen: dict[Any, str] = {}
    backtests_seen: dict[str, str] = {}
    for name, data, lines in documents:
        projects = data.get("projects")
        if not isinstance(projects, list):
            continue
        for i, project in enumerate(projects):
            if not isinstance(project, dict):
                continue
            for key in ("id", "name"):
                value = project.get(key)
                if isinstance(value, (int, str)) and not isinstance(value, bool):
                    where = ("projects", i, key)
                    here = f"{name}:{_line(lines, where)}"
                    if (key, value) in projects_seen:
                        problems.append(
                            Problem(
                                name, _line(lines, where), format_path(where), f"project {value!r} is listed twice (first at {projects_seen[(key, value)]})"
                            )
                        )
                    else:
                        projects_seen[(key, value)] = here
            declared = project.get("backtests")
            if not isinstance(declared, list):
                continue
            for j, item in enumerate(declared):
                backtest_id = item.get("id") if isinstance(item, dict) else None
                if not isinstance(backtest_id, str):
                    continue
                where = ("projects", i, "backtests", j, "id")
                if backtest_id in backtests_seen:
                    problems.append(
                        Problem(
                            name, _line(lines, where), format_path(where), f"backtest {backtest_id} is declared twice (first at {backtests_seen[backtest_id]})"
                        )
                    )
                else:
                    backtests_seen[backtest_id] = f"{name}:{_line(lines, where)}"
    return problems


# --- records ---------------------------------------------------------------------------


def _build_projects(data: dict[str, Any], lines: dict[Path_, int], name: str) -> list[ProjectSpec]:
    defaults = {**DEFAULT_RULES, **(data.get("defaults") or {})}
    specs = []
    for i, project in enumerate(data["projects"]):
        merged = {**defaults, **project}
        declared = tuple(
            DeclaredBacktest(
                id=d["id"],
                name=d.get("name"),
                note=d.get("note"),
                tags=tuple(d["tags"]) if "tags" in d else None,
                line=_line(lines, ("projects", i, "backtests", j)),
            )
            for j, d in enumerate(project.get("backtests") or [])
        )
        specs.append(
            build_project(
                {key: merged[key] for key in RULE_KEYS},
                id=project.get("id"),
                name=project.get("name"),
                backtests=declared,
                source=f"{name}:{_line(lines, ('projects', i))}",
            )
        )
    return specs
