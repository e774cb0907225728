"""An LRU cache with a time-to-live, for idempotent reads such as `tools/list`.

Entries expire `ttl` seconds after they were stored (reading one does not extend it); when
full, the least recently used entry makes room. `cache_key` names a request canonically.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, Generic, Literal, TypeVar

import orjson

from readiness.clock import Clock, SystemClock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing(Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING  # what `get` returns for no (live) entry; None may be a value


def cache_key(method: str, params: Mapping[str, object] | None = None) -> str:
    """The same string for the same request, whatever the order of its params' keys."""
    body = orjson.dumps(dict(params) if params else {}, option=orjson.OPT_SORT_KEYS)
    return f"{method} {body.decode()}"


@dataclass(frozen=True, slots=True)
class CacheStatistics:
    hits: int
    misses: int  # including lookups that found only an expired entry
    evictions: int  # live entries dropped to make room
    expirations: int  # entries dropped because their ttl had passed
    entries: int
    max_entries: int
    hit_rate: float  # hits over lookups; 0.0 before the first lookup


class Cache(Generic[K, V]):
    """At most `max_entries` values, each returned for `ttl` seconds after it was stored."""

    def __init__(self, max_entries: int, ttl: float, clock: Clock | None = None) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        if not ttl > 0:
            raise ValueError(f"ttl must be > 0, got {ttl}")
        self._max_entries = max_entries
        self._ttl = ttl
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # LRU first
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._expirations = 0

    def get(self, key: K) -> V | Literal[Missing.MISSING]:
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return MISSING
        expires, value = entry
        if self._clock.monotonic() >= expires:
            del self._entries[key]
            self._expirations += 1
            self._misses += 1
            return MISSING
        self._entries.move_to_end(key)
        self._hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        now = self._clock.monotonic()
        if key in entries:
            entries.move_to_end(key)
        elif len(entries) >= self._max_entries:
            # The LRU entry goes; one already past its ttl counts as expired, not evicted.
            expires, _ = entries.popitem(last=False)[1]
            if now >= expires:
                self._expirations += 1
            else:
                self._evictions += 1
        entries[key] = (now + self._ttl, value)

    def invalidate(self, key: K) -> None:
        """Forget `key` (a write made the cached read stale)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def statistics(self) -> CacheStatistics:
        lookups = self._hits + self._misses
        return CacheStatistics(
            hits=self._hits,
            misses=self._misses,
            evictions=self._evictions,
            expirations=self._expirations,
            entries=len(self._entries),
            max_entries=self._max_entries,
            hit_rate=self._hits / lookups if lookups else 0.0,
        )

    def __repr__(self) -> str:
        lookups = self._hits + self._misses
        rate = f"{self._hits / lookups:.0%}" if lookups else "-"
        return (
            f"<Cache entries={len(self._entries)}/{self._max_entries} ttl={self._ttl:g}s "
            f"hits={self._hits} misses={self._misses} hit_rate={rate}>"
        )
