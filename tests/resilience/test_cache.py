"""Cache: values live for their ttl, the least recently used goes first, keys are canonical."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.clock import FakeClock
from readiness.resilience.cache import MISSING, Cache, cache_key


def test_a_value_is_returned_until_its_ttl_has_passed() -> None:
    clock = FakeClock()
    cache: Cache[str, str] = Cache(max_entries=10, ttl=10.0, clock=clock)
    cache.put("tools/list", "three tools")
    clock.advance(9.5)
    assert cache.get("tools/list") == "three tools"
    clock.advance(0.5)
    assert cache.get("tools/list") is MISSING
    stats = cache.statistics()
    assert (stats.hits, stats.misses, stats.expirations, stats.entries) == (1, 1, 1, 0)


def test_reading_a_value_does_not_extend_its_ttl() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache(max_entries=10, ttl=4.0, clock=clock)
    cache.put("k", 1)
    for _ in range(3):
        clock.advance(1.0)
        assert cache.get("k") == 1
    clock.advance(1.0)
    assert cache.get("k") is MISSING


def test_storing_a_key_again_replaces_its_value_and_restarts_its_ttl() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache(max_entries=10, ttl=4.0, clock=clock)
    cache.put("k", 1)
    clock.advance(3.0)
    cache.put("k", 2)
    clock.advance(3.0)
    assert cache.get("k") == 2
    assert len(cache) == 1


def test_the_least_recently_used_entry_is_evicted_when_full() -> None:
    cache: Cache[str, int] = Cache(max_entries=2, ttl=60.0, clock=FakeClock())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3)
    assert cache.get("b") is MISSING
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert cache.statistics().evictions == 1


def test_an_expired_entry_pushed_out_counts_as_expired_not_evicted() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache(max_entries=1, ttl=1.0, clock=clock)
    cache.put("a", 1)
    clock.advance(2.0)
    cache.put("b", 2)
    stats = cache.statistics()
    assert (stats.evictions, stats.expirations) == (0, 1)


def test_none_is_a_value_like_any_other() -> None:
    cache: Cache[str, None] = Cache(max_entries=2, ttl=1.0, clock=FakeClock())
    cache.put("empty", None)
    assert cache.get("empty") is None
    assert cache.get("absent") is MISSING


def test_statistics_report_the_hit_rate() -> None:
    cache: Cache[str, int] = Cache(max_entries=4, ttl=1.0, clock=FakeClock())
    assert cache.statistics().hit_rate == 0.0
    cache.put("a", 1)
    for key in ["a", "a", "a", "b"]:
        cache.get(key)
    assert cache.statistics().hit_rate == 0.75
    assert repr(cache) == "<Cache entries=1/4 ttl=1s hits=3 misses=1 hit_rate=75%>"


def test_invalidate_and_clear_forget_entries() -> None:
    cache: Cache[str, int] = Cache(max_entries=4, ttl=1.0, clock=FakeClock())
    cache.put("a", 1)
    cache.put("b", 2)
    cache.invalidate("a")
    cache.invalidate("never stored")
    assert cache.get("a") is MISSING
    cache.clear()
    assert len(cache) == 0


def test_cache_key_is_the_same_whatever_the_order_of_params() -> None:
    one = cache_key("resources/read", {"uri": "demo://corpus", "meta": {"b": 1, "a": [2, 3]}})
    two = cache_key("resources/read", {"meta": {"a": [2, 3], "b": 1}, "uri": "demo://corpus"})
    assert one == two
    assert one == 'resources/read {"meta":{"a":[2,3],"b":1},"uri":"demo://corpus"}'
    assert cache_key("tools/list") == cache_key("tools/list", {}) == "tools/list {}"
    assert cache_key("prompts/list") != cache_key("tools/list")
    assert cache_key("tools/list", {"cursor": "2"}) != cache_key("tools/list", {"cursor": 2})


@pytest.mark.parametrize(("max_entries", "ttl"), [(0, 1.0), (1, 0.0)])
def test_impossible_settings_are_refused(max_entries: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        Cache(max_entries=max_entries, ttl=ttl)


# -- invariants ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    max_entries=st.integers(1, 5),
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.integers(0, 7)),
            st.tuples(st.just("get"), st.integers(0, 7)),
            st.tuples(st.just("advance"), st.sampled_from([0.25, 1.0, 2.5, 3.0])),
        ),
        max_size=100,
    ),
)
def test_cache_never_exceeds_its_size_nor_returns_an_expired_or_old_value(
    max_entries: int, ops: list[tuple[str, float]]
) -> None:
    ttl = 3.0
    clock = FakeClock()
    cache: Cache[int, tuple[int, float]] = Cache(max_entries=max_entries, ttl=ttl, clock=clock)
    latest: dict[int, tuple[int, float]] = {}  # key -> (version, stored at)
    for step, (op, arg) in enumerate(ops):
        if op == "advance":
            clock.advance(arg)
        elif op == "put":
            latest[int(arg)] = (step, clock.monotonic())
            cache.put(int(arg), latest[int(arg)])
        else:
            value = cache.get(int(arg))
            if value is not MISSING:
                assert value == latest[int(arg)]  # the newest value, never an older one
                assert clock.monotonic() < value[1] + ttl
        assert len(cache) <= max_entries
