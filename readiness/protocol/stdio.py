"""The stdio transport: the server as a child process, newline-delimited JSON over its pipes.

Replies are parsed in the pipe callback (no reader task, no per-line wake-up); writes are
pipelined; the child is always ended by pid, whatever happened to the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from typing import Any

import anyio
import orjson

from readiness.errors import TargetStartFailed
from readiness.protocol.batcher import Batcher, BatcherClosed, BatcherStatistics
from readiness.protocol.connection import ConnectOptions, StdioParams
from readiness.protocol.jsonrpc import Framer, RequestTable, TableStatistics, oversized_reply_id
from readiness.protocol.outcome import Outcome, OversizedReply, Reply
from readiness.protocol.session import Negotiated
from readiness.protocol.stderrlog import StderrLog

# After stdin closes a well-behaved server exits on its own; then SIGTERM, then SIGKILL.
EXIT_GRACE = 2.0
TERM_GRACE = 2.0
KILL_WAIT = 5.0
# Exit and end-of-stdout arrive separately. After the exit, replies still in the pipe get
# EXIT_SETTLE to arrive (a grandchild holding stdout open must not keep requests waiting);
# after end-of-stdout, the exit status gets EOF_SETTLE to arrive, for the error message.
EXIT_SETTLE = 0.2
EOF_SETTLE = 1.0
BATCH_CLOSE_WAIT = 1.0  # for the batcher to write what is pending when the connection closes
_ID_PROBE = 128  # bytes kept from each end of an oversized reply to find its id

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_TRANSPORT = Outcome.TRANSPORT


class StdioConnection:
    """One running server process and the MCP channel over its stdin/stdout."""

    def __init__(self, params: StdioParams, options: ConnectOptions) -> None:
        self.params = params
        self._options = options
        self._timeout = options.request_timeout
        self._max_reply = options.max_reply_bytes
        self._table = RequestTable(
            on_timeout=self._cancel, transport_marker=params.transport_marker
        )
        self._framer = Framer(newline=True)
        self._stderr = StderrLog(None, tail_bytes=64 * 1024)  # on disk once start() opens it
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._chunks: list[bytes] = []  # an unfinished line
        self._chunked = 0
        self._skipping = False  # inside an oversized line, discarding up to its newline
        self._skip_head = b""
        self._skip_tail = b""
        self._stdout_eof = False
        self._returncode: int | None = None
        self._exited = anyio.Event()
        self._pipes_closed = anyio.Event()
        self._settle: asyncio.TimerHandle | None = None
        self._paused = False
        self._resumed: anyio.Event | None = None
        self._closing = False
        self.negotiated: Negotiated | None = None
        self.write_pauses = 0  # times the server's stdin was full and senders had to wait
        self._batcher: Batcher[bytes] | None = None
        self._batcher_done = anyio.Event()
        if (batch := options.batch) is not None:
            self._batcher = Batcher(
                self._write_batch, max_size=batch.max_size, max_delay=batch.max_delay
            )

    # -- Connection -------------------------------------------------------------------------

    @property
    def protocol_version(self) -> str:
        return self.negotiated.protocol_version if self.negotiated else ""

    @property
    def server_info(self) -> dict[str, Any]:
        return self.negotiated.server_info if self.negotiated else {}

    @property
    def pid(self) -> int | None:
        return self._transport.get_pid() if self._transport else None

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def stderr_tail(self, lines: int = 50) -> str:
        return self._stderr.tail_lines(lines)

    def statistics(self) -> TableStatistics:
        return self._table.statistics()

    def batch_statistics(self) -> BatcherStatistics | None:
        """What the request batcher did; None when this connection writes each request alone."""
        return self._batcher.statistics() if self._batcher is not None else None

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        table = self._table
        closed = table.closed
        if closed is not None:
            return closed
        request_id, future = table.open(self._timeout if timeout is None else timeout)
        batcher = self._batcher
        if batcher is not None and self.negotiated is not None:  # the handshake is not held
            try:
                await batcher.submit(self._framer.request(request_id, method, params))
            except BatcherClosed:
                pass  # the connection is closing: its table answers the future
            except BaseException:
                table.forget(request_id)
                raise
        elif self._returncode is None and not self._stdin.is_closing():  # type: ignore[union-attr]
            # (A closed pipe of a server still exiting takes no writes: its exit answers.)
            self._stdin.write(self._framer.request(request_id, method, params))  # type: ignore[union-attr]
            if self._paused:
                await self._wait_resumed()
        try:
            return await future
        except BaseException:
            # Cancelled by the caller: a later reply counts as late.
            table.forget(request_id)
            self._cancel(request_id)
            raise

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self._send(self._framer.notification(method, params))

    def use_handshake(self, version: str | None) -> None:
        self._framer.set_meta(None)

    def use_modern(self, version: str, meta: dict[str, Any]) -> None:
        self._framer.set_meta(meta)

    async def aclose(self) -> None:
        """Close stdin, give the server a moment, then terminate and kill it by pid and reap it.

        Runs shielded with its own deadlines, so a cancelled caller still leaves no child behind.
        """
        if self._closing:
            return
        self._closing = True
        with anyio.CancelScope(shield=True):
            if self._batcher is not None:
                self._batcher.close()
                with anyio.move_on_after(BATCH_CLOSE_WAIT):
                    await self._batcher_done.wait()
            self._table.close(Reply(_TRANSPORT, None, None, "connection closed"))
            self._resume()
            transport = self._transport
            if transport is None:
                self._stderr.close()
                return
            try:
                if self._stdin is not None:
                    self._stdin.close()
                with anyio.move_on_after(EXIT_GRACE):
                    await self._exited.wait()
                if not self._exited.is_set():
                    self._signal_group(signal.SIGTERM)
                    with anyio.move_on_after(TERM_GRACE):
                        await self._exited.wait()
                if not self._exited.is_set():
                    self._signal_group(signal.SIGKILL)
                    with anyio.move_on_after(KILL_WAIT):
                        await self._exited.wait()
                # Whatever the server left in its process group goes with it.
                self._signal_group(signal.SIGKILL)
                transport.close()
                with anyio.move_on_after(1.0):
                    await self._pipes_closed.wait()
            finally:
                if self._settle is not None:
                    self._settle.cancel()
                self._stderr.close()

    def __repr__(self) -> str:
        state = "running" if self._returncode is None else f"exited {self._returncode}"
        stats = self._table.statistics()
        return f"<StdioConnection pid={self.pid} {state} in_flight={stats.in_flight}>"

    # -- start-up ---------------------------------------------------------------------------

    async def start(self, target: str) -> None:
        """Start the process; raise TargetStartFailed if it cannot be started at all."""
        params = self.params
        if params.cwd is not None and not os.path.isdir(params.cwd):  # noqa: ASYNC240 - once
            raise TargetStartFailed(target, f"working directory does not exist: {params.cwd}")
        if params.stderr_path is not None:
            try:
                self._stderr = StderrLog(params.stderr_path)
            except OSError as exc:
                cause = f"cannot write the server's stderr log {params.stderr_path}: {exc.strerror}"
                raise TargetStartFailed(target, cause) from None
        env = {**os.environ, **params.env} if params.env else None
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _ServerProtocol(self),
                params.command,
                *params.args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=params.cwd,
                start_new_session=True,  # its own process group, so we can end all of it
            )
        except FileNotFoundError:
            raise TargetStartFailed(target, f"command not found: {params.command}") from None
        except PermissionError:
            raise TargetStartFailed(
                target, f"command is not executable: {params.command}"
            ) from None
        except OSError as exc:
            raise TargetStartFailed(
                target, f"could not start {params.command}: {exc.strerror or exc}"
            ) from None
        self._transport = transport
        self._stdin = transport.get_pipe_transport(0)  # type: ignore[assignment]

    async def wait_stderr_closed(self, within: float) -> None:
        """Let the last of a dying server's stderr arrive before quoting it."""
        with anyio.move_on_after(within):
            await self._pipes_closed.wait()

    def start_sweeper(self, task_group: anyio.abc.TaskGroup) -> None:
        task_group.start_soon(self._table.run_sweeper)

    async def start_batcher(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run the request batcher, when batching is configured, until the connection closes."""
        if self._batcher is not None:
            await task_group.start(self._run_batcher, self._batcher)

    async def _run_batcher(
        self, batcher: Batcher[bytes], *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        try:
            await batcher.run(task_status=task_status)
        finally:
            self._batcher_done.set()

    async def _write_batch(self, frames: list[bytes]) -> None:
        # Never raises: an error here would end the connection's task group.
        stdin = self._stdin
        if stdin is None or self._returncode is not None or stdin.is_closing():
            return  # the table fails these requests as the process goes
        stdin.write(b"".join(frames))
        if self._paused and not self._closing:
            await self._wait_resumed()

    # -- pipe callbacks ---------------------------------------------------------------------

    def _cancel(self, request_id: int) -> None:
        """Tell the server we gave up on a request (timed out or abandoned by the caller)."""
        self._send(
            self._framer.notification(
                "notifications/cancelled", {"requestId": request_id, "reason": "client gave up"}
            )
        )

    def _send(self, frame: bytes) -> None:
        if self._stdin is not None and self._returncode is None and not self._stdin.is_closing():
            self._stdin.write(frame)

    def _on_stdout(self, data: bytes) -> None:
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                self._skip_tail = (self._skip_tail + data)[-_ID_PROBE:]
                return
            self._end_oversized((self._skip_tail + data[:newline])[-_ID_PROBE:])
            data = data[newline + 1 :]
        if self._chunks:
            if b"\n" not in data:
                self._hold(data)
                return
            self._chunks.append(data)
            data = b"".join(self._chunks)
            self._chunks = []
            self._chunked = 0
        lines = data.split(b"\n")
        rest = lines.pop()
        table = self._table
        limit = self._max_reply
        for line in lines:
            if len(line) > limit:
                self._oversized(line[:_ID_PROBE], line[-_ID_PROBE:])
                continue
            try:
                message = _loads(line)
            except _JSONDecodeError:
                if line.strip():
                    table.malformed += 1
                continue
            answer = table.deliver(message)
            if answer is not None:
                self._send(answer)
        if rest:
            self._hold(rest)

    def _hold(self, data: bytes) -> None:
        """Keep part of a line, or start skipping it once it is over the reply cap."""
        self._chunks.append(data)
        self._chunked += len(data)
        if self._chunked > self._max_reply:
            head = b"".join(self._chunks)[:_ID_PROBE]
            self._chunks = []
            self._chunked = 0
            self._skipping = True
            self._skip_head = head
            self._skip_tail = data[-_ID_PROBE:]

    def _end_oversized(self, tail: bytes) -> None:
        self._skipping = False
        self._oversized(self._skip_head, tail)
        self._skip_head = self._skip_tail = b""

    def _oversized(self, head: bytes, tail: bytes) -> None:
        table = self._table
        table.oversized += 1
        request_id = oversized_reply_id(head, tail)
        if request_id is not None:
            table.resolve(request_id, OversizedReply(self._max_reply))

    def _on_stdout_eof(self) -> None:
        self._stdout_eof = True
        if self._returncode is not None:
            self._fail_pending()
        elif self._settle is None:
            self._settle = asyncio.get_running_loop().call_later(EOF_SETTLE, self._fail_pending)

    def _on_exit(self, returncode: int) -> None:
        self._returncode = returncode
        self._exited.set()
        if self._stdout_eof:
            self._fail_pending()
        else:
            if self._settle is not None:
                self._settle.cancel()
            self._settle = asyncio.get_running_loop().call_later(EXIT_SETTLE, self._fail_pending)

    def _fail_pending(self) -> None:
        if self._returncode is not None:
            detail = f"server process exited with code {self._returncode}"
        else:
            detail = "server closed its stdout"
        self._table.close(Reply(_TRANSPORT, None, None, detail))
        self._resume()  # nobody waits for a dead server to drain its stdin

    def _pause(self) -> None:
        self._paused = True
        self.write_pauses += 1

    def _resume(self) -> None:
        self._paused = False
        if self._resumed is not None:
            self._resumed.set()
            self._resumed = None

    async def _wait_resumed(self) -> None:
        # The server stopped reading; wait until its stdin drains (or it dies) before more.
        while self._paused and self._table.closed is None:
            if self._resumed is None:
                self._resumed = anyio.Event()
            await self._resumed.wait()

    def _signal_group(self, signum: int) -> None:
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)


class _ServerProtocol(asyncio.SubprocessProtocol):
    def __init__(self, connection: StdioConnection) -> None:
        self._connection = connection
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport
        # Set here, not after subprocess_exec returns: the process may exit before that.
        self._connection._transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        if fd == 1:
            self._connection._on_stdout(data)
        else:
            self._connection._stderr.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._connection._on_stdout_eof()

    def process_exited(self) -> None:
        transport = self._transport
        returncode = transport.get_returncode() if transport is not None else None
        self._connection._on_exit(-1 if returncode is None else returncode)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection._pipes_closed.set()

    def pause_writing(self) -> None:
        self._connection._pause()

    def resume_writing(self) -> None:
        self._connection._resume()
