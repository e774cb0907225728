"""What the benchmarks know about the machine they run on: its description, CPU pinning, and
how busy everything else on it is (other processes spoil a CPU-per-request figure)."""

from __future__ import annotations

import os
import platform
import time
from importlib.metadata import version

import anyio
import psutil


def describe() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    packages = ", ".join(f"{p} {version(p)}" for p in ("aiohttp", "anyio", "orjson", "psutil"))
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {packages}"
    )


def pin_cpus() -> int | None:
    """Pin this process to one CPU and return another for the server (None if only one)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    os.sched_setaffinity(0, {cpus[0]})
    return cpus[1]


def busy_s() -> float:
    """CPU seconds all processes have used since boot (everything but idle, I/O wait, steal)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - _field(times, "iowait") - _field(times, "steal"))


def steal_s() -> float:
    """CPU seconds the hypervisor gave this machine's virtual CPUs to someone else."""
    return _field(psutil.cpu_times(), "steal")


def _field(times: object, name: str) -> float:
    return float(getattr(times, name, 0.0))


def process_cpu_s(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def io_syscalls() -> tuple[int, int]:
    """(read, write) system calls this process has made: how well its I/O was batched."""
    try:
        with open("/proc/self/io") as io:
            fields = dict(line.split(":", 1) for line in io)
    except OSError:
        return 0, 0
    return int(fields.get("syscr", 0)), int(fields.get("syscw", 0))


async def wait_for_quiet(*, below_cores: float, within: float, window: float = 0.5) -> float:
    """Wait (at most `within` seconds) until other processes use under `below_cores`; returns
    the load of the last window, in cores."""
    load = 0.0
    with anyio.move_on_after(within):
        while True:
            busy0, wall0 = busy_s(), time.perf_counter()
            await anyio.sleep(window)
            load = (busy_s() - busy0) / (time.perf_counter() - wall0)
            if load < below_cores:
                break
    return load
