from __future__ import annotations

import io
import re
import subprocess
import sys

from rich.console import Console

from readiness.engine.progress import Progress
from readiness.live import LineDisplay, LiveDisplay, choose_display, fraction_done

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def snapshot(**changes: object) -> Progress:
    fields: dict[str, object] = {
        "scenario": "throughput",
        "kind": "throughput",
        "target": "demo",
        "phase": "step 3/5 (concurrency 10)",
        "elapsed_s": 12.4,
        "planned_s": 40.0,
        "planned_requests": None,
        "sent": 2480,
        "ok": 2455,
        "errors": 25,
        "in_flight": 7,
        "rps": 198.0,
        "p50_ms": 3.12,
        "p99_ms": 42.13,
    }
    fields.update(changes)
    return Progress(**fields)  # type: ignore[arg-type]


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, color_system=None, width=100), out


def lines(out: io.StringIO) -> list[str]:
    return [line.rstrip() for line in ANSI.sub("", out.getvalue()).splitlines() if line.strip()]


def test_live_display_shows_the_latest_snapshot() -> None:
    console, out = terminal()
    with LiveDisplay(console) as display:
        display.update(snapshot(sent=1, ok=1))
        display.update(snapshot())
    shown = "\n".join(lines(out))
    assert "throughput · throughput · target demo · step 3/5 (concurrency 10)" in shown
    assert " 31% 12.4 s / 40 s" in shown
    figures = re.search(r"^ *2,480 +2,455 +25 +7 +198\.0 +3\.12 +42\.13$", shown, re.M)
    assert figures is not None, shown


def test_live_display_keeps_finished_scenario_lines_and_drops_their_panel() -> None:
    console, out = terminal()
    with LiveDisplay(console) as display:
        display.update(snapshot())
        display.scenario_done("throughput [failed] 8,000 sent, p99 42.13 ms")
        display.update(snapshot(scenario="scaling", kind="scaling"))
        display.scenario_done("scaling [passed] 54,220 sent")
    shown = lines(out)
    assert "throughput [failed] 8,000 sent, p99 42.13 ms" in shown
    assert shown[-1] == "scaling [passed] 54,220 sent"


def test_live_display_shows_a_panel_per_target_of_a_fleet_run_side_by_side() -> None:
    console, out = terminal()
    with LiveDisplay(console) as display:
        display.update(snapshot(target="fast"))
        display.update(snapshot(target="slow", sent=92))
        display.update(snapshot(target="fast", sent=1820))
    fast, fast_figures, slow, slow_figures = [
        line for line in lines(out)[-8:] if "target" in line or re.match(r"^ *[\d,]+ ", line)
    ]
    assert ("target fast" in fast, "target slow" in slow) == (True, True)
    assert fast_figures.split()[0] == "1,820"  # its latest snapshot
    assert slow_figures.split()[0] == "92"


def test_unknown_plan_and_missing_percentiles_show_no_bar_percentage_and_dashes() -> None:
    console, out = terminal()
    with LiveDisplay(console) as display:
        display.update(snapshot(planned_s=None, p50_ms=None, p99_ms=None))
    shown = "\n".join(lines(out))
    assert "%" not in shown
    assert re.search(r"198\.0 +— +—$", shown, re.M), shown


def test_progress_is_measured_by_duration_else_by_requests() -> None:
    assert fraction_done(snapshot(elapsed_s=10.0, planned_s=40.0)) == 0.25
    assert fraction_done(snapshot(planned_s=None, planned_requests=1000, sent=500)) == 0.5
    assert fraction_done(snapshot(elapsed_s=45.0, planned_s=40.0)) == 1.0
    assert fraction_done(snapshot(planned_s=None, planned_requests=None)) is None


def test_line_display_prints_only_one_line_per_finished_scenario() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100)
    with LineDisplay(console) as display:
        for _ in range(3):
            display.update(snapshot())
        display.scenario_done("throughput [failed] 8,000 sent")
        display.update(snapshot(scenario="scaling"))
        display.scenario_done("scaling [passed] 54,220 sent")
    assert out.getvalue() == "throughput [failed] 8,000 sent\nscaling [passed] 54,220 sent\n"


def test_quiet_always_chooses_the_line_display() -> None:
    assert isinstance(choose_display(quiet=True), LineDisplay)


def test_importing_the_display_module_does_not_import_rich() -> None:
    code = "import sys, readiness.live; print(sorted(m for m in sys.modules if 'rich' in m))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
