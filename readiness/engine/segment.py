"""One share of a load run by several processes: shard `index` of `count`.

Closed loads split their users and open loads their arrivals, so the shards together send
exactly the configured load: a closed shard runs `share(users)` (the remainder goes to the
first shards), an open shard sends every `count`-th arrival of the one global schedule,
starting at arrival `index`, so the merged schedule is the configured one, interleaved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

_FORM = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Segment:
    index: int = 0  # counted from 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"segment {self.index}/{self.count}: need 0 <= i < N")

    @classmethod
    def parse(cls, text: str) -> Segment:
        """`i/N`, i counted from 0; a ValueError names what is wrong."""
        match = _FORM.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not i/N (shard i of N, i from 0)")
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def share(self, total: int) -> int:
        """This shard's part of `total`; the parts of all shards sum to `total`."""
        base, extra = divmod(total, self.count)
        return base + (1 if self.index < extra else 0)

    def arrivals(self, offsets: Iterator[float]) -> Iterator[float]:
        """This shard's arrivals of the one schedule: numbers index, index + count, …"""
        return offsets if self.whole else islice(offsets, self.index, None, self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Segment()
