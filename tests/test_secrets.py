"""Secrets stay secret: values that reach a target through ${VAR} in env, args, headers and the
URL (its userinfo and query) appear in no file a run writes (the servers' own logs included,
though they print them) and on no screen it shows; the reports show the ${VAR} names instead."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.clirun import READINESS
from tests.servers import free_port

# A demo over stdio that takes secret arguments (`python -c` leaves them to the script), notes
# what it was given in SAW, outside the run's folder (the control that they arrived), and
# prints them to stderr, as a chatty server does: its log must show their names instead.
STDIO_DEMO = (
    "import os, runpy, sys; "
    "seen = repr((sys.argv, os.environ['API_TOKEN'], os.environ['PLAIN_SETTING'])); "
    "open(os.environ['SAW'], 'a').write(seen); print('started with', seen, file=sys.stderr); "
    "sys.argv = ['readiness-demo']; runpy.run_module('readiness.demo', run_name='__main__')"
)
# An HTTP demo that prints its token and URL settings on stdout, which goes to its log too.
HTTP_DEMO = (
    "import os, runpy, sys; "
    "print('token', os.environ['API_TOKEN'], os.environ['SECRET_URL_TOKEN'], flush=True); "
    "sys.argv = ['readiness-demo', *sys.argv[1:]]; "
    "runpy.run_module('readiness.demo', run_name='__main__')"
)


def secrets() -> dict[str, str]:
    """One distinct value per place a secret can be written; none is a substring of another."""
    names = (
        "ENV_TOKEN",  # env, under a secret-looking name
        "ENV_PLAIN",  # env, under an innocent name
        "ARG_FLAG",  # args: --token VALUE
        "ARG_EQUALS",  # args: --api-key=VALUE
        "ARG_BARE",  # args: a bare positional value
        "HEADER_AUTH",  # headers: Authorization = "Bearer VALUE"
        "HEADER_PLAIN",  # headers: an innocent name
        "URL_USER",  # url userinfo
        "URL_PASS",
        "URL_TOKEN",  # url query: ?token=VALUE
        "URL_PLAIN",  # url query: an innocent name
    )
    return {
        f"SECRET_{name}": f"s3cr3t{name.lower().replace('_', '')}{uuid.uuid4().hex}"
        for name in names
    }


def suite_text(port: int, other_port: int, saw: Path) -> str:
    return f"""\
[run]
name = "secrets"

[[targets]]
name = "stdio"
transport = "stdio"
command = "${{PYTHON}}"
args = ["-c", "{STDIO_DEMO}", "--token", "${{SECRET_ARG_FLAG}}",
        "--api-key=${{SECRET_ARG_EQUALS}}", "${{SECRET_ARG_BARE}}"]
request_timeout = "5s"

[targets.env]
API_TOKEN = "${{SECRET_ENV_TOKEN}}"
PLAIN_SETTING = "${{SECRET_ENV_PLAIN}}"
SAW = "{saw}"

[[targets]]
name = "http"
transport = "http"
command = "${{PYTHON}}"
args = ["-c", "{HTTP_DEMO}", "--http", "--port", "{port}"]
env = {{ API_TOKEN = "${{SECRET_ENV_TOKEN}}" }}
url = "http://127.0.0.1:{port}/mcp?token=${{SECRET_URL_TOKEN}}&region=${{SECRET_URL_PLAIN}}"
request_timeout = "5s"

[targets.headers]
Authorization = "Bearer ${{SECRET_HEADER_AUTH}}"
X-Plain = "${{SECRET_HEADER_PLAIN}}"

# Credentials in the URL instead (aiohttp sends them as basic auth).
[[targets]]
name = "http-userinfo"
transport = "http"
command = "${{PYTHON}}"
args = ["-m", "readiness.demo", "--http", "--port", "{other_port}"]
url = "http://${{SECRET_URL_USER}}:${{SECRET_URL_PASS}}@127.0.0.1:{other_port}/mcp"
request_timeout = "5s"

[[scenarios]]
name = "short"
kind = "throughput"
load = {{ concurrency = 2, requests = 20 }}
thresholds = ["success_rate >= 99%", {{ check = "p99 < 5s", critical = true }}]

# Through readiness's fault proxy (HTTP) or relay (stdio), which log their own events.
[[scenarios]]
name = "faulty"
kind = "failure"
load = {{ model = "open", rate = "20/s", duration = "2s" }}
inject = "0.5s..1.5s"
thresholds = ["lost == 0"]

[[scenarios.faults]]
type = "error"
probability = 0.5
"""


def run_with_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, bytes]:
    """Run on a pseudo-terminal, so the live display draws; returns what it drew."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    screen = bytearray()
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], 120)
            if not ready:
                raise TimeoutError("the run drew nothing for 120 s")
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal closed with the process
                break
            if not chunk:
                break
            screen += chunk
        return proc.wait(timeout=60), bytes(screen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)


def files_under(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.timeout(300)
def test_no_secret_value_reaches_a_file_or_the_screen(tmp_path: Path) -> None:
    values = secrets()
    env = {**os.environ, **values, "PYTHONUNBUFFERED": "1"}
    (tmp_path / "suite.toml").write_text(
        suite_text(free_port(), free_port(), tmp_path / "server-saw")
    )

    live_code, screen = run_with_terminal(
        [*READINESS, "run", "-c", "suite.toml", "--out", "live"], tmp_path, env
    )
    quiet = subprocess.run(
        [*READINESS, "run", "-c", "suite.toml", "-s", "short", "--out", "quiet", "-q"],
        cwd=tmp_path,
        env={**env, "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")},
        capture_output=True,
        timeout=240,
        check=False,
    )
    again = subprocess.run(
        [*READINESS, "report", "quiet", "--out", "again"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert (live_code, quiet.returncode, again.returncode) == (0, 0, 0), (
        screen.decode(errors="replace") + quiet.stdout.decode() + quiet.stderr.decode()
    )
    outputs = {
        **files_under(tmp_path),
        Path("<live display>"): screen,
        Path("<quiet stdout>"): quiet.stdout,
        Path("<quiet stderr>"): quiet.stderr,
        Path("<report stdout+stderr>"): again.stdout + again.stderr,
    }
    assert (tmp_path / "quiet" / "logs").is_dir()
    assert (tmp_path / "live" / "logs" / "stdio-faulty.faults.jsonl").is_file()
    assert {"results.json", "report.md", "report.html", "junit.xml"} <= {p.name for p in outputs}
    saw = outputs.pop(tmp_path / "server-saw").decode()
    for name in ("SECRET_ENV_TOKEN", "SECRET_ENV_PLAIN", "SECRET_ARG_FLAG", "SECRET_ARG_BARE"):
        assert values[name] in saw  # they did reach the server
    assert_nothing_shows(values, outputs)
    for run in ("live", "quiet"):  # what the servers printed is there, by name
        logs = tmp_path / run / "logs"
        assert "${SECRET_ARG_BARE}" in (logs / "stdio-short.stderr.log").read_text()
        assert (
            "token ${SECRET_ENV_TOKEN} ${SECRET_URL_TOKEN}"
            in (logs / "http-short.stderr.log").read_text()
        )
    assert (
        "${SECRET_ENV_PLAIN}"
        in (tmp_path / "live" / "logs" / "stdio-faulty.stderr.log").read_text()
    )

    shown = (tmp_path / "quiet" / "results.json").read_text() + (
        tmp_path / "quiet" / "report.md"
    ).read_text()
    for name in values.keys() - {"SECRET_HEADER_AUTH", "SECRET_HEADER_PLAIN", "SECRET_ENV_PLAIN"}:
        if name != "SECRET_ENV_TOKEN":  # env and headers are not in the reports at all
            assert "${" + name + "}" in shown, name


def assert_nothing_shows(values: dict[str, str], outputs: dict[Path, bytes]) -> None:
    leaks = [
        f"{name} in {path}"
        for path, data in outputs.items()
        for name, value in values.items()
        if value.encode() in data
    ]
    assert not leaks, "\n".join(leaks)


UNREACHABLE = """\
[[targets]]
name = "never-listens"
transport = "http"
command = "${PYTHON}"
args = ["-c", "import time; time.sleep(60)"]
url = "http://${SECRET_URL_USER}:${SECRET_URL_PASS}@127.0.0.1:PORT/mcp?token=${SECRET_URL_TOKEN}"
headers = { X-Api-Key = "${SECRET_HEADER_PLAIN}" }
connect_timeout = "1s"

[[scenarios]]
name = "short"
kind = "throughput"
load = { concurrency = 1, requests = 5 }
"""

NOT_A_URL = """\
[[targets]]
name = "bad-url"
transport = "http"
url = "ftp://${SECRET_URL_USER}:${SECRET_URL_PASS}@127.0.0.1/?token=${SECRET_URL_TOKEN}"

[[scenarios]]
name = "short"
kind = "throughput"
load = { concurrency = 1, requests = 5 }
"""


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param(UNREACHABLE, 3, id="an error that quotes the URL it could not reach"),
        pytest.param(NOT_A_URL, 2, id="a configuration error about the expanded URL"),
    ],
)
def test_no_secret_value_reaches_an_error(tmp_path: Path, text: str, code: int) -> None:
    values = secrets()
    (tmp_path / "suite.toml").write_text(text.replace("PORT", str(free_port())))
    proc = subprocess.run(
        [*READINESS, "run", "-c", "suite.toml", "--out", "out", "-q"],
        cwd=tmp_path,
        env={**os.environ, **values},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    outputs = {
        **files_under(tmp_path),
        Path("<stdout>"): proc.stdout,
        Path("<stderr>"): proc.stderr,
    }
    assert_nothing_shows(values, outputs)
    if code == 3:
        assert b"${SECRET_URL_TOKEN}" in proc.stderr


def test_the_redactor_puts_names_back_but_leaves_short_values_and_histograms() -> None:
    from readiness.config.placeholders import Redactor

    redact = Redactor([("TOKEN", "a/b c+secret"), ("PORT", "80"), ("EMPTY", "")])
    data = {
        "error": "refused at http://h:80/?t=a%2Fb%20c%2Bsecret and a/b c+secret",
        "a/b c+secret": ["x a/b%20c%2Bsecret"],
        "histograms": {"corrected": "a/b c+secret"},
        "count": 80,
    }
    assert redact.scrub(data) == {
        "error": "refused at http://h:80/?t=${TOKEN} and ${TOKEN}",
        "${TOKEN}": ["x ${TOKEN}"],
        "histograms": {"corrected": "a/b c+secret"},
        "count": 80,
    }


def test_credentials_in_both_the_url_and_a_header_are_refused() -> None:
    from readiness.config import parse_suite
    from readiness.errors import ConfigError

    text = NOT_A_URL.replace("ftp://", "http://").replace(
        'url = "', 'headers = { Authorization = "Bearer x" }\nurl = "', 1
    )
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "suite.toml", environ=secrets())
    assert "both set the credentials" in caught.value.message
    assert caught.value.key == 'targets[0] (name="bad-url").headers'
