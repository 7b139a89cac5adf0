"""The manifest loader: every problem at once, with file, line and key path; safe YAML; fuzzed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.manifest.load import MAX_FILE_BYTES, ManifestError, load_manifest
from reconciler.manifest.schema import schema

from helpers import run_cli

EXAMPLES = Path(__file__).parent.parent / "examples"

GOOD = """\
version: 1
projects:
  - id: 23456789
    prune: true
    keep:
      - last: 5
"""


def write(tmp_path: Path, text: str, name: str = "manifest.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest([write(tmp_path, text)])
    return [str(p) for p in info.value.problems]


def test_examples_are_valid() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files
    for path in files:
        manifest = load_manifest([path])
        assert manifest.projects and manifest.digest.startswith("sha256:")


def test_example_starts_with_schema_comment() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files  # a loop over an empty glob passes whatever the files say
    for path in files:
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/manifest.schema.json")


def test_schema_is_strict_and_documented() -> None:
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, path
                for key, prop in node["properties"].items():
                    assert "description" in prop, f"{path}.{key}"
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(schema(), "$")
    published = Path(__file__).parent.parent / "schemas" / "manifest.schema.json"
    assert json.loads(published.read_text()) == schema()


def test_positive_integer_message_with_line(tmp_path: Path) -> None:
    text = GOOD + "      - within: 3d\n      - daily: 0\n"
    assert problems(tmp_path, text) == [f"{tmp_path / 'manifest.yaml'}:8 projects[0].keep[2].daily: must be a positive integer"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """\
version: 1
projects:
  - id: 1
    prune: yes please
    keep:
      - dayly: 3
      - within: 3days
      - best: {by: sharpe, count: 2}
    delete:
      - name_regex: "([unclosed"
      - stats: {sharpeRatio: "about 1", bogus: "> 1"}
    backtests:
      - id: 26C7BB06
  - id: 1
"""
    found = problems(tmp_path, text)
    joined = "\n".join(found)
    assert ":4 projects[0].prune: must be true or false" in joined
    assert ":6 projects[0].keep[0].dayly: unknown key; did you mean 'daily'?" in joined
    assert ":7 projects[0].keep[1].within: must be a duration" in joined
    assert ":8 projects[0].keep[2].best.by: must be one of" in joined
    assert ":10 projects[0].delete[0].name_regex: invalid regular expression" in joined
    assert ":11 projects[0].delete[1].stats.sharpeRatio: must be a comparison" in joined
    assert ":11 projects[0].delete[1].stats.bogus: unknown statistic 'bogus'" in joined
    assert ":13 projects[0].backtests[0].id: must be a backtest id: 32 lowercase hex characters" in joined
    assert ":14 projects[1].id: project 1 is listed twice" in joined
    assert len(found) >= 9


def test_id_and_name_exclusive(tmp_path: Path) -> None:
    found = problems(tmp_path, "version: 1\nprojects:\n  - id: 1\n    name: X\n  - prune: true\n")
    assert any(":3 projects[0]: give exactly one of 'id' or 'name'" in p for p in found)
    assert any(":5 projects[1]: give exactly one of 'id' or 'name'" in p for p in found)


def test_duplicates_across_files(tmp_path: Path) -> None:
    declared = "    backtests:\n      - id: 26c7bb06b8487cff1c7b3c44652b30f1\n"
    a = write(tmp_path, "version: 1\nprojects:\n  - name: Alpha\n" + declared, "a.yaml")
    b = write(tmp_path, "version: 1\nprojects:\n  - name: Alpha\n  - id: 5\n" + declared, "b.yml")
    with pytest.raises(ManifestError) as info:
        load_manifest([tmp_path])
    text = str(info.value)
    assert f"{b}:3 projects[0].name: project 'Alpha' is listed twice (first at {a}:3)" in text
    assert "backtest 26c7bb06b8487cff1c7b3c44652b30f1 is declared twice" in text


def test_directory_and_several_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD.replace("23456789", "2"), "b.yml")
    write(tmp_path, "not: a manifest", "notes.txt")
    assert [p.id for p in load_manifest([tmp_path]).projects] == [23456789, 2]
    assert len(load_manifest([tmp_path / "a.yaml", tmp_path / "b.yml"]).projects) == 2


def test_defaults_merge_and_project_wins(tmp_path: Path) -> None:
    text = "version: 1\ndefaults:\n  prune: true\n  protect_tags: [frozen]\n  keep: [{last: 3}]\nprojects:\n  - id: 1\n  - id: 2\n    prune: false\n    keep: [{daily: 2}]\n"  # noqa: E501
    one, two = load_manifest([write(tmp_path, text)]).projects
    assert one.prune is True and one.protect_tags == ("frozen",) and one.keep[0].kind == "last"
    assert two.prune is False and two.keep[0].kind == "daily" and two.protect_tags == ("frozen",)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "the file is empty"),
        ("version: 1\nprojects: [\n", "invalid YAML"),
        ("- 1\n- 2\n", "top level must be a mapping"),
        ("version: 1\nversion: 1\nprojects: []\n", "duplicate key"),
        ("version: 2\nprojects: []\n", "must be 1"),
        ("version: 1\n", "missing required key 'projects'"),
        ("version: 1\nprojects: []\n---\nversion: 1\n", "invalid YAML"),
        ("version: 1\nprojects:\n  - id: 1\n    keep:\n      - {last: 1, daily: 2}\n", "each keep entry is exactly one policy"),
        ("version: 1\nprojects:\n  - id: 1\n    delete:\n      - older_than: 2w\n        newer_than: 1d\n", "can never both hold"),
        ("version: 1\nprojects:\n  - id: !!python/object:os.system 1\n", "cannot read value"),
        ("version: 1\nprojects:\n  - {? [a]: 1}\n", "keys must be strings"),
        ("version: 1\nbase: &b {prune: true}\nprojects:\n  - <<: *b\n    id: 1\n", "merge keys"),
    ],
)
def test_bad_files_are_problems_not_crashes(tmp_path: Path, text: str, fragment: str) -> None:
    assert any(fragment in p for p in problems(tmp_path, text))


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["' + "x" * 64 + '"]']
    for i in range(1, 30):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    text = "version: 1\nprojects: []\n" + "\n".join(lines) + "\n"
    found = problems(tmp_path, text)
    assert any("aliases expand this document beyond 16 MiB" in p for p in found)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as handle:
        handle.write("version: 1\nprojects: []\n#")
        handle.write("x" * MAX_FILE_BYTES)
    with pytest.raises(ManifestError, match="16 MiB"):
        load_manifest([path])


def test_missing_path_and_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"version: 1\n\xff\xfe")
    with pytest.raises(ManifestError) as info:
        load_manifest([tmp_path / "nope.yaml", tmp_path / "bin.yaml"])
    text = str(info.value)
    assert "no such file or directory" in text and "not UTF-8" in text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_fuzz_text_never_crashes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "replace"))
    try:
        load_manifest([path])
    except ManifestError as exc:
        assert exc.problems and all(p.file for p in exc.problems)


yaml_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 40),
        st.text(max_size=8),
        st.sampled_from(["3d", "scratch-*", "< 0.5", "26c7bb06b8487cff1c7b3c44652b30f1", "completed"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "name",
                    "prune",
                    "keep",
                    "last",
                    "daily",
                    "within",
                    "best",
                    "by",
                    "count",
                    "match",
                    "tags",
                    "status",
                    "delete",
                    "protect",
                    "backtests",
                    "note",
                    "stats",
                    "sharpeRatio",
                    "older_than",
                    "allow_empty",
                    "protect_tags",
                    "x",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=25,
)


_projects = st.lists(
    st.fixed_dictionaries({"id": st.integers(1, 6)}, optional={key: yaml_values for key in ("prune", "keep", "delete", "protect", "backtests", "allow_empty")}),
    min_size=1,
    max_size=3,
)
_documents = st.one_of(
    st.dictionaries(st.sampled_from(["version", "projects", "defaults", "extra"]), yaml_values, max_size=4),
    st.fixed_dictionaries({"version": st.just(1), "projects": _projects}),  # mostly valid: the loader must accept some
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_documents)
def test_fuzz_structures_never_crash(tmp_path: Path, document: dict) -> None:
    """Any document loads or is refused with problems; what is accepted, the schema accepts, and the records say what it says."""
    from reconciler.manifest.schema import validator

    path = tmp_path / "fuzz.yaml"
    path.write_text(json.dumps(document))  # JSON is YAML
    try:
        manifest = load_manifest([path])
    except ManifestError as exc:
        assert exc.problems and all(p.message and p.file == str(path) for p in exc.problems)
        return
    assert not list(validator().iter_errors(document))
    assert [(p.id, p.name, p.prune) for p in manifest.projects] == [
        (p.get("id"), p.get("name"), p.get("prune", (document.get("defaults") or {}).get("prune", False))) for p in document["projects"]
    ]
    assert [len(p.keep) for p in manifest.projects] == [len(p.get("keep", (document.get("defaults") or {}).get("keep", []))) for p in document["projects"]]


def test_schema_defaults_are_the_loaders_defaults() -> None:
    """A default is defined once (manifest/build.py); the published schema states the same values."""
    from reconciler.manifest.build import DEFAULT_RULES
    from reconciler.manifest.schema import schema

    published = schema()
    for properties in (published["properties"]["defaults"]["properties"], published["$defs"]["project"]["properties"]):
        stated = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
        assert stated == {key: DEFAULT_RULES[key] for key in stated} and set(stated) == {"prune", "protect_tags", "allow_empty"}
    assert published["$defs"]["keep"]["properties"]["best"]["properties"]["order"]["default"] == "desc"
    root = Path(__file__).parent.parent
    assert (root / "schemas" / "manifest.schema.json").read_text() == (root / "reconciler" / "schemas" / "manifest.schema.json").read_text()


@pytest.mark.parametrize(
    "body, message",
    [
        ("    delete: [{older_than: 3 days}]", "projects[0].delete[0].older_than: not a duration: '3 days'"),
        ("    keep: [{match: {tags: keep}}]", "projects[0].keep[0].match.tags: must be a list, got 'keep'"),  # was "match: must be a list"
        ("    keep: [{match: [{tags: keep}]}]", "projects[0].keep[0].match[0].tags: must be a list, got 'keep'"),  # was "must be a mapping"
        ("    keep: [{best: {by: sharpeRatio}}]", "projects[0].keep[0].best: missing required key 'count'"),
    ],
)
def test_value_or_list_fields_name_the_real_problem(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "version: 1\nprojects:\n  - id: 1\n" + body + "\n")
    with pytest.raises(ManifestError) as info:
        load_manifest([path])
    assert f"{path}:4 {message}" in str(info.value)


def test_a_bare_m_is_refused_naming_both_readings(tmp_path: Path) -> None:
    """`within: 6m` meant six minutes: a restic user's six months deleted 56 of 60."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nprojects:\n  - id: 1\n    keep: [{within: 6m}]\n    delete: [{older_than: 90mo}, {newer_than: 2y, older_than: 90min}]\n")
    result = run_cli("validate", str(manifest))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"{manifest}:4 projects[0].keep[0].within: '6m' is ambiguous: restic reads it as 6 months, most tools as 6 minutes; write 6mo or 6min"
    ) in result.stderr
    assert result.stderr.count("\n  ") == 1  # 90mo, 2y and 90min are durations
