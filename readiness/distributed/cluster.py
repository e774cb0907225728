"""A run on a Dask cluster: one shard per worker `shard` slot, coordinated from this process.

Shards are placed by the `shard` resource, never by worker address (a pinned task waits for
ever once its worker restarts under a new address). Dask's own answer to a lost worker is to
run its task again elsewhere — a shard re-run on half the data would read as a success — so
a shard started twice, a shard whose worker left the cluster, and a shard whose task failed
(KilledWorker, with `allowed-failures = 0`) all fail the run with the worker's name, and the
other shards are told to stop through the lease, keeping what they measured.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import dask
from distributed import Client, Future, Queue, Variable, as_completed

from readiness.distributed.coordinator import Barrier
from readiness.distributed.merge import merge_available
from readiness.distributed.shard import (
    LEASE_EVERY_S,
    STOP,
    ShardOutcome,
    ShardSpec,
    code_digest,
    down_name,
    lease_name,
    run_shard,
    up_name,
    warm_up,
)
from readiness.errors import ClusterError, ConfigError, unwrapped_groups
from readiness.results import DaskInfo, RunResult

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig, Suite, TargetConfig

SHARD = {"shard": 1}  # the resource every shard task takes; `dask worker --resources shard=1`
CONNECT_S = 5.0  # for the scheduler to answer
WARM_UP_S = 120.0  # for every shard slot to run its warm-up task (imports on a cold worker)
START_AHEAD_S = 1.0  # from the last warm-up to the shared start: time to ship the shards
STOP_WAIT_S = 30.0  # for shards told to stop to return what they measured
WATCH_S = 0.5  # how often the workers holding shards are looked for


class QueueChannel:
    """The coordinator's way back to one shard (readiness.distributed.coordinator.Channel)."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    async def send(self, item: bytes, /) -> None:
        await self._queue.put(json.loads(item))

    async def aclose(self) -> None:
        return None


async def connect(address: str, timeout_s: float = CONNECT_S) -> Client:
    """An asynchronous client of the scheduler at `address`; ClusterError when none answers."""
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout_s}s"}):
            client: Client = await Client(address, asynchronous=True, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"no Dask scheduler answers at {address} ({exc})") from None
    return client


@dataclass
class DaskRun:
    """One run's shards on a cluster, their failures (shard → reason) and their results."""

    address: str
    suite: Suite
    pairs: Sequence[tuple[ScenarioConfig, TargetConfig]]
    argv: Sequence[str]
    on_start: Callable[[str], None] = lambda _label: None  # a load started in every shard
    count: int = 0
    failures: dict[int, str] = field(default_factory=dict)
    interrupted: bool = False
    placement: dict[int, str] = field(default_factory=dict)  # shard → worker address
    shards: list[RunResult | None] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _futures: list[Future[Any]] = field(default_factory=list)
    _queues: list[Queue] = field(default_factory=list)
    _stopping: anyio.Event = field(default_factory=anyio.Event)

    def __repr__(self) -> str:
        return (
            f"<DaskRun {self.address} shards={self.count} placed={self.placement}"
            f" failures={self.failures}>"
        )

    def fail(self, index: int, reason: str) -> None:
        """Record why shard `index` failed and tell the others to stop."""
        self.failures.setdefault(index, reason)
        self._stopping.set()

    def interrupt(self) -> None:
        """Tell every shard to stop and return what it measured."""
        self.interrupted = True
        self._stopping.set()

    def merged(self) -> RunResult | None:
        """The shards merged exactly, with where they ran; None when no shard returned."""
        merged = merge_available(self.shards, self.failures) if self.shards else None
        if merged is not None:
            merged["run"]["dask"] = DaskInfo(
                scheduler=self.address,
                shards=[self.placement.get(i) for i in range(self.count)],
            )
        return merged

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, warm every shard slot up, run the shards, wait for all to return."""
        client = await connect(self.address)
        try:
            with unwrapped_groups():
                await self._run(client, task_status)
        except OSError as exc:  # distributed's CommClosedError: the scheduler went away
            raise ClusterError(f"lost the Dask scheduler at {self.address} ({exc})") from None
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_WAIT_S):
                if self._futures:
                    await client.cancel([f for f in self._futures if not f.done()])
                self._forget(client)
                await client.close()

    def _forget(self, client: Client) -> None:
        """Drop the run's lease and queues from the scheduler (a shard still running sees
        its lease lapse and stops)."""
        if client.status != "running":
            return
        Variable(lease_name(self.run_id), client=client).delete()
        for queue in self._queues:
            queue.close()

    async def _run(self, client: Client, task_status: anyio.abc.TaskStatus[None]) -> None:
        self.count = await shard_slots(client, self.address)
        self.shards = [None] * self.count
        lease = Variable(lease_name(self.run_id), client=client)
        await lease.set(0)
        warm = client.map(
            warm_up,
            range(self.count),
            resources=SHARD,
            pure=False,
            key=[f"readiness-warm-up-{self.run_id}-{i}" for i in range(self.count)],
        )
        with anyio.move_on_after(WARM_UP_S) as waited:
            try:
                infos: list[dict[str, str]] = await client.gather(warm)
            except Exception as exc:  # raised on a worker: readiness missing there, say
                raise ClusterError(
                    f"{self.address}: a warm-up task failed on a worker ({type(exc).__name__}:"
                    f" {exc}); install readiness[distributed] there, one image everywhere"
                ) from None
        if waited.cancel_called:
            await client.cancel(warm)
            raise ClusterError(
                f"{self.address}: the {self.count} shard slots did not all run a warm-up task"
                f" within {WARM_UP_S:g} s"
            )
        ours = code_digest()
        other = sorted({(i["version"], i["worker"]) for i in infos if i["version"] != ours})
        if other:
            raise ConfigError(
                f"--dask: dask worker {other[0][1]} runs readiness {other[0][0]}, this machine"
                f" {ours} (version+source digest); run one image everywhere"
            )
        # Awaited: an asynchronous client creates a queue on the scheduler in a task of its own.
        up = await Queue(up_name(self.run_id), client=client)
        downs = [await Queue(down_name(self.run_id, i), client=client) for i in range(self.count)]
        self._queues = [up, *downs]
        barrier = Barrier(self.count, on_failure=self.fail, on_start=self.on_start)
        for i, down in enumerate(downs):
            barrier.join(i, QueueChannel(down))
        start_at = time.time() + START_AHEAD_S
        self._futures = [
            client.submit(
                run_shard,
                ShardSpec(
                    self.run_id,
                    i,
                    self.count,
                    self.suite,
                    tuple(self.pairs),
                    tuple(self.argv),
                    start_at,
                ),
                resources=SHARD,
                pure=False,
                key=f"readiness-shard-{self.run_id}-{i}",
            )
            for i in range(self.count)
        ]
        task_status.started()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._renew, lease)
            tg.start_soon(self._pump, up, barrier)
            tg.start_soon(barrier.watch_laggards)
            tg.start_soon(self._watch_workers, client)
            tg.start_soon(self._end_stragglers, client)
            await self._collect()
            tg.cancel_scope.cancel()

    async def _renew(self, lease: Variable) -> None:
        beat = 0
        while not self._stopping.is_set():
            beat += 1
            await lease.set(beat)
            with anyio.move_on_after(LEASE_EVERY_S):
                await self._stopping.wait()
        await lease.set(STOP)

    async def _pump(self, up: Queue, barrier: Barrier) -> None:
        """The shards' messages into the barrier; a second hello is Dask re-running a shard."""
        while True:
            message: dict[str, Any] = await up.get()
            index = int(message["shard"])
            if "hello" in message:
                worker = str(message["hello"])
                before = self.placement.get(index)
                if before is not None:
                    self.fail(
                        index,
                        f"shard {index}'s dask worker {before} was lost and Dask started the"
                        f" shard again on {worker}; a re-run would count part of the load",
                    )
                    continue
                self.placement[index] = worker
            else:
                await barrier.receive(index, message)

    async def _watch_workers(self, client: Client) -> None:
        """A worker that holds a running shard and left the cluster fails the run at once."""
        while True:
            await anyio.sleep(WATCH_S)
            alive = set(await _workers(client))
            for index, worker in sorted(self.placement.items()):
                if worker not in alive and not self._futures[index].done():
                    self.fail(
                        index,
                        f"dask worker {worker} (shard {index}) left the cluster while running"
                        " its shard",
                    )
                    await client.cancel([self._futures[index]])

    async def _end_stragglers(self, client: Client) -> None:
        """Shards told to stop have STOP_WAIT_S to return; then they are cancelled."""
        await self._stopping.wait()
        await anyio.sleep(STOP_WAIT_S)
        late = [i for i, f in enumerate(self._futures) if not f.done()]
        for i in late:
            self.failures.setdefault(i, f"shard {i} did not stop within {STOP_WAIT_S:g} s")
        await client.cancel([self._futures[i] for i in late])

    async def _collect(self) -> None:
        index = {f.key: i for i, f in enumerate(self._futures)}
        async for future in as_completed(self._futures):
            i = index[future.key]
            where = self.placement.get(i, "an unknown worker")
            if future.status == "finished":
                outcome: ShardOutcome = await future
                self.shards[i] = outcome.result
                if outcome.fatal is not None:
                    self.fail(i, f"shard {i} on dask worker {where}: {outcome.fatal}")
            elif future.status == "error":
                exc = await future.exception()
                self.fail(
                    i, f"shard {i} on dask worker {where} failed: {type(exc).__name__}: {exc}"
                )
            else:
                self.fail(i, f"shard {i} on dask worker {where} was cancelled")


async def shard_slots(client: Client, address: str) -> int:
    """How many shards the cluster runs at once: its workers' `shard` resources, summed."""
    workers = await _workers(client)
    slots = sum(int(w.get("resources", {}).get("shard", 0)) for w in workers.values())
    if slots < 1:
        raise ClusterError(
            f"{address}: no worker offers the shard resource ({len(workers)} workers);"
            " start them with `dask worker --resources shard=1`"
        )
    return slots


async def _workers(client: Client) -> dict[str, Any]:
    """The scheduler's workers now, by address (an asynchronous client caches no list)."""
    scheduler = client.scheduler
    if scheduler is None:
        raise ClusterError("the Dask client lost its scheduler")
    identity: dict[str, Any] = await scheduler.identity(n_workers=-1)
    workers: dict[str, Any] = identity.get("workers", {})
    return workers
