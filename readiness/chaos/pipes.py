"""Pipe plumbing for the stdio relay: taking over our own stdio, line reassembly, and one
incarnation of the server process (run by the process supervisor) as the relay sees it."""

from __future__ import annotations

import asyncio
import os
from typing import BinaryIO

import anyio

from readiness.process import ChildProcess


def claim_stdio() -> tuple[int, int]:
    """Take over fds 0 and 1 for the relay and point them at /dev/null, so that nothing else
    in the process can write into the protocol stream, and so closing ours (a disconnect
    fault) really closes the client's pipes."""
    client_in, client_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return client_in, client_out


def pipe_files(client_in: int, client_out: int) -> tuple[BinaryIO, BinaryIO]:
    """File objects owning the two fds, for asyncio's pipe transports."""
    return open(client_in, "rb", buffering=0), open(client_out, "wb", buffering=0)


class LineBuffer:
    """Reassembles newline-delimited frames from pipe chunks."""

    __slots__ = ("_partial",)

    def __init__(self) -> None:
        self._partial = bytearray()

    def feed(self, data: bytes) -> bytes:
        """The complete lines so far, newlines included (b"" while a line is unfinished)."""
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial += data
            return b""
        if self._partial:
            self._partial += data[: cut + 1]
            block = bytes(self._partial)
            self._partial.clear()
        else:
            block = data[: cut + 1]
        self._partial += data[cut + 1 :]
        return block


def split_lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    lines.pop()  # the empty piece after the last newline
    return [line + b"\n" for line in lines]


class ServerProcess:
    """One incarnation of the server process: the supervisor's process, and what the relay
    tracks of it."""

    process: ChildProcess  # set by whoever starts it, before it starts

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.lines = LineBuffer()
        self.returncode: int | None = None
        self.exited = anyio.Event()
        self.stdout_closed = False
        self.killed = False

    @property
    def transport(self) -> asyncio.SubprocessTransport | None:
        return self.process.transport

    @property
    def stdin(self) -> asyncio.WriteTransport | None:
        return self.process.stdin

    @property
    def stdout(self) -> asyncio.ReadTransport | None:
        return self.process.stdout

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def signal_group(self, signum: int) -> None:
        self.process.signal_group(signum)
