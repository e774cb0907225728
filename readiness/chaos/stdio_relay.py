"""The stdio interposer: relays newline-delimited JSON-RPC between a client (our stdin/stdout)
and the server it starts as its child, applying a FaultPlan to each request on the way.

Request-side faults act before forwarding (error answers in the server's place; drop swallows
the request; kill, hang and disconnect act on the whole channel); reply-side faults act on the
server's reply to that request (latency delays it, malformed replaces it). When a kill takes the
server down, every request it had not answered, and every request that arrives until it has been
restarted and re-initialised, is answered at once with an error marked as the relay's (see
messages.server_gone_reply): the client sees the outage when it happens, as over HTTP.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import orjson

from readiness.chaos.capture import CaptureWriter
from readiness.chaos.faults import (
    AnyFault,
    DisconnectFault,
    DropFault,
    ErrorFault,
    HangFault,
    KillFault,
    LatencyFault,
    MalformedFault,
    faults_to_json,
)
from readiness.chaos.messages import (
    CLOCK_METHOD,
    STATS_METHOD,
    RequestId,
    control_reply,
    error_reply,
    inspect_message,
    malformed_reply,
    reply_id,
    server_gone_reply,
)
from readiness.chaos.pipes import (
    LineBuffer,
    ServerProcess,
    pipe_files,
    split_lines,
)
from readiness.chaos.plan import FaultPlan, Injection
from readiness.errors import ConfigError
from readiness.process import ChildProcess, ProcessSpec

EXIT_GRACE = 1.0  # after closing the server's stdin; our client allows us 2 s in all
TERM_GRACE = 1.0
KILL_WAIT = 5.0
EXIT_SETTLE = 0.5  # after the server exits, for the last replies still in its pipe
DRAIN_WAIT = 1.0  # for the client to read what we still have to write
INIT_TIMEOUT = 30.0  # for a restarted server to answer the replayed initialize
MAX_QUEUED = 10_000  # lines held while the server restarts or hangs; more are dropped
KILLED_EXIT = 128 + signal.SIGKILL

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def relay_command(
    faults: Sequence[AnyFault],
    events_path: str | None,
    command: str,
    args: Sequence[str] = (),
    seed: int | None = None,
    *,
    wait_for_clock: bool = False,
    transport_marker: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    """The (command, args) that run `command args…` behind a relay applying `faults`: give
    them to StdioParams, and the client tests the server through the faults. With
    `wait_for_clock` nothing is injected until the client sends a CLOCK_METHOD request; with
    `transport_marker` (also given to StdioParams), the errors the relay answers for a server
    that is gone count as transport errors."""
    options = ["-m", "readiness.chaos.relay", "--faults-json", faults_to_json(faults)]
    if wait_for_clock:
        options.append("--wait-for-clock")
    if transport_marker is not None:
        options += ["--transport-marker", transport_marker]
    if events_path is not None:
        options += ["--events", events_path]
    if seed is not None:
        options += ["--seed", str(seed)]
    return sys.executable, (*options, "--", command, *args)


class StdioRelay:
    """Runs the server as a child and relays between it and the client until either goes.

    The relay exits when its stdin closes (ending the server gracefully), when the server exits
    on its own (with the server's exit status), after a disconnect fault, after a kill fault
    without restart (status 137), or on SIGINT/SIGTERM. It always ends its child.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str],
        plan: FaultPlan,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_log: Callable[[str], None] | None = None,
        transport_marker: str | None = None,
        capture: CaptureWriter | None = None,
    ) -> None:
        self.command = command
        self._capture = capture
        self.args = tuple(args)
        self.plan = plan
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._log = on_log or (lambda message: None)
        self._passthrough = not plan.faults and capture is None
        self._marker = transport_marker
        # Requests the server was sent and has not answered, kept only when a kill may take it
        # down while the relay lives on: they are answered for it when it goes.
        self._track = any(
            isinstance(f, KillFault) and f.restart_after is not None for f in plan.faults
        )
        self._unanswered: dict[RequestId, None] = {}  # in the order they were sent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._child: ServerProcess | None = None
        self._dead: list[ServerProcess] = []
        self._generation = 0
        self._client_in: asyncio.ReadTransport | None = None
        self._client_out: asyncio.WriteTransport | None = None
        self._from_client_lines = LineBuffer()
        self._client_paused = False  # we stopped reading the client: the server's stdin is full
        self._done = anyio.Event()
        self._client_out_closed = anyio.Event()
        self._exit_code = 0
        self._graceful = True
        self._closing = False
        # reply-side faults waiting for the server's reply, by request id
        self._delays: dict[RequestId, float] = {}
        self._replace: dict[RequestId, MalformedFault] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        # kill and restart
        self._down = False
        self._restart_pending = False
        self._queued: list[bytes] = []
        self._initialize: dict[str, Any] | None = None
        self._initialized_line: bytes | None = None
        self._init_id: str | None = None
        self._init_done: anyio.Event | None = None
        # hang
        self._hang: tuple[int, float] | None = None  # (fault index, loop time it ends)
        self._hang_timer: asyncio.TimerHandle | None = None
        self._held_in: list[bytes] = []
        self._held_out: list[bytes] = []
        self.lines_dropped = 0  # beyond MAX_QUEUED while the server was down or hanging
        self.restarts = 0

    @property
    def child_pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def __repr__(self) -> str:
        state = "down" if self._down else "hanging" if self._hang else "up"
        return f"<StdioRelay {self.command!r} pid={self.child_pid} {state} {self.plan!r}>"

    # -- the run ----------------------------------------------------------------------------

    async def run(self, client_in: int, client_out: int, *, handle_signals: bool = True) -> int:
        """Relay until the client or the server goes; returns the exit status to report.

        Takes ownership of the two fds. Raises OSError if the server cannot be started, and
        ConfigError if the fds are not pipes.
        """
        self._loop = asyncio.get_running_loop()
        try:
            self._child = await self._spawn()
            await self._connect_client(client_in, client_out)
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                self.plan.start()
                if handle_signals:
                    task_group.start_soon(self._watch_signals)
                await self._done.wait()
                task_group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown()
        return self._exit_code

    async def _connect_client(self, client_in: int, client_out: int) -> None:
        assert self._loop is not None
        reader, writer = pipe_files(client_in, client_out)
        try:
            self._client_in, _ = await self._loop.connect_read_pipe(
                lambda: _ClientReader(self), reader
            )
            self._client_out, _ = await self._loop.connect_write_pipe(
                lambda: _ClientWriter(self), writer
            )
        except ValueError:  # a regular file: asyncio pipes cannot poll it
            for file in (reader, writer):
                if not file.closed:
                    file.close()
            raise ConfigError(
                "the relay's stdin and stdout must be pipes or a terminal"
                " (an MCP client starts it with pipes)"
            ) from None

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self._graceful = False
                self._finish(128 + signum)
                return

    def _finish(self, code: int) -> None:
        if not self._done.is_set():
            self._exit_code = code
            self._closing = True
            self._done.set()

    async def _shutdown(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._hang_timer is not None:
            self._hang_timer.cancel()
        child = self._child
        if child is not None:
            await self._end_child(child, graceful=self._graceful)
        for dead in self._dead:
            if dead.transport is not None:
                dead.transport.close()
        out = self._client_out
        if out is not None and not out.is_closing():
            out.close()  # after what is still buffered has been written
            with anyio.move_on_after(DRAIN_WAIT):
                await self._client_out_closed.wait()
            if not self._client_out_closed.is_set():
                out.abort()
        if self._client_in is not None:
            self._client_in.close()
        await anyio.lowlevel.checkpoint()  # let the transports' close callbacks run

    async def _end_child(self, child: ServerProcess, *, graceful: bool) -> None:
        exit_grace = EXIT_GRACE if graceful else 0.0
        await child.process.stop(exit_grace=exit_grace, term_grace=TERM_GRACE, kill_wait=KILL_WAIT)

    async def _spawn(self) -> ServerProcess:
        self._generation += 1
        # The server's stderr is ours: the client logs it.
        spec = ProcessSpec(
            self.command, self.args, env=self._env or {}, cwd=self._cwd, stderr="inherit"
        )
        child = ServerProcess(self._generation)
        child.process = ChildProcess(spec, _ServerProtocol(self, child))
        await child.process.start()
        return child

    # -- client → server --------------------------------------------------------------------

    def _from_client(self, data: bytes) -> None:
        if self._closing:
            return
        if self._passthrough:
            self._forward(data)
            return
        block = self._from_client_lines.feed(data)
        if not block:
            return
        for line in split_lines(block):
            self._client_line(line)

    def _client_line(self, line: bytes) -> None:
        try:
            message = _loads(line)
        except _JSONDecodeError:
            self._forward(line)  # not ours to judge: the server answers garbage as it likes
            return
        info = inspect_message(message)
        if info is None:
            if type(message) is dict and message.get("method") == "notifications/initialized":
                self._initialized_line = line
            self._forward(line)
            return
        if info.method in ("initialize", "server/discover"):
            self._initialize = message
        elif info.method in (CLOCK_METHOD, STATS_METHOD):
            self._control(info.method, info.request_id)
            return
        if self._capture is not None:
            self._capture.request(message)
        if self._down:
            self._server_gone_reply(info.request_id, "the server is down (killed by a fault)")
            return
        injection = self.plan.decide(info.method, info.tool, info.request_id)
        if injection is None:
            self._send_request(info.request_id, line)
        else:
            self._apply(injection, info.request_id, line)

    def _send_request(self, request_id: RequestId, line: bytes) -> None:
        if self._track:
            self._unanswered[request_id] = None
        self._forward(line)

    def _server_gone_reply(self, request_id: RequestId, why: str) -> None:
        if self._restart_pending:
            why += "; the relay is restarting it"
        self._to_client(server_gone_reply(request_id, why, self._marker) + b"\n")

    def _control(self, method: str, request_id: RequestId) -> None:
        if method == CLOCK_METHOD:
            self.plan.arm()  # inject from now on; `during` windows count from now
            result: dict[str, object] = {"pid": self.child_pid}
        else:
            stats = self.plan.statistics()
            result = {
                "matched": list(stats.matched),
                "injected": list(stats.injected),
                "restarts": self.restarts,
                "lines_dropped": self.lines_dropped,
                "pid": self.child_pid,
            }
        self._to_client(control_reply(request_id, result) + b"\n")

    def _apply(self, injection: Injection, request_id: RequestId, line: bytes) -> None:
        fault = injection.fault
        if isinstance(fault, LatencyFault):
            self._delays[request_id] = injection.delay
            self._send_request(request_id, line)
        elif isinstance(fault, MalformedFault):
            self._replace[request_id] = fault
            self._send_request(request_id, line)
        elif isinstance(fault, ErrorFault):
            self._to_client(error_reply(fault, request_id) + b"\n")
        elif isinstance(fault, DropFault):
            pass
        elif isinstance(fault, DisconnectFault):
            self._disconnect()
        elif isinstance(fault, KillFault):
            self._kill(injection.index, fault, request_id)
        elif isinstance(fault, HangFault):
            self._start_hang(injection.index, fault)
            self._send_request(request_id, line)
        else:  # HTTP-only faults are refused before a relay starts
            self._send_request(request_id, line)

    def _forward(self, data: bytes) -> None:
        if self._hang is not None:
            self._hold(self._held_in, data)
            return
        child = self._child
        if self._down or child is None or child.stdin is None:
            self._hold(self._queued, data)
            return
        if child.returncode is None and not child.stdin.is_closing():
            child.stdin.write(data)

    def _hold(self, queue: list[bytes], data: bytes) -> None:
        if len(queue) < MAX_QUEUED:
            queue.append(data)
        else:
            self.lines_dropped += 1

    def _client_eof(self) -> None:
        self._finish(0)

    # -- server → client --------------------------------------------------------------------

    def _from_server(self, child: ServerProcess, data: bytes) -> None:
        if child is not self._child or child.killed:
            return  # a killed server's last words are lost with it
        block = child.lines.feed(data)
        if not block:
            return
        if not (self._delays or self._replace or self._unanswered or self._init_id is not None):
            self._to_client(block)
            return
        for line in split_lines(block):
            self._server_line(line)

    def _server_line(self, line: bytes) -> None:
        try:
            message = _loads(line)
        except _JSONDecodeError:
            self._to_client(line)
            return
        request_id = reply_id(message)  # None too for an id no request of ours can have
        if request_id is None:
            self._to_client(line)
            return
        if request_id == self._init_id:
            if self._init_done is not None:
                self._init_done.set()
            return
        self._unanswered.pop(request_id, None)
        malformed = self._replace.pop(request_id, None)
        delay = self._delays.pop(request_id, None)
        if malformed is not None:
            line = malformed_reply(malformed.shape, request_id) + b"\n"
        if delay:
            self._later(delay, self._to_client, line)
        else:
            self._to_client(line)

    def _to_client(self, data: bytes) -> None:
        if self._hang is not None:
            self._hold(self._held_out, data)
            return
        out = self._client_out
        if out is not None and not out.is_closing():
            out.write(data)

    def _later(self, delay: float, callback: Callable[[bytes], None], data: bytes) -> None:
        assert self._loop is not None
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            callback(data)

        timer = self._loop.call_later(delay, fire)
        self._timers.add(timer)

    # -- server lifecycle -------------------------------------------------------------------

    def _server_stdout_closed(self, child: ServerProcess) -> None:
        child.stdout_closed = True
        if child is self._child and child.returncode is not None and not child.killed:
            self._server_gone(child)

    def _server_exited(self, child: ServerProcess, returncode: int) -> None:
        child.returncode = returncode
        child.exited.set()
        if child.killed and child.transport is not None:
            child.transport.close()  # its pipes have nothing more to give us
        if child is not self._child or self._closing:
            return
        if child.killed:
            if not self._restart_pending:
                self._finish(KILLED_EXIT)  # killed for good: go as the server went
            return
        if child.stdout_closed:
            self._server_gone(child)
        else:
            assert self._loop is not None
            self._loop.call_later(EXIT_SETTLE, self._server_gone, child)

    def _server_gone(self, child: ServerProcess) -> None:
        """The server ended on its own: end the relay with its status, as if it were the server."""
        code = child.returncode if child.returncode is not None else 0
        self._finish(code if code >= 0 else 128 - code)

    def _kill(self, index: int, fault: KillFault, request_id: RequestId) -> None:
        child = self._child
        if child is None or self._down:  # already down: nothing left to kill
            self._server_gone_reply(request_id, "the server is down (killed by a fault)")
            return
        child.killed = True
        child.signal_group(signal.SIGKILL)
        self._down = True
        # Requests in flight die with the server: their replies will never come.
        self._delays.clear()
        self._replace.clear()
        self._resume_client()
        if fault.restart_after is None:
            # The relay goes as the server went; the client hears it from its pipes.
            self._restart_pending = False
            if child.returncode is not None:
                self._finish(KILLED_EXIT)
            return
        # The relay lives on, so the client hears of the lost requests from it, now rather
        # than at its timeout. The request that fired the kill is one of them.
        self._restart_pending = True
        unanswered, self._unanswered = self._unanswered, {}
        unanswered[request_id] = None
        for lost in unanswered:
            self._server_gone_reply(lost, "the server exited (killed by a fault)")
        assert self._task_group is not None
        self._task_group.start_soon(self._restart, index, fault.restart_after)

    async def _restart(self, index: int, delay: float) -> None:
        await anyio.sleep(delay)
        old = self._child
        try:
            child = await self._spawn()
        except OSError as exc:
            self._log(f"could not restart {self.command}: {exc.strerror or exc}")
            self._restart_pending = False
            self._finish(KILLED_EXIT)
            return
        if old is not None:
            self._dead.append(old)
        self._child = child
        self.restarts += 1
        if child.stdin is not None:
            # Replay the client's handshake (initialize, or the stateless protocol's
            # server/discover) so its session carries on with the new server; a client that
            # sent neither gets a ping, which at least tells when the server answers.
            self._init_id = f"readiness-relay-initialize-{child.generation}"
            self._init_done = anyio.Event()
            probe = self._initialize or {"jsonrpc": "2.0", "method": "ping"}
            child.stdin.write(orjson.dumps({**probe, "id": self._init_id}) + b"\n")
            with anyio.move_on_after(INIT_TIMEOUT):
                await self._init_done.wait()
            if not self._init_done.is_set():
                what = probe["method"]
                self._log(f"the restarted server did not answer the replayed {what}")
            self._init_id = None
            self._init_done = None
            if self._initialized_line is not None:
                child.stdin.write(self._initialized_line)
        self._down = False
        self._restart_pending = False
        queued, self._queued = self._queued, []
        for data in queued:
            self._forward(data)
        self.plan.record_end(index)

    def _disconnect(self) -> None:
        """Close the client's pipes as a dying server would, then end the server."""
        if self._client_out is not None:
            self._client_out.abort()
        if self._client_in is not None:
            self._client_in.close()
        self._finish(0)

    # -- hang -------------------------------------------------------------------------------

    def _start_hang(self, index: int, fault: HangFault) -> None:
        assert self._loop is not None
        ends = self._loop.time() + fault.hold_for(self.plan.elapsed())
        if self._hang is not None and self._hang[1] >= ends:
            return
        if self._hang_timer is not None:
            self._hang_timer.cancel()
        self._hang = (index, ends)
        self._hang_timer = self._loop.call_at(ends, self._end_hang)

    def _end_hang(self) -> None:
        if self._hang is None:
            return
        index, _ = self._hang
        self._hang = None
        self._hang_timer = None
        held_in, self._held_in = self._held_in, []
        held_out, self._held_out = self._held_out, []
        for data in held_in:
            self._forward(data)
        for data in held_out:
            self._to_client(data)
        self.plan.record_end(index)

    # -- flow control -----------------------------------------------------------------------

    def _pause_client(self) -> None:
        if self._client_in is not None and not self._client_paused:
            self._client_paused = True
            self._client_in.pause_reading()

    def _resume_client(self) -> None:
        if self._client_in is not None and self._client_paused:
            self._client_paused = False
            if not self._client_in.is_closing():
                self._client_in.resume_reading()

    def _pause_server(self) -> None:
        child = self._child
        if child is not None and child.stdout is not None and not child.stdout.is_closing():
            child.stdout.pause_reading()

    def _resume_server(self) -> None:
        child = self._child
        if child is not None and child.stdout is not None and not child.stdout.is_closing():
            child.stdout.resume_reading()


class _ServerProtocol(asyncio.SubprocessProtocol):
    def __init__(self, relay: StdioRelay, child: ServerProcess) -> None:
        self._relay = relay
        self._child = child

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._relay._from_server(self._child, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._relay._server_stdout_closed(self._child)

    def process_exited(self) -> None:
        transport = self._child.transport
        code = transport.get_returncode() if transport is not None else None
        self._relay._server_exited(self._child, -1 if code is None else code)

    def pause_writing(self) -> None:
        if self._child is self._relay._child:
            self._relay._pause_client()

    def resume_writing(self) -> None:
        if self._child is self._relay._child:
            self._relay._resume_client()


class _ClientReader(asyncio.Protocol):
    def __init__(self, relay: StdioRelay) -> None:
        self._relay = relay

    def data_received(self, data: bytes) -> None:
        self._relay._from_client(data)

    def eof_received(self) -> bool | None:
        self._relay._client_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay._client_eof()


class _ClientWriter(asyncio.Protocol):
    def __init__(self, relay: StdioRelay) -> None:
        self._relay = relay

    def pause_writing(self) -> None:
        self._relay._pause_server()

    def resume_writing(self) -> None:
        self._relay._resume_server()

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay._client_out_closed.set()
        self._relay._client_eof()  # the client closed its end: nobody is left to answer
