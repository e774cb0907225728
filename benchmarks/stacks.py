"""Summarise a py-spy raw profile of a benchmark client: own time per function, as a share of
the event loop's samples and in µs per request.

Run, for example:
    py-spy record --gil -r 1000 --format raw -o engine.txt -- \\
        python benchmarks/profile_client.py --no-profile --client readiness-engine \\
        --concurrency 64 --requests 300000
    python benchmarks/stacks.py engine.txt --cpu-us 20.7
`--cpu-us` is the client's CPU per request measured without the profiler (bench_client.py);
each function's µs/request is its share of the samples times that figure.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
LOOP_FRAME = "_run_once"  # only samples of the event loop (not start-up, not other threads)


def own_time(path: Path, *, by_line: bool) -> tuple[Counter[str], int]:
    own: Counter[str] = Counter()
    total = 0
    with path.open() as stacks:
        for line in stacks:
            stack, _, count = line.rstrip().rpartition(" ")
            if LOOP_FRAME not in stack or not count.isdigit():
                continue
            leaf = stack.rsplit(";", 1)[-1]
            own[leaf if by_line else _LINE.sub(")", leaf)] += int(count)
            total += int(count)
    return own, total


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy output in --format raw")
    parser.add_argument("--cpu-us", type=float, help="measured client CPU µs per request")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--by-line", action="store_true", help="split functions by line")
    parser.add_argument("--match", help="only frames whose text contains this")
    args = parser.parse_args(argv)
    own, total = own_time(args.profile, by_line=args.by_line)
    print(f"{args.profile}: {total} event-loop samples")
    shown = [(f, n) for f, n in own.most_common() if args.match is None or args.match in f]
    for frame, count in shown[: args.top]:
        share = count / total
        per_request = f"{share * args.cpu_us:6.2f} µs" if args.cpu_us else ""
        print(f"{100 * share:5.1f}%  {per_request}  {frame}")


if __name__ == "__main__":
    main()
