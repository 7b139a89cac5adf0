"""Hypothesis strategies for backtest sets and project specs (engine and apply property tests)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import strategies as st

from reconciler.manifest.build import build_keep, build_label, build_selector
from reconciler.manifest.model import DeclaredBacktest, KeepPolicy, ProjectSpec
from reconciler.models import Backtest

from engine_helpers import UTC

NOW = datetime(2025, 6, 1, tzinfo=UTC)
TAGS = ["protected", "paper", "keep", "wip", "frozen"]
STATUSES = ["completed", "completed", "completed", "failed", "running", "queued", "Build Error"]


@st.composite
def backtests(draw: st.DrawFn) -> list[Backtest]:
    ids = draw(st.lists(st.integers(0, 2**128 - 1), min_size=0, max_size=40, unique=True))
    result = []
    for n in ids:
        # minutes over ~2 years before NOW, some in the future, with frequent exact ties
        offset = draw(st.one_of(st.integers(-3000, 1_100_000), st.sampled_from([0, 60, 1440, 10080])))
        stats = draw(st.one_of(st.just({}), st.fixed_dictionaries({"sharpeRatio": st.floats(-3, 3, allow_nan=False)})))
        result.append(
            Backtest(
                id=f"{n:032x}",
                project_id=1,
                name=draw(st.sampled_from(["scratch-1", "release-2", "Smooth Fox", "Alpha"])),
                created=NOW - timedelta(minutes=offset),
                status=draw(st.sampled_from(STATUSES)),
                tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
                optimization_id=draw(st.sampled_from([None, "O-1"])),
                statistics=stats,
            )
        )
    return result


selector_data = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["scratch-*", "release-*", "*Fox", ["Alpha", "scratch-?"]]),
        "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2, unique=True),
        "status": st.sampled_from(["completed", "failed", ["failed", "completed"]]),
        "older_than": st.sampled_from(["90min", "3d", "2w", "1mo"]),
        "newer_than": st.sampled_from(["30d", "52w"]),
        "optimization": st.booleans(),
        "stats": st.sampled_from([{"sharpeRatio": "< 0"}, {"sharpeRatio": ">= 1"}]),
    },
).filter(bool)
selectors = selector_data.map(build_selector)

#: Label rules that may take away what keeps a backtest (a rename out of `release-*`, a removed protect tag), rename into
#: a delete rule (`scratch-*`), or never settle (`x {name}`): the planner must refuse each of those.
label_rules = st.builds(
    lambda match, name, add, remove: build_label(
        {"match": match, **({"name": name} if name else {}), **({"tags": {"add": add, "remove": remove}} if add or remove else {})}
    ),
    st.one_of(st.sampled_from([{"name": "*"}, {"tags": ["protected", "keep"]}, {"name": "release-*"}]), selector_data),
    st.sampled_from([None, "run {id}", "release-{id}", "scratch-{id}", "x {name}", "Alpha"]),
    st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
    st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
).filter(lambda rule: rule.name is not None or rule.add_tags or rule.remove_tags)

keep_policies = st.one_of(
    st.builds(lambda kind, n: build_keep({kind: n}), st.sampled_from(["last", "hourly", "daily", "weekly", "monthly", "yearly"]), st.integers(1, 6)),
    st.builds(lambda d: build_keep({"within": f"{d}d"}), st.integers(1, 400)),
    st.builds(lambda n, order: build_keep({"best": {"by": "sharpeRatio", "count": n, "order": order}}), st.integers(1, 4), st.sampled_from(["asc", "desc"])),
    st.builds(lambda s: KeepPolicy("match", match=(s,)), selectors),
)


@st.composite
def scenario(draw: st.DrawFn, labelled: bool = False) -> tuple[ProjectSpec, list[Backtest]]:
    live = draw(backtests())
    declared_ids = draw(st.lists(st.sampled_from([b.id for b in live]), unique=True, max_size=4)) if live else []
    declared = tuple(
        DeclaredBacktest(id=i, name=draw(st.sampled_from([None, "Declared"])), tags=draw(st.sampled_from([None, ("paper",)]))) for i in declared_ids
    )
    spec = ProjectSpec(
        id=1,
        name=None,
        prune=draw(st.booleans()),
        protect_tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
        backtests=declared,
        protect=tuple(draw(st.lists(selectors, max_size=2))),
        delete=tuple(draw(st.lists(selectors, max_size=2))),
        keep=tuple(draw(st.lists(keep_policies, max_size=4))),
        labels=tuple(draw(st.lists(label_rules, min_size=1, max_size=2))) if labelled else (),
    )
    return spec, live
