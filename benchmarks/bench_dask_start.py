"""Start skew of shards on Dask: how far apart `run --dask` shards begin a load.

Two shard tasks on a LocalCluster bound to 127.0.0.1 (2 worker processes, one `shard` slot
each) meet `--meetings` times at the start gate `run --dask` uses (QueueGate on each shard,
Barrier on the coordinator, through the scheduler's queues); after each meeting every shard
notes its wall clock as it begins. Skew = latest − earliest shard, per meeting; one host, so
one clock. Needs readiness[distributed].

Run: `python benchmarks/bench_dask_start.py [--meetings 20]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distributed import Client, LocalCluster, Queue, get_client
from machine import describe

from readiness.distributed.cluster import SHARD, QueueChannel
from readiness.distributed.coordinator import Barrier
from readiness.distributed.shard import QueueGate, down_name, up_name

SHARDS = 2


def shard(run_id: str, index: int, meetings: int) -> list[float]:
    client = get_client()

    async def meet() -> list[float]:
        gate = QueueGate(client, run_id, index)
        began = []
        for m in range(meetings):
            await gate.ready(f"m{m}", "load")
            began.append(time.time())
        return began

    return anyio.run(meet)


async def coordinate(address: str, meetings: int) -> list[float]:
    run_id = uuid.uuid4().hex[:12]
    async with await Client(address, asynchronous=True) as client:
        barrier = Barrier(SHARDS)
        for i in range(SHARDS):
            barrier.join(i, QueueChannel(Queue(down_name(run_id, i), client=client)))
        up = Queue(up_name(run_id), client=client)
        futures = [
            client.submit(shard, run_id, i, meetings, resources=SHARD, pure=False)
            for i in range(SHARDS)
        ]
        async with anyio.create_task_group() as tg:

            async def pump() -> None:
                while True:
                    message: dict[str, Any] = await up.get()
                    await barrier.receive(int(message["shard"]), message)

            tg.start_soon(pump)
            began: list[list[float]] = await client.gather(futures)
            tg.cancel_scope.cancel()
    return [(max(b[m] for b in began) - min(b[m] for b in began)) * 1000 for m in range(meetings)]


def main(args: argparse.Namespace) -> None:
    print(describe())
    with LocalCluster(
        n_workers=SHARDS, threads_per_worker=2, processes=True, host="127.0.0.1",
        resources={"shard": 1}, dashboard_address="127.0.0.1:0",
    ) as cluster:  # fmt: skip
        skews = anyio.run(coordinate, cluster.scheduler_address, args.meetings)
    ordered = sorted(skews)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    print(f"{SHARDS} shards, {args.meetings} meetings: start skew median"
          f" {statistics.median(ordered):.2f} ms, p90 {p90:.2f} ms, max {ordered[-1]:.2f} ms;"
          f" over 5 ms in {sum(1 for s in ordered if s > 5)} meetings")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meetings", type=int, default=20)
    main(parser.parse_args())
