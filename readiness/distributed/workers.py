"""Worker processes on this machine: N runs of `readiness run --segment i/N`, each writing
its shard, started together before each measured load, merged exactly when all have ended.

A worker that dies (or falls behind at a start) ends the others — each keeps what it measured
— and every scenario it took part in is failed with the reason: never a success on part of
the data. The supervisor is readiness.process's, the one every child process goes through.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from readiness.distributed.coordinator import Barrier
from readiness.distributed.merge import merge_available
from readiness.errors import ReadinessError
from readiness.process import ChildProcess, ProcessSpec
from readiness.results import RunResult, load_results

# Exit codes of a worker that ran to its end: passed, checks failed, interrupted.
_FINISHED = (0, 1, 130)
STOP_WAIT_S = 30.0  # for a worker told to stop to write what it measured


@dataclass
class WorkerPool:
    """The worker processes of one run and why any of them failed (index → reason)."""

    count: int
    folder: Path
    run_args: Sequence[str]  # `readiness run` options every worker gets (config, scenarios)
    on_start: Callable[[str], None] = lambda _label: None  # a load started in every worker
    failures: dict[int, str] = field(default_factory=dict)
    interrupted: bool = False
    _procs: list[ChildProcess] = field(default_factory=list)
    _stopping: anyio.Event = field(default_factory=anyio.Event)

    def __repr__(self) -> str:
        return f"<WorkerPool {self.count} workers pids={self.pids} failures={self.failures}>"

    @property
    def pids(self) -> list[int | None]:
        return [p.pid for p in self._procs]

    def shard_folder(self, index: int) -> Path:
        return self.folder / "workers" / str(index)

    def fail(self, index: int, reason: str) -> None:
        """Record why worker `index` failed and stop the others (each keeps what it has)."""
        self.failures.setdefault(index, reason)
        self._stopping.set()

    def interrupt(self) -> None:
        """Ask every worker to stop and keep what it measured (SIGTERM, its own interrupt)."""
        self.interrupted = True
        self._stopping.set()

    async def kill(self) -> None:
        """End every worker now (a second interrupt); each keeps what it had written."""
        for proc in self._procs:
            await proc.kill()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the workers, coordinate their starts, wait for all of them to end."""
        barrier = Barrier(self.count, on_failure=self.fail, on_start=self.on_start)
        async with (
            await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0) as listener,
            anyio.create_task_group() as tg,
        ):
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            await tg.start(barrier.serve, listener)
            try:
                for i in range(self.count):
                    proc = ChildProcess(self._spec(i, f"127.0.0.1:{port}"))
                    await proc.start()
                    self._procs.append(proc)
                task_status.started()
                async with anyio.create_task_group() as watchers:
                    watchers.start_soon(self._stop_on_request)
                    async with anyio.create_task_group() as waits:
                        for i, proc in enumerate(self._procs):
                            waits.start_soon(self._wait, i, proc)
                    watchers.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    for proc in self._procs:
                        await proc.stop()
                    await barrier.close()
                tg.cancel_scope.cancel()

    def _spec(self, index: int, coordinator: str) -> ProcessSpec:
        args = (
            "-m", "readiness.cli", "run", *self.run_args, "--quiet",
            "--segment", f"{index}/{self.count}",
            "--out", str(self.shard_folder(index)),
            "--coordinator", coordinator,
        )  # fmt: skip
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return ProcessSpec(
            command=sys.executable,
            args=args,
            env={"PYTHONUNBUFFERED": "1"},
            log_path=str(logs / f"worker-{index}.log"),
            name=f"worker {index}",
        )

    async def _wait(self, index: int, proc: ChildProcess) -> None:
        await proc.exited.wait()
        code = proc.returncode
        # Told to stop: SIGTERM is how it was asked, and after an interrupt any signal is ours.
        told = code is not None and (
            (self._stopping.is_set() and code == -signal.SIGTERM) or (self.interrupted and code < 0)
        )
        if code not in _FINISHED and not told:
            how = (
                f"was killed by signal {-code}"
                if code is not None and code < 0
                else f"exited with code {code}"
            )
            tail = proc.stderr_tail(3).strip().replace("\n", " | ")
            # How it ended says more than what the coordinator saw of it: this reason wins.
            self.failures[index] = f"worker {index} (pid {proc.pid}) {how}" + (
                f": {tail}" if tail else ""
            )
            self.fail(index, self.failures[index])

    async def _stop_on_request(self) -> None:
        """Once a worker failed or the run is interrupted, ask every worker to stop (SIGTERM:
        a worker's interrupt, which keeps what it measured), then end the stragglers."""
        await self._stopping.wait()
        for proc in self._procs:
            if proc.returncode is None:
                proc.signal_group(signal.SIGTERM)
        await anyio.sleep(STOP_WAIT_S)
        for proc in self._procs:
            await proc.kill()

    def merged(self) -> RunResult | None:
        """The shards merged; None when no worker wrote a results.json."""
        shards: list[RunResult | None] = []
        for i in range(self.count):
            path = self.shard_folder(i) / "results.json"
            try:
                shards.append(load_results(path))
            except ReadinessError as exc:  # load_results names the file and the problem
                self.failures.setdefault(i, f"worker {i} left no readable results.json ({exc})")
                shards.append(None)
        return merge_available(shards, self.failures)


def auto_workers() -> int:
    """cores − 1 (at least 1): one core stays with the server and the rest of the machine."""
    return max(len(os.sched_getaffinity(0)) - 1, 1)
