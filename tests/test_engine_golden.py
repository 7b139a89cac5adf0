"""Golden tests: hand-made timelines for the calendar buckets and the decision order."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.engine.retention import DELETE, KEEP, UPDATE, decide
from reconciler.manifest.model import DeclaredBacktest

from engine_helpers import UTC, bt, keep, spec

NOW = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)


def outcome(decisions) -> dict[int, tuple[str, tuple[str, ...]]]:
    return {int(d.backtest.id, 16): (d.action, tuple(map(str, d.reasons))) for d in decisions}


def kept(decisions) -> list[int]:
    return sorted(int(d.backtest.id, 16) for d in decisions if d.action == KEEP)


def test_daily_across_a_month_boundary() -> None:
    timeline = [bt(1, "2024-01-31 23:59:59"), bt(2, "2024-02-01 00:00:00"), bt(3, "2024-02-01 12:00:00"), bt(4, "2024-01-30 08:00:00")]
    result = outcome(decide(spec(keep_=(keep("daily", 2),)), timeline, NOW))
    assert result[3] == (KEEP, ("keep[0] (daily) 1/2",))
    assert result[1] == (KEEP, ("keep[0] (daily) 2/2",))
    assert result[2] == (DELETE, ("prune",))
    assert result[4] == (DELETE, ("prune",))


def test_monthly_and_yearly_across_a_year_boundary() -> None:
    timeline = [bt(1, "2023-12-31 23:59:59"), bt(2, "2024-01-01 00:00:00"), bt(3, "2023-12-01 00:00:00"), bt(4, "2023-11-15 00:00:00")]
    monthly = outcome(decide(spec(keep_=(keep("monthly", 2),)), timeline, NOW))
    assert monthly[2][1] == ("keep[0] (monthly) 1/2",) and monthly[1][1] == ("keep[0] (monthly) 2/2",)
    assert monthly[3][0] == DELETE and monthly[4][0] == DELETE
    yearly = outcome(decide(spec(keep_=(keep("yearly", 5),)), timeline, NOW))
    assert yearly[2][1] == ("keep[0] (yearly) 1/5",) and yearly[1][1] == ("keep[0] (yearly) 2/5",)
    # slots left at the oldest candidate: it is kept too (restic >= 0.17)
    assert yearly[4][1] == ("keep[0] (yearly) 3/5, the oldest",)
    assert yearly[3][0] == DELETE


def test_iso_week_53_and_monday_start() -> None:
    # 2020-12-31 (Thu) and 2021-01-03 (Sun) are both ISO week 2020-W53; 2021-01-04 (Mon) starts 2021-W01.
    timeline = [bt(1, "2020-12-31 10:00:00"), bt(2, "2021-01-03 23:00:00"), bt(3, "2021-01-04 00:00:00"), bt(4, "2020-12-20 00:00:00")]
    result = outcome(decide(spec(keep_=(keep("weekly", 2),)), timeline, NOW))
    assert result[3][1] == ("keep[0] (weekly) 1/2",)
    assert result[2][1] == ("keep[0] (weekly) 2/2",)
    assert result[1][0] == DELETE and result[4][0] == DELETE
    wider = outcome(decide(spec(keep_=(keep("weekly", 4),)), timeline, NOW))
    assert wider[1][0] == DELETE  # same week as a newer one
    assert wider[4][1] == ("keep[0] (weekly) 3/4",)  # 2020-W51 is the next week that has a backtest


def test_periods_without_backtests_do_not_count() -> None:
    timeline = [bt(1, "2024-06-01 10:00:00"), bt(2, "2024-06-05 10:00:00"), bt(3, "2024-06-09 10:00:00"), bt(4, "2024-06-09 09:00:00")]
    result = outcome(decide(spec(keep_=(keep("daily", 3),)), timeline, NOW))
    assert [result[n][0] for n in (1, 2, 3, 4)] == [KEEP, KEEP, KEEP, DELETE]


def test_hourly_buckets_in_utc() -> None:
    timeline = [bt(1, "2024-06-01 10:59:59"), bt(2, "2024-06-01 11:00:00"), bt(3, "2024-06-01 10:00:00"), bt(4, "2024-06-01 09:30:00")]
    result = outcome(decide(spec(keep_=(keep("hourly", 2),)), timeline, NOW))
    assert kept(decide(spec(keep_=(keep("hourly", 2),)), timeline, NOW)) == [1, 2]
    assert result[2][1] == ("keep[0] (hourly) 1/2",)


def test_equal_timestamps_tie_by_id() -> None:
    timeline = [bt(9, "2024-06-01 10:00:00"), bt(3, "2024-06-01 10:00:00"), bt(5, "2024-06-01 10:00:00")]
    assert kept(decide(spec(keep_=(keep("last", 1),)), timeline, NOW)) == [3]
    assert kept(decide(spec(keep_=(keep("last", 2),)), timeline, NOW)) == [3, 5]


def test_future_backtests_are_kept_and_take_no_slot() -> None:
    timeline = [bt(1, "2025-06-01 00:00:00"), bt(2, "2024-12-31 00:00:00"), bt(3, "2024-12-30 00:00:00")]
    result = outcome(decide(spec(keep_=(keep("last", 1),)), timeline, NOW))
    assert result[1] == (KEEP, ("future",))
    assert result[2] == (KEEP, ("keep[0] (last) 1/1",))
    assert result[3] == (DELETE, ("prune",))


def test_oldest_is_kept_when_slots_remain() -> None:
    timeline = [bt(1, "2024-06-01 10:00:00"), bt(2, "2024-06-01 09:00:00")]
    result = outcome(decide(spec(keep_=(keep("daily", 7),)), timeline, NOW))
    assert result[1][1] == ("keep[0] (daily) 1/7",)
    assert result[2][1] == ("keep[0] (daily) 2/7, the oldest",)


def test_within_is_measured_from_the_reference_time() -> None:
    timeline = [bt(1, "2024-12-29 00:00:00"), bt(2, "2024-12-28 23:59:59"), bt(3, "2024-01-01 00:00:00")]
    result = outcome(decide(spec(keep_=(keep("within", "3d"),)), timeline, NOW))
    assert result[1] == (KEEP, ("keep[0] (within 3d)",))  # exactly 3 days old: kept
    assert result[2][0] == DELETE and result[3][0] == DELETE


def test_best_by_statistic_ties_by_newest() -> None:
    timeline = [bt(1, "2024-01-01", stats={"sharpeRatio": 2.0}), bt(2, "2024-02-01", stats={"sharpeRatio": 2.0}),
                bt(3, "2024-03-01", stats={"sharpeRatio": 1.0}), bt(4, "2024-04-01")]
    result = outcome(decide(spec(keep_=(keep("best", "sharpeRatio", count=1),)), timeline, NOW))
    assert result[2][1] == ("keep[0] (best sharpeRatio) 1/1",)
    assert result[1][0] == DELETE and result[4][0] == DELETE
    asc = kept(decide(spec(keep_=(keep("best", "sharpeRatio", count=1, order="asc"),)), timeline, NOW))
    assert asc == [3]


def test_union_lists_every_policy_that_kept_it() -> None:
    timeline = [bt(1, "2024-12-31 12:00:00", tags=("keep",)), bt(2, "2024-12-30 12:00:00")]
    policies = (keep("last", 1), keep("daily", 5), keep("match", {"tags": ["keep"]}))
    result = outcome(decide(spec(keep_=policies), timeline, NOW))
    assert result[1][1] == ("keep[0] (last) 1/1", "keep[1] (daily) 1/5", "keep[2] (match tags keep)")
    assert result[2][1] == ("keep[1] (daily) 2/5",)


def test_decision_order() -> None:
    declared = (DeclaredBacktest(id=bt(2, "2024-01-01").id, name="Renamed", tags=("a",)),)
    timeline = [
        bt(1, "2024-01-01", status="running"),
        bt(2, "2024-01-01", status="failed"),
        bt(3, "2024-01-01", status="failed", tags=("protected",)),
        bt(4, "2024-01-01", status="failed", name="paper-1"),
        bt(5, "2024-01-01", status="failed"),
        bt(6, "2024-01-01"),
        bt(7, "2024-01-01", status="Build Error"),
    ]
    s = spec(keep_=(keep("last", 10),), delete=({"status": "failed"},), protect=({"name": "paper-*"},), declared=declared)
    result = outcome(decide(s, timeline, NOW))
    assert result[1] == (KEEP, ("in-progress",))
    assert result[2] == (UPDATE, ("declared",))
    assert result[3] == (KEEP, ("protect_tags (protected)",))
    assert result[4] == (KEEP, ("protect[0] (name paper-*)",))
    assert result[5] == (DELETE, ("delete[0] (status failed)",))
    assert result[6] == (KEEP, ("keep[0] (last) 1/10",))  # only what reaches step 6 takes a slot
    assert result[7] == (KEEP, ("unknown-status 'Build Error'",))


def test_declared_changes_and_unmanaged_without_prune() -> None:
    live = bt(1, "2024-01-01", tags=("b", "a"), name="Old")
    live = replace(live, note="old note")
    same = (DeclaredBacktest(id=live.id, name="Old", note="old note", tags=("a", "b")),)
    (decision,) = decide(spec(declared=same), [live], NOW)
    assert decision.action == KEEP and tuple(map(str, decision.reasons)) == ("declared",)
    changed = (DeclaredBacktest(id=live.id, note="new", tags=()),)
    (decision,) = decide(spec(declared=changed), [live], NOW)
    assert decision.action == UPDATE
    assert [(c.field, c.before, c.after) for c in decision.changes] == [("note", "old note", "new"), ("tags", ["b", "a"], [])]
    (decision,) = decide(spec(prune=False), [bt(2, "2020-01-01")], NOW)
    assert (decision.action, tuple(map(str, decision.reasons))) == (KEEP, ("unmanaged",))


def test_selectors() -> None:
    timeline = [
        bt(1, "2024-12-31 20:00:00", name="scratch-1"),
        bt(2, "2024-12-01", name="Alpha Fox", optimization="O-1"),
        bt(3, "2024-12-01", name="Alpha Fox", stats={"sharpeRatio": 0.2}),
        bt(4, "2024-12-01", name="Beta", stats={"sharpeRatio": 0.9}),
    ]

    def deleted(rule: dict) -> list[int]:
        return sorted(int(d.backtest.id, 16) for d in decide(spec(prune=False, delete=(rule,)), timeline, NOW) if d.action == DELETE)

    assert deleted({"name": "scratch-*"}) == [1]
    assert deleted({"name": ["Beta", "scratch-?"]}) == [1, 4]
    assert deleted({"name_regex": "^Alpha"}) == [2, 3]
    assert deleted({"newer_than": "12h"}) == [1]
    assert deleted({"older_than": "12h"}) == [2, 3, 4]
    assert deleted({"optimization": True}) == [2]
    assert deleted({"optimization": False, "name": "Alpha*"}) == [3]
    assert deleted({"stats": {"sharpeRatio": "< 0.5"}}) == [3]
    assert deleted({"stats": {"sharpeRatio": ">= 0.2"}}) == [3, 4]
    assert deleted({"status": ["failed", "completed"], "tags": ["none"]}) == []
