"""The fast reader of the state file's usual shape (statefile_fast) against the checking reader, the reference.

docs/design.md, "Recorded state": where the fast reader accepts a file, it builds exactly the records the reference
builds; anything else it declines, and the reference reads (and words) it. Usual files must take the fast path, or
it would be dead code that a benchmark alone would notice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from reconciler import statefile_fast
from reconciler.errors import StateFileError
from reconciler.models import STATISTICS
from reconciler.sandbox.seed import apply_seed
from reconciler.sandbox.store import SandboxStore
from reconciler.statefile import STATE_FORMAT_VERSION, dumps_state, parse_state, read_state

BID = "0123456789abcdef0123456789abcdef"

_odd = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                 st.just([]), st.just({}), st.lists(st.integers(), max_size=2), st.sampled_from([2**63, 2**63 - 1, -(2**63), 1e300, -0.0, 2**53 + 1]))
_ids = st.one_of(st.integers(0, 2**128 - 1).map(lambda n: f"{n:032x}"), st.sampled_from([BID, BID.upper(), BID + "\n", BID[:31], ""]))
_created = st.one_of(
    st.sampled_from(["2026-01-02 03:04:05", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.1234567", "2026-01-02T05:04:05+02:00",
                     "2026-01-02", "20260102T030405", "2026-13-01 00:00:00", " 2026-01-02 03:04:05", "1767322800", "", "not a time"]),
    st.integers(0, 2**40), st.floats(allow_nan=False),
)
_statistic_keys = st.one_of(st.sampled_from(STATISTICS), st.sampled_from(["unknown", "Sharpe Ratio"]))
_statistics = st.one_of(
    st.dictionaries(st.sampled_from(STATISTICS), st.floats(-1e6, 1e6), max_size=6),
    st.dictionaries(_statistic_keys, st.one_of(st.floats(allow_nan=False), st.integers(-(2**64), 2**64), st.none(), st.text(max_size=3)), max_size=4),
    _odd,
)
_parameters = st.one_of(
    st.dictionaries(st.text(max_size=4), st.one_of(st.text(max_size=4), st.integers(-(2**64), 2**64), st.floats(), st.booleans(), st.none()), max_size=3),
    _odd,
)
_entry_fields = {
    "name": st.one_of(st.text(max_size=8), _odd),
    "note": st.one_of(st.text(max_size=8), _odd),
    "status": st.one_of(st.sampled_from(["Completed.", "Runtime Error", "In Progress...", "completed", "failed", "Weird", ""]), _odd),
    "tags": st.one_of(st.lists(st.text(max_size=5), max_size=3), _odd),
    "optimizationId": st.one_of(st.sampled_from(["", "O-1"]), _odd),
    "statistics": _statistics,
    "parameterSet": _parameters,
    # keys the fast reader does not take: the reference reads these files
    "sharpeRatio": st.floats(-3, 3), "projectId": st.integers(-2, 3), "progress": _odd, "charts": st.just({}),
}
_entries = st.fixed_dictionaries({"backtestId": _ids, "created": _created}, optional=_entry_fields)
_projects = st.fixed_dictionaries(
    {"projectId": st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 2**63, True, "1"]))},
    optional={"name": st.one_of(st.text(max_size=6), _odd), "backtests": st.one_of(st.lists(_entries, max_size=4), st.none(), st.just({}))},
)
_documents = st.fixed_dictionaries(
    {"projects": st.lists(_projects, max_size=3)},
    optional={"format_version": st.sampled_from([1, 1.0, 2, "1", None]), "recordedAt": st.one_of(st.text(max_size=4), _odd),
              "apiUrl": st.one_of(st.text(max_size=4), _odd)},
)


def _reference(raw: bytes) -> Any:
    try:
        return parse_state(json.loads(raw), "state")
    except (StateFileError, ValueError) as exc:
        return exc


@settings(max_examples=700, deadline=None)
@given(_documents)
@example({"projects": [{"projectId": 1, "backtests": [{"backtestId": BID, "created": "2026-01-02 03:04:05", "sharpeRatio": 1.5}]}]})
@example({"projects": [{"projectId": 1, "backtests": [{"backtestId": BID, "created": "2026-01-02 03:04:05", "statistics": {"beta": 2**63}}]}]})
@example({"projects": [{"projectId": 1, "backtests": [{"backtestId": BID + "\n", "created": "2026-01-02 03:04:05"}]}]})
@example({"projects": [{"projectId": 1, "backtests": [{"backtestId": BID, "created": "2026-01-02T05:04:05+02:00", "status": None}]}]})
def test_where_the_fast_reader_accepts_a_file_it_builds_what_the_reference_builds(document: dict[str, Any]) -> None:
    raw = json.dumps(document, allow_nan=True).encode()
    reference = _reference(raw)
    fast = statefile_fast.decode(raw, STATE_FORMAT_VERSION)
    if fast is None:
        return  # declined: the reference reads it, whatever it says
    assert not isinstance(reference, Exception), f"the fast reader accepted a file the reference refuses: {reference}"
    projects, recorded_at, api_url = fast
    assert [(p, records) for p, _, records in projects] == [(p.project_id, p.backtests) for p in reference.projects]
    assert [name for _, name, _ in projects] == [p.get("name") for p in document["projects"]]


def test_a_snapshot_of_the_demo_takes_the_fast_path_and_reads_the_same(tmp_path: Path) -> None:
    """What `snapshot` writes is the usual shape: the fast reader must take all of it."""
    store = SandboxStore(":memory:")
    apply_seed(store, "demo")
    raw = dumps_state(store.export_state()).encode()
    fast = statefile_fast.decode(raw, STATE_FORMAT_VERSION)
    assert fast is not None
    reference = parse_state(json.loads(raw))
    assert [records for _, _, records in fast[0]] == [p.backtests for p in reference.projects]
    assert sum(len(records) for _, _, records in fast[0]) > 1000
    path = tmp_path / "state.json"
    path.write_bytes(raw)
    assert read_state(path).projects == reference.projects
