"""One shard of a run as a Dask task, on whichever worker offers the `shard` resource.

The task runs the suite's segment i/N in an event loop of its own (the worker's thread, not
the worker's loop) and returns its results. It meets the other shards through the scheduler:
its start-gate messages go up one queue to the coordinator (readiness.distributed.cluster)
and each start comes back on a queue of its own. It follows the coordinator's lease, a beat
renewed every 0.5 s, and stops — keeping what it measured — when the lease says stop or
lapses: `client.cancel` does not stop a task that is already running.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
from distributed import Queue, Variable, get_client, get_worker

from readiness import __version__
from readiness.engine.segment import Segment

if TYPE_CHECKING:
    from distributed import Client

    from readiness.config import ScenarioConfig, Suite, TargetConfig
    from readiness.results import RunResult
    from readiness.runner import RunState

LEASE_EVERY_S = 0.5  # how often the coordinator renews its lease
LEASE_LAPSE_S = 5.0  # no renewal seen for this long: the coordinator is gone, the shard stops
POLL_S = 0.5  # how long one wait on the scheduler blocks a thread before it looks again
STOP = "stop"  # the lease's value once the coordinator wants every shard to stop


def lease_name(run_id: str) -> str:
    return f"readiness-{run_id}-lease"


def up_name(run_id: str) -> str:
    return f"readiness-{run_id}-up"


def down_name(run_id: str, index: int) -> str:
    return f"readiness-{run_id}-down-{index}"


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs, pickled to its worker: the suite travels as loaded."""

    run_id: str
    index: int
    count: int
    suite: Suite
    pairs: tuple[tuple[ScenarioConfig, TargetConfig], ...]
    argv: tuple[str, ...]
    start_at: float  # wall clock: every shard begins at this time, after the warm-up


def code_digest() -> str:
    """A digest of the readiness package's source: one version string can hide two builds."""
    import hashlib

    import readiness

    root = Path(readiness.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def warm_up(slot: int) -> dict[str, str]:
    """Import what a shard runs before the shared start; say which worker and which build."""
    import readiness.runner
    import readiness.scenarios.base  # noqa: F401  (the import is the warm-up)

    return {"slot": str(slot), "worker": str(get_worker().address), "version": code_digest()}


@dataclass(frozen=True)
class ShardOutcome:
    """What a shard task returns: its results, and the error that ended it early, if one did
    (its target could not be reached from this worker, say)."""

    result: RunResult
    fatal: str | None = None


def run_shard(spec: ShardSpec) -> ShardOutcome:
    """The Dask task: say hello, run this shard of the suite, return what it measured."""
    from readiness.runner import new_state

    client = get_client()
    Queue(up_name(spec.run_id), client=client).put(
        {"shard": spec.index, "hello": str(get_worker().address)}
    )
    folder = Path(tempfile.mkdtemp(prefix=f"readiness-shard-{spec.index}-"))
    try:
        state = new_state(spec.suite, folder, spec.argv, pairs=spec.pairs)
        state.result["run"]["segment"] = str(Segment(spec.index, spec.count))
        anyio.run(_run, spec, state, client)
        fatal = state.fatal
        return ShardOutcome(
            state.result, None if fatal is None else f"{type(fatal).__name__}: {fatal}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _run(spec: ShardSpec, state: RunState, client: Client) -> None:
    from readiness.runner import finish, run_suite

    gate = QueueGate(client, spec.run_id, spec.index)
    async with anyio.create_task_group() as tg:
        tg.start_soon(follow_lease, Variable(lease_name(spec.run_id), client=client), state)
        await anyio.sleep(max(spec.start_at - time.time(), 0.0))
        if not state.interrupt.is_set():
            await run_suite(
                spec.suite,
                state,
                list(spec.pairs),
                segment=Segment(spec.index, spec.count),
                coordinator=gate,
            )
        else:
            finish(state)  # stopped before the start: an interrupted shard with nothing run
        tg.cancel_scope.cancel()


async def follow_lease(lease: Variable, state: RunState) -> None:
    """Set the run's interrupt when the lease says stop, or when it was not renewed for
    LEASE_LAPSE_S on this machine's monotonic clock (wall clocks of two hosts may differ)."""
    last: object = None
    renewed = time.monotonic()
    while not state.interrupt.is_set():
        try:
            value = await anyio.to_thread.run_sync(
                lambda: lease.get(timeout=POLL_S), abandon_on_cancel=True
            )
        except TimeoutError:
            value = last
        if value == STOP:
            state.interrupt.set()
            return
        now = time.monotonic()
        if value != last:
            last, renewed = value, now
        elif now - renewed > LEASE_LAPSE_S:
            state.interrupt.set()
            return
        await anyio.sleep(POLL_S)


class QueueGate:
    """The shard's side of the start gate (readiness.runner.Coordinated), over Dask queues."""

    def __init__(self, client: Client, run_id: str, index: int) -> None:
        self.index = index
        self._up = Queue(up_name(run_id), client=client)
        self._down = Queue(down_name(run_id, index), client=client)

    def __repr__(self) -> str:
        return f"<QueueGate shard={self.index} up={self._up.name}>"

    async def ready(self, key: str, phase: str) -> None:
        """Say this shard is ready for the load, wait for the shared start, sleep until it."""
        start_at = await self._meet({"ready": key, "phase": phase})
        await anyio.sleep(max(start_at - time.time(), 0.0))

    async def finished(self, key: str) -> None:
        """Say this shard is done with the scenario; wait until every shard is."""
        await self._meet({"finished": key})

    async def _meet(self, message: dict[str, str]) -> float:
        await anyio.to_thread.run_sync(self._up.put, {"shard": self.index, **message})
        while True:
            # A short wait per thread: a cancelled meeting leaves no thread blocked for long.
            reply = await anyio.to_thread.run_sync(self._poll, abandon_on_cancel=True)
            if reply is not None:
                return float(reply["start_at"])

    def _poll(self) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self._down.get(timeout=POLL_S))
        except TimeoutError:
            return None
