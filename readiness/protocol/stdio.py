"""The stdio transport: the server as a child process, newline-delimited JSON over its pipes.

Replies are parsed in the pipe callback (no reader task, no per-line wake-up); writes are
pipelined; the child is started and always ended by the process supervisor
(readiness.process), whatever happened to the connection.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import orjson

from readiness.errors import TargetStartFailed
from readiness.process import ChildProcess, ProcessSpec
from readiness.protocol.batcher import Batcher, BatcherClosed, BatcherStatistics
from readiness.protocol.connection import ConnectOptions, StdioParams
from readiness.protocol.jsonrpc import (
    Framer,
    RequestTable,
    TableStatistics,
    answer_server_request,
    oversized_reply_id,
)
from readiness.protocol.outcome import FailureTally, Outcome, OversizedReply, Reply
from readiness.protocol.responder import INTERNAL_ERROR, Responder
from readiness.protocol.session import Negotiated

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
_dumps = orjson.dumps
OPT_APPEND_NEWLINE = orjson.OPT_APPEND_NEWLINE
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
        self._process: ChildProcess | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._chunks: list[bytes] = []  # an unfinished line
        self._chunked = 0
        self._skipping = False  # inside an oversized line, discarding up to its newline
        self._skip_head = b""
        self._skip_tail = b""
        self._stdout_eof = False
        self._returncode: int | None = None
        self._exited = anyio.Event()
        self._settle: asyncio.TimerHandle | None = None
        self._paused = False
        self._resumed: anyio.Event | None = None
        self._closing = False
        self.negotiated: Negotiated | None = None
        self.write_pauses = 0  # times the server's stdin was full and senders had to wait
        self.stdin_closed_early = False  # the server closed its stdin while still running
        self.stdout_closed_early = False  # the server closed its stdout while still running
        self.failures = FailureTally()  # transport failures by detail
        self._task_group: anyio.abc.TaskGroup | None = None
        self.responder: Responder | None = None
        self._taps: list[Callable[[dict[str, Any]], None]] = []
        if options.client is not None:
            self.responder = Responder(options.client)
            self._table.on_server_request = self._on_server_request
            self._table.on_notification = self.responder.on_notification
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
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def stderr_tail(self, lines: int = 50) -> str:
        return self._process.stderr_tail(lines) if self._process is not None else ""

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
            self.failures.add(closed.detail)
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
            self._stdin.write(self._framer.request(request_id, method, params))  # type: ignore[union-attr]
            if self._paused:
                # Bounded by the request's own deadline: a server that stopped reading must
                # not hold its callers past their timeout.
                await self._wait_resumed(future)
        elif self._returncode is None and not self._closing:
            # A running server that closed its stdin can never get this request. (A closed
            # pipe of a server still exiting takes no writes either: its exit answers.)
            table.forget(request_id)
            self.stdin_closed_early = True
            self.failures.add("server closed its stdin")
            return Reply(_TRANSPORT, None, None, "server closed its stdin")
        try:
            reply = await future
        except BaseException:
            # Cancelled by the caller: a later reply counts as late.
            table.forget(request_id)
            self._cancel(request_id)
            raise
        if reply.outcome is _TRANSPORT and self.negotiated is not None:  # not the probes
            self.failures.add(reply.detail)
        return reply

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self._send(self._framer.notification(method, params))

    def use_handshake(self, version: str | None) -> None:
        self._framer.set_meta(None)

    def use_modern(self, version: str, meta: dict[str, Any]) -> None:
        self._framer.set_meta(meta)

    async def aclose(self) -> None:
        """Close stdin, give the server a moment, then end its process tree and reap it.

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
            process = self._process
            try:
                if process is not None:
                    await process.stop(
                        exit_grace=EXIT_GRACE, term_grace=TERM_GRACE, kill_wait=KILL_WAIT
                    )
            finally:
                if self._settle is not None:
                    self._settle.cancel()

    def tap_notifications(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Have `callback` see every notification the server sends."""
        self._taps.append(callback)
        self._table.on_notification = self._notified

    def _notified(self, message: dict[str, Any]) -> None:
        if self.responder is not None:
            self.responder.on_notification(message)
        for tap in self._taps:
            tap(message)

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
        spec = ProcessSpec(
            params.command,
            tuple(params.args),
            env=params.env,
            cwd=params.cwd,
            log_path=params.stderr_path,
            name=target,
            redact=params.redact,
        )
        process = ChildProcess(spec, _ServerProtocol(self))
        self._process = process
        try:
            await process.start()
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
        self._stdin = process.stdin

    async def wait_stderr_closed(self, within: float) -> None:
        """Let the last of a dying server's stderr arrive before quoting it."""
        with anyio.move_on_after(within):
            if self._process is not None:
                await self._process.pipes_closed.wait()

    def start_sweeper(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run the timeout sweeper (and, later, the simulated client's answers) in `task_group`."""
        self._task_group = task_group
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
            # At most a request timeout: by then this batch's requests have timed out, and
            # the requests queued behind it must get to time out too, not wait on a server
            # that stopped reading.
            with anyio.move_on_after(self._timeout):
                await self._wait_resumed()

    # -- pipe callbacks ---------------------------------------------------------------------

    def _cancel(self, request_id: int) -> None:
        """Tell the server we gave up on a request (timed out or abandoned by the caller)."""
        self._send(
            self._framer.notification(
                "notifications/cancelled", {"requestId": request_id, "reason": "client gave up"}
            )
        )

    def _on_server_request(self, message: dict[str, Any]) -> None:
        # Answered in a task of its own: a sampling reply's think time must not hold up the
        # reader, nor the other replies on this pipe.
        if self._task_group is None or self.responder is None:
            self._send(answer_server_request(message))
            return
        self._task_group.start_soon(self._serve, self.responder, message)

    async def _serve(self, responder: Responder, message: dict[str, Any]) -> None:
        try:
            response = await responder.respond(message)
        except Exception as exc:  # a per-request boundary: never end the connection's group
            error = {"code": INTERNAL_ERROR, "message": f"client failed to answer: {exc}"}
            response = {"jsonrpc": "2.0", "id": message.get("id"), "error": error}
        self._send(_dumps(response, option=OPT_APPEND_NEWLINE))

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
            newline = data.find(b"\n")
            if newline < 0:
                self._hold(data)
                return
            # Finish the held line on its own, without copying the rest of `data` into it.
            self._hold(data[:newline])
            data = data[newline + 1 :]
            if self._skipping:
                self._end_oversized(self._skip_tail)
            else:
                chunks, self._chunks, self._chunked = self._chunks, [], 0
                self._line(b"".join(chunks))
        lines = data.split(b"\n")
        rest = lines.pop()
        limit = self._max_reply
        complete = self._line
        for line in lines:
            if len(line) > limit:
                self._oversized(line[:_ID_PROBE], line[-_ID_PROBE:])
            else:
                complete(line)
        if rest:
            self._hold(rest)

    def _line(self, line: bytes) -> None:
        """One complete line under the cap: parse it and deliver it (or count it as not JSON)."""
        table = self._table
        try:
            message = _loads(line)
        except _JSONDecodeError:
            if line.strip():
                table.malformed += 1
                table.not_json += 1
            return
        answer = table.deliver(message)
        if answer is not None:
            self._send(answer)

    def _hold(self, data: bytes) -> None:
        """Keep part of a line, or start skipping it once it is over the reply cap."""
        self._chunks.append(data)
        self._chunked += len(data)
        if self._chunked > self._max_reply:
            # The head from the first chunks only: joining all of them would copy the cap.
            head = b""
            for chunk in self._chunks:
                head += chunk[: _ID_PROBE - len(head)]
                if len(head) >= _ID_PROBE:
                    break
            tail = b""
            for chunk in reversed(self._chunks):
                tail = chunk[-(_ID_PROBE - len(tail)) :] + tail
                if len(tail) >= _ID_PROBE:
                    break
            self._chunks = []
            self._chunked = 0
            self._skipping = True
            self._skip_head = head
            self._skip_tail = tail

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
        if self._returncode is None and not self._closing:
            self.stdout_closed_early = True
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

    async def _wait_resumed(self, future: asyncio.Future[Reply] | None = None) -> None:
        # The server stopped reading; wait until its stdin drains (or it dies, or `future`
        # is answered: by its timeout, say) before more.
        while self._paused and self._table.closed is None:
            if future is not None and future.done():
                return
            resumed = self._resumed
            if resumed is None or resumed.is_set():
                resumed = self._resumed = anyio.Event()
            if future is not None:
                future.add_done_callback(partial(_wake, resumed))
            await resumed.wait()


def _wake(event: anyio.Event, _: object) -> None:
    event.set()


class _ServerProtocol(asyncio.SubprocessProtocol):
    """The server's stdout and exit, from the supervisor's pipes (its stderr is the log's)."""

    def __init__(self, connection: StdioConnection) -> None:
        self._connection = connection
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._connection._on_stdout(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._connection._on_stdout_eof()

    def process_exited(self) -> None:
        transport = self._transport
        returncode = transport.get_returncode() if transport is not None else None
        self._connection._on_exit(-1 if returncode is None else returncode)

    def pause_writing(self) -> None:
        self._connection._pause()

    def resume_writing(self) -> None:
        self._connection._resume()
