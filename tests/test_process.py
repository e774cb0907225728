"""The process supervisor against real processes: SIGTERM, then SIGKILL, reach the whole tree
(even a descendant that left the group); cwd and env are honoured; stderr lands in the log,
with the secret values it was handed shown by name."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import anyio
import orjson
import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from readiness.errors import TargetStartFailed
from readiness.process import ChildProcess, ProcessSpec, ServerSupervisor, StderrLog

# A child that ignores SIGTERM (saying so on stderr) and starts a grandchild that also ignores
# it and leaves the process group; once both are set, the child prints what it knows.
STUBBORN_TREE = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time

    def noted(signum, frame):
        sys.stderr.write("child got SIGTERM\\n")
        sys.stderr.flush()

    signal.signal(signal.SIGTERM, noted)
    grandchild = subprocess.Popen(
        [sys.executable, "-c",
         "import os, signal, time\\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
         "os.setsid()\\n"
         "print('ready', flush=True)\\n"
         "while True: time.sleep(1)\\n"],
        stdout=subprocess.PIPE,
    )
    assert grandchild.stdout is not None
    grandchild.stdout.readline()
    sys.stdout.write(
        '{"child": %d, "grandchild": %d, "cwd": "%s", "mark": "%s"}\\n'
        % (os.getpid(), grandchild.pid, os.getcwd(), os.environ["READINESS_TEST_MARK"])
    )
    sys.stdout.flush()
    while True:
        time.sleep(1)
    """
)


class FirstLine(asyncio.SubprocessProtocol):
    def __init__(self) -> None:
        self.data = b""
        self.got_line = anyio.Event()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self.data += data
        if b"\n" in self.data:
            self.got_line.set()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.anyio
async def test_stop_sends_sigterm_then_sigkill_to_every_process_of_the_tree(
    tmp_path: Path,
) -> None:
    script = tmp_path / "tree.py"
    script.write_text(STUBBORN_TREE)
    workdir = tmp_path / "work"
    workdir.mkdir()
    log = tmp_path / "server.stderr.log"
    spec = ProcessSpec(
        sys.executable,
        (str(script),),
        env={"READINESS_TEST_MARK": "marked"},
        cwd=str(workdir),
        log_path=str(log),
    )
    lines = FirstLine()
    process = ChildProcess(spec, lines)
    with anyio.fail_after(30):
        await process.start()
        try:
            await lines.got_line.wait()
        finally:
            told = orjson.loads(lines.data.splitlines()[0]) if lines.got_line.is_set() else {}
            await process.stop(term_grace=0.5)

    child, grandchild = told["child"], told["grandchild"]
    assert child == process.pid
    assert gone(child)
    assert gone(grandchild)
    assert process.returncode == -signal.SIGKILL  # it ignored SIGTERM, so SIGKILL ended it
    assert "child got SIGTERM" in log.read_text()
    assert told["cwd"] == str(workdir)
    assert told["mark"] == "marked"


@pytest.mark.anyio
async def test_a_grandchild_that_left_the_group_is_found_by_the_tree_walk(
    tmp_path: Path,
) -> None:
    script = tmp_path / "tree.py"
    script.write_text(STUBBORN_TREE)
    lines = FirstLine()
    spec = ProcessSpec(sys.executable, (str(script),), env={"READINESS_TEST_MARK": "x"})
    process = ChildProcess(spec, lines)
    with anyio.fail_after(30):
        await process.start()
        try:
            await lines.got_line.wait()
            grandchild = orjson.loads(lines.data.splitlines()[0])["grandchild"]
            assert os.getpgid(grandchild) != process.pid
            assert not gone(grandchild)
        finally:
            await process.kill()
    assert gone(grandchild)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.anyio
async def test_without_pipes_stdout_and_stderr_go_to_the_log_in_the_configured_cwd_and_env(
    tmp_path: Path,
) -> None:
    log = tmp_path / "out.log"
    code = (
        "import os, sys; print('cwd', os.getcwd()); "
        "print('mark', os.environ['READINESS_TEST_MARK'], file=sys.stderr)"
    )
    spec = ProcessSpec(
        sys.executable,
        ("-c", code),
        env={"READINESS_TEST_MARK": "in-env"},
        cwd=str(tmp_path),
        log_path=str(log),
    )
    process = ChildProcess(spec)
    with anyio.fail_after(30):
        await process.start()
        try:
            await process.exited.wait()
        finally:
            await process.stop()
    text = log.read_text()
    assert f"cwd {tmp_path}" in text
    assert "mark in-env" in text
    assert process.returncode == 0
    assert "mark in-env" in process.stderr_tail()


@pytest.mark.anyio
async def test_a_server_that_exits_before_listening_fails_to_start_with_its_stderr(
    tmp_path: Path,
) -> None:
    code = "import sys; sys.stderr.write('no config found\\n'); sys.exit(3)"
    spec = ProcessSpec(
        sys.executable, ("-c", code), log_path=str(tmp_path / "s.log"), name="broken"
    )
    supervisor = ServerSupervisor(spec, "http://127.0.0.1:9/mcp", start_timeout=30)
    with anyio.fail_after(30), pytest.raises(TargetStartFailed) as caught:
        await supervisor.start()
    assert caught.value.target == "broken"
    assert "exited with code 3" in caught.value.cause
    assert "no config found" in caught.value.stderr_tail
    assert supervisor.pid is None


@pytest.mark.anyio
async def test_a_missing_command_or_working_directory_fails_to_start(tmp_path: Path) -> None:
    missing = ProcessSpec(str(tmp_path / "no-such-server"), name="t")
    with pytest.raises(TargetStartFailed, match="command not found"):
        await ServerSupervisor(missing, "http://127.0.0.1:9/").start()
    nowhere = ProcessSpec(sys.executable, cwd=str(tmp_path / "absent"), name="t")
    with pytest.raises(TargetStartFailed, match="working directory does not exist"):
        await ServerSupervisor(nowhere, "http://127.0.0.1:9/").start()


# -- secrets in the log -------------------------------------------------------------------------

SECRETS = {b"s3cr3t-token": b"${TOKEN}", b"s3cr3t%2Dtoken": b"${TOKEN}", b"hunter2": b"${PASS}"}


def _redacted(data: bytes) -> bytes:
    for value, shown in sorted(SECRETS.items(), key=lambda item: -len(item[0])):
        data = data.replace(value, shown)
    return data


@given(
    parts=st.lists(
        st.sampled_from([*SECRETS, b"s3cr3t", b"-tok", b"en", b"\n", b"x" * 7, b"hunter"]),
        max_size=40,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    head=st.integers(min_value=0, max_value=64),
)
def test_a_secret_split_across_reads_never_reaches_the_log_file(
    parts: list[bytes], cuts: list[int], head: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stream = b"".join(parts)
    path = tmp_path_factory.mktemp("log") / "server.stderr.log"
    log = StderrLog(str(path), head_bytes=head, tail_bytes=10_000, redact=SECRETS)
    at = 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        log.feed(stream[at:cut])
        at = cut
        assert not any(value in log.tail_lines().encode() for value in SECRETS)
    log.close()
    written = path.read_bytes()
    assert not any(value in written for value in SECRETS)
    if len(_redacted(stream)) <= head:  # the whole of it fit in the head: nothing skipped
        assert written == _redacted(stream)


@pytest.mark.anyio
async def test_a_server_printing_its_secrets_gets_a_log_showing_their_names(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.stderr.log"
    code = (
        "import os, sys; sys.stderr.write('token=' + os.environ['API_TOKEN']); sys.stderr.flush();"
        " sys.stderr.write(' argv ' + ' '.join(sys.argv[1:]) + '\\n')"
    )
    spec = ProcessSpec(
        sys.executable,
        ("-c", code, "--password", "hunter2"),
        env={"API_TOKEN": "s3cr3t-token"},
        log_path=str(log),
        redact=SECRETS,
    )
    process = ChildProcess(spec)
    with anyio.fail_after(30):
        await process.start()
        try:
            await process.exited.wait()
        finally:
            await process.stop()
    assert log.read_text() == "token=${TOKEN} argv --password ${PASS}\n"
    assert process.stderr_tail() == "token=${TOKEN} argv --password ${PASS}"
