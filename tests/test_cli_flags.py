"""Every option given a wrong value exits 2 with the problem on one line (after click's usage
lines), and an unknown command suggests the nearest one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from readiness.cli import app
from readiness.errors import ConfigError
from readiness.reports.writer import parse_formats


def refused(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The line that says what is wrong; the run must exit 2 without a traceback."""
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    said = (
        "Error: ",
        "ConfigError: ",
        "OutputError: ",
        "readiness demo: error: ",
        "readiness proxy: error: ",
    )
    problem = [line for line in lines if line.startswith(said)]
    assert len(problem) == 1, result.stderr
    assert not result.stdout.strip()
    return problem[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--fail-under", "abc"], "'--fail-under'"),
        (["run", "--fail-under", "101"], "'--fail-under'"),
        (["run", "--fail-under", "-1"], "'--fail-under'"),
        (["run", "--fail-under", "nan"], "'--fail-under'"),
        (["run", "--fail-on", "maybe"], "'--fail-on'"),
        (["run", "--fail-on", ""], "'--fail-on'"),
        (["run", "-c", "missing.toml"], "missing.toml: no such file"),
        (["run", "-c", ""], "-c/--config: an empty path"),
        (["run", "-c", "folder"], "folder: cannot read the file"),
        (["run", "-c", "/dev/zero"], "/dev/zero: larger than 4 MiB"),
        (["report", "folder", "-c", "/dev/zero", "--out", "elsewhere"], "no such file"),
        (["run", "-s", "nope"], "-s/--scenario: no scenario named 'nope'"),
        (["run", "-s", ""], "-s/--scenario: no scenario named ''"),
        (["run", "--target", "nope"], "--target: no target named 'nope'"),
        (["run", "--out", ""], "--out: an empty path"),
        (["run", "--bogus"], "No such option: --bogus"),
        (["run", "--save-baseline", ""], "--save-baseline: an empty path"),
        (["run", "--save-baseline", "folder"], "--save-baseline: folder is a folder"),
        (["run", "--save-baseline", "/proc/nope/b.json"], "OutputError: cannot write /proc/nope"),
        (["run", "--coordinator", "abc"], "--coordinator: expected HOST:PORT, got 'abc'"),
        (["run", "--coordinator", "host:99999"], "--coordinator: expected HOST:PORT"),
        (["compare", "folder", "folder", "--seed", "-1"], "'--seed'"),
        (["demo", "--max-concurrent", "0"], "--max-concurrent: 0 is below 1"),
        (["run", "--out"], "'--out' requires an argument"),
        (["run", "-c", "folder", "extra"], "unexpected extra argument"),
        (["report"], "Missing argument 'path'"),
        (["report", "missing.json"], "missing.json: no such file"),
        (["report", "folder"], "no such file"),
        (["report", "folder", "--out", ""], "--out: an empty path"),
        (["report", "folder", "-c", ""], "-c/--config: an empty path"),
        (["report", "folder", "--fail-under", "z"], "'--fail-under'"),
        (["report", "folder", "--fail-on", "x"], "'--fail-on'"),
        (["report", "folder", "--bogus"], "No such option: --bogus"),
        (["--bogus"], "No such option: --bogus"),
        (["demo", "--http", "--port", "abc"], "argument --port: invalid int value: 'abc'"),
        (["demo", "--latency", "nonsense"], "--latency: 'nonsense' is not a latency spec"),
        (["demo", "--error-rate", "2"], "--error-rate: '2' is not a fraction"),
        (["proxy", "--fault", "nonsense", "--", "x"], "unknown fault type 'nonsense'"),
        (["proxy", "--upstream", "notaurl"], "--upstream: expected an http:// URL"),
        (["proxy", "--faults-file", "missing.toml", "--", "x"], "missing.toml: no such file"),
    ],
)
def test_a_wrong_option_value_exits_2_naming_the_option(
    args: list[str], words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "folder").mkdir()
    assert words in refused(args, tmp_path, monkeypatch)
    assert not (tmp_path / "reports").exists()


def test_report_refuses_an_unknown_format_by_name() -> None:
    for text in ("pdf", ",", "md,pdf"):
        with pytest.raises(ConfigError) as caught:
            parse_formats(text)
        assert caught.value.key == "--format"


@pytest.mark.parametrize(
    ("command", "nearest"),
    [("rn", "run"), ("runn", "run"), ("repor", "report"), ("rport", "report"), ("dmeo", "demo")],
)
def test_an_unknown_command_suggests_the_nearest(
    command: str, nearest: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = refused([command], tmp_path, monkeypatch)
    assert f"No such command '{command}'. Did you mean '{nearest}'?" in line
