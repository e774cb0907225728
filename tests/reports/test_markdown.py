from __future__ import annotations

import re

import pytest

from readiness.reports import format as fmt
from readiness.reports.markdown import render_markdown
from tests.reports import load_sample, with_dead_server


@pytest.fixture(scope="module")
def report() -> str:
    return render_markdown(load_sample())


def section(text: str, heading: str) -> str:
    """The text from a heading to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    body = start + len(heading) + 1
    end = re.search(rf"^#{{1,{len(level)}}} ", text[body:], re.M)
    return text[start : body + end.start()] if end else text[start:]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_executive_summary_comes_first_with_score_status_counts_and_deductions(
    report: str,
) -> None:
    summary = section(report, "## Executive summary")
    assert report.index("## Executive summary") < report.index("## Results by category")
    assert (
        "**Score: 97.9/100 — READY** · checks passed 3/4 · scenarios passed 1/2 · run ❌ failed"
        in summary
    )
    assert "- throughput: success_rate 98.90% vs >= 99%: −2.1 points" in summary
    assert "Not assessed (left out of the score): Stability, Fault tolerance, Recovery," in summary
    assert "may have been the bottleneck" in summary


def test_target_line_names_transport_command_protocol_and_server(report: str) -> None:
    command = "python -m readiness.demo --latency lognormal:median=3ms,p99=40ms --error-rate 0.01"
    row = f"| demo | stdio | `{command}` | 2025-11-25 (configured: auto) | readiness-demo 0.1.0 |"
    assert row in report
    assert "Started 2026-09-14 09:30:02 UTC · finished 2026-09-14 09:31:11 UTC · took 69.5 s" in (
        report
    )


def test_summary_table_has_one_row_per_scenario_with_its_figures(report: str) -> None:
    rows = table_rows(section(report, "## Results by category"))
    rows = rows[rows.index(["---"] * 4 + ["---:"] * 6) - 1 :]
    assert rows[2] == [
        "throughput", "throughput", "demo", "❌ failed", "8,000", "98.90%", "197.8", "3.12",
        "42.13", "2/3",
    ]  # fmt: skip
    assert rows[3][0] == "scaling"
    assert rows[3][4:] == ["54,220", "99.90%", "2,166.7", "4.31", "66.40", "1/1"]


def test_failed_check_is_marked_failed_with_observed_value_in_its_unit(report: str) -> None:
    checks = section(report, "### Performance: 96.7/100")
    assert (
        "| throughput | demo | `success_rate >= 99%` | 98.90% | `>= 99%` | ❌ FAIL | −2.1 |"
        in checks
    )
    assert "| throughput | demo | `p99 < 500ms` | 42.13 ms | `< 500 ms` | ✅ PASS | 0 |" in checks
    assert "| throughput | demo | `throughput > 100/s` | 197.8/s | `> 100/s` | ✅ PASS | 0 |" in (
        checks
    )
    assert checks.count("FAIL") == 1


def test_throughput_table_shows_error_classes_codes_and_nonzero_send_counters(
    report: str,
) -> None:
    table = section(section(report, "## Scenario: throughput"), "### Throughput")
    assert "| | all operations | echo | status |" in table
    assert "| JSON-RPC error codes | -32603 ×3 | -32603 ×2 | -32603 ×1 |" in table
    assert "| Late sends | 14 | 13 | 1 |" in table
    assert "| Cancelled at deadline | 3 | 2 | 1 |" in table
    assert "Dropped sends" not in table  # zero in this scenario
    assert "| Throughput (req/s) | 197.8 | 178.0 | 19.8 |" in table


def test_latency_table_has_corrected_and_uncorrected_rows_per_operation(report: str) -> None:
    latency = section(section(report, "## Scenario: throughput"), "### Latency distribution")
    corrected = (
        "| status | intended start | 791 | 2.71 | 9.14 | 13.82 | 47.25 | 102.9 | 102.9 | 4.77 |"
    )
    uncorrected = (
        "| status | actual send | 791 | 2.66 | 8.97 | 12.95 | 40.06 | 88.14 | 88.14 | 4.52 |"
    )
    assert corrected in latency
    assert uncorrected in latency
    assert "| all operations | intended start | 7,912 | 3.12 |" in latency
    assert "corrected for coordinated omission" in latency
    time_to_fail = "| time to fail | 85 | 2.87 | 7.91 | 9.44 | 10,004 | 10,004 | 10,004 | 238.6 |"
    assert time_to_fail in latency


def test_closed_model_latency_says_it_does_not_correct_for_coordinated_omission(
    report: str,
) -> None:
    latency = section(section(report, "## Scenario: scaling"), "### Latency distribution")
    assert "the closed model does not correct for coordinated omission" in latency
    assert "intended start" not in latency
    row = "| echo | send | 54,167 | 4.31 | 17.20 | 33.85 | 66.40 | 141.3 | 203.7 | 8.64 |"
    assert row in latency


def test_scaling_table_knee_and_peak_come_from_the_results(report: str) -> None:
    scaling = section(section(report, "## Scenario: scaling"), "### Scaling")
    assert "| 4 | 25 | 5.0 s | 16,545 | 99.90% | 3,305.6 | 7.55 | 24.62 | 44.8% |" in scaling
    assert "| 1 | 1 | 5.0 s | 1,477 | 99.93% | 295.2 | 3.38 | 8.91 | 100.0% |" in scaling
    assert (
        "Throughput stopped scaling after concurrency 25: throughput grew 1.1% from concurrency"
        " 25 (3306/s) to 50 (3342/s), less than the 10% a step must add." in scaling
    )
    assert "Peak throughput: 3,342.2 req/s at concurrency 50." in scaling


def test_long_timeline_is_thinned_and_summarised_by_sparklines(report: str) -> None:
    timeline = section(section(report, "## Scenario: throughput"), "### Timeline")
    assert "Every 2nd second of 40 is shown" in timeline
    rows = table_rows(timeline)[2:]
    assert [r[0] for r in rows] == [str(t) for t in range(0, 40, 2)] + ["39"]
    assert "| 18 | 200 | 270 | 4 | 5 | 0 | 270.0 | 4.71 | 31.70 | 88.90 |" in timeline
    sparks = re.findall(r"^(req/s|p99 ms) +([▁▂▃▄▅▆▇█ ]+)  max (\S+)$", timeline, re.M)
    assert [(name, len(bars), top) for name, bars, top in sparks] == [
        ("req/s", 40, "270.0"),
        ("p99 ms", 40, "180.2"),
    ]


def test_short_timeline_has_one_row_per_second(report: str) -> None:
    timeline = section(section(report, "## Scenario: scaling"), "### Timeline")
    assert "One row per second" in timeline
    assert len(table_rows(timeline)) == 2 + 25
    assert "req/s   " not in timeline


def test_a_scaling_timeline_shows_each_second_as_its_steps_not_as_one_load(report: str) -> None:
    timeline = section(section(report, "## Scenario: scaling"), "### Timeline")
    assert "The steps are separate loads" in timeline
    rows = table_rows(timeline)
    assert rows[0][:2] == ["Step", "t (s)"]
    steps = [row[0] for row in rows[2:]]
    assert steps[:5] == ["1 (concurrency 1)"] * 5
    assert steps[5] == "2 (concurrency 5)"
    assert steps[-1] == "5 (concurrency 50)"


def test_a_timeline_without_steps_has_no_step_column(report: str) -> None:
    timeline = section(section(report, "## Scenario: throughput"), "### Timeline")
    assert "Step" not in table_rows(timeline)[0]


def test_saturated_generator_gets_a_warning_with_its_reason(report: str) -> None:
    # Once in the executive summary, once in the scenario it concerns.
    assert report.count("may have been the bottleneck") == 2
    generator = section(section(report, "## Scenario: scaling"), "### Load generator")
    assert "The generator used 97% of one core during step 5 (concurrency 50)" in generator
    assert "| 21.73 s | 262.9 µs | 85.8% | 41.80 ms | 18.20 ms | 74.2 MiB |" in generator


def test_environment_and_method_are_reported(report: str) -> None:
    environment = section(report, "## Environment")
    assert "| ci-runner-7 | Linux-6.8.0-1021-azure-x86_64-with-glibc2.39 | 3.11.9 | 2 |" in (
        environment
    )
    assert "| hdrhistogram | 0.10.3 |" in environment
    method = section(report, "## Method")
    assert "**scaling** — closed model, latency not corrected" in method
    assert "never averaged" in method
    assert "traceable to results.json" in method
    # Only the circuit breaker refuses a request; the rate limiter makes it wait.
    assert "refused by readiness's own circuit breaker" in method
    assert "limiter makes a request wait, it never refuses one" in method


def test_every_table_row_has_as_many_cells_as_its_header(report: str) -> None:
    tables: list[list[str]] = []
    previous = ""
    for line in report.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    assert len(tables) > 15
    for table in tables:
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in table}
        assert len(widths) == 1, table


def test_the_report_ends_with_one_newline_and_never_says_none(report: str) -> None:
    assert report.endswith(".\n")
    assert not report.endswith("\n\n")
    assert "None" not in report
    assert "\n\n\n" not in report


def test_missing_values_render_as_a_dash() -> None:
    result = load_sample()
    result["run"]["finished_at"] = None
    throughput = result["scenarios"][0]
    throughput["operations"][1]["latency_ms"]["p999"] = None
    throughput["checks"][1]["observed"] = None
    throughput["generator"]["cpu_us_per_request"] = None
    result["targets"][0]["protocol_version"] = None
    report = render_markdown(result)
    assert "None" not in report
    assert "· finished — · took — ·" in report
    row = "| status | intended start | 791 | 2.71 | 9.14 | 13.82 | 47.25 | — | 102.9 | 4.77 |"
    assert row in report
    check = "| throughput | demo | `p99 < 500ms` | not measured | `< 500 ms` | ✅ PASS | 0 |"
    assert check in report
    assert "| 1.84 s | — µs |" in report
    assert "| — (configured: auto) |" in report


def test_unmeasured_server_partial_run_and_error_are_stated() -> None:
    result = load_sample()
    scenario = result["scenarios"][0]
    scenario["server"]["measured"] = False
    scenario["server"]["reason"] = "the target is a URL we did not start"
    scenario["partial"] = True
    scenario["status"] = "error"
    scenario["error"] = "server exited with code 1"
    report = section(render_markdown(result), "## Scenario: throughput")
    assert "Not measured: The target is a URL we did not start." in report
    assert "> **Partial result:**" in report
    assert "3 request(s) still in flight were cancelled" in report
    assert "> **Error:** Server exited with code 1." in report


def test_free_text_cannot_break_a_table_or_inject_html() -> None:
    result = load_sample()
    result["targets"][0]["name"] = "evil | <script>alert(1)</script>"
    result["scenarios"][0]["checks"][0]["expression"] = "a | b"
    report = render_markdown(result)
    assert "| evil \\| &lt;script>alert(1)&lt;/script> | stdio |" in report
    assert "`a \\| b`" in report
    assert "<script>" not in report


def test_a_run_without_checks_or_scaling_summary_still_renders() -> None:
    result = load_sample()
    for scenario in result["scenarios"]:
        scenario["checks"] = []
    del result["scenarios"][1]["scaling"]
    report = render_markdown(result)
    assert "**Score: none — NOT READY** · checks passed 0/0" in report
    assert "Nothing was assessed, so there is no score." in report
    assert "| 5 | 50 | 5.0 s |" in report
    assert "stopped scaling" not in report


def test_knee_on_the_last_step_says_throughput_kept_growing() -> None:
    result = load_sample()
    scaling = result["scenarios"][1]["scaling"]
    scaling["knee_index"] = 4
    scaling["knee_level"] = 50.0
    scaling["knee_reason"] = "throughput still grew at the last step (concurrency 50)"
    assert fmt.knee_sentence(result["scenarios"][1]) == (
        "Throughput kept growing up to concurrency 50, the last step: throughput still grew"
        " at the last step (concurrency 50)."
    )
    scaling["knee_index"] = scaling["knee_level"] = None
    scaling["knee_reason"] = "no step completed"
    assert fmt.knee_sentence(result["scenarios"][1]) == "No knee found: no step completed."


# --- formatting helpers ------------------------------------------------------------------


def test_sparkline_scales_from_zero_to_the_maximum() -> None:
    assert fmt.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert fmt.sparkline([1, None, 2]) == "▄ █"
    assert fmt.sparkline([0, 0, 0]) == "▁▁▁"
    assert fmt.sparkline([]) == ""


def test_sparkline_narrowed_keeps_the_peak_of_each_slice() -> None:
    assert fmt.sparkline([1, 1, 8, 1], width=2) == "▁█"
    assert fmt.sparkline([None, None, 4, 4], width=2) == " █"


def test_percent_never_rounds_a_failure_to_100_or_a_success_to_0() -> None:
    assert fmt.percent(0.99996) == ">99.99%"
    assert fmt.percent(1.0) == "100.00%"
    assert fmt.percent(0.00001) == "<0.01%"
    assert fmt.percent(0.0) == "0.00%"
    assert fmt.percent(0.9352, 1) == "93.5%"
    assert fmt.percent(None) == "—"


def test_observed_values_are_shown_in_the_checks_unit() -> None:
    assert fmt.observed(0.04213, "seconds") == "42.13 ms"
    assert fmt.observed(0.989, "ratio") == "98.90%"
    assert fmt.observed(197.8, "per_second") == "197.8/s"
    assert fmt.observed(None, "ratio") == "—"


def test_milliseconds_keep_about_three_significant_digits() -> None:
    assert [fmt.ms(v) for v in (0.4127, 3.1, 42.134, 118.74, 10004.0)] == [
        "0.413", "3.10", "42.13", "118.7", "10,004",
    ]  # fmt: skip


def test_durations_read_as_a_person_would_say_them() -> None:
    assert [fmt.duration(v) for v in (0.5, 69.54, 125, 3725)] == [
        "0.5 s", "69.5 s", "2 min 05 s", "1 h 02 min",
    ]  # fmt: skip


def test_thin_picks_every_nth_row_and_always_the_last() -> None:
    assert fmt.thin(list(range(30))) == (list(range(30)), 1)
    assert fmt.thin(list(range(31))) == ([*range(0, 31, 2)], 2)
    assert fmt.thin(list(range(40))) == ([*range(0, 40, 2), 39], 2)
    assert fmt.thin(list(range(100)))[1] == 4


def test_a_scenario_where_every_request_failed_renders_dashes_not_zeros() -> None:
    report = render_markdown(with_dead_server(load_sample()))
    throughput = section(report, "## Scenario: throughput")
    assert "| all operations | intended start | 0 | — | — | — | — | — | — | — |" in throughput
    assert "p99 ms  " + " " * 40 + "  max —" in throughput
    assert "req/s   " + "▁" * 40 + "  max 0.0" in throughput
    assert "| 0 | 200 | 0 | 2 | 0 | 0 | 0.00 | — | — | — |" in throughput


def test_each_explanation_is_said_once_however_many_scenarios_share_it() -> None:
    from tests.reports import load_all_kinds, scored

    result = scored(load_all_kinds())
    report = render_markdown(result)
    method = report[report.index("## Method") :]
    closed = [s["name"] for s in result["scenarios"] if s["method"]["model"] == "closed"]
    assert len(closed) > 1
    assert report.count(result["scenarios"][0]["method"]["note"]) == 1
    assert f"- **{', '.join(closed)}** — closed model" in method
    assert report.count("An outage fault (kill, disconnect") == 1
    assert "- **Faults.** An outage fault" in method
    # Markdown needs a blank line before a heading that follows a table.
    lines = report.split("\n")
    assert [h for i, h in enumerate(lines) if h.startswith("#") and lines[i - 1].strip()] == []


def test_a_latency_caption_blames_the_closed_model_only_for_a_closed_model() -> None:
    result = load_sample()
    scenario = result["scenarios"][0]
    scenario["method"]["model"] = "open"  # an open pace whose latency runs from the send
    scenario["method"]["corrected"] = False
    report = render_markdown(result)
    section = report[report.index("## Scenario: throughput") : report.index("### Timeline")]
    assert "closed model" not in section
    assert "measured from the actual send: not corrected for coordinated omission" in section


def test_a_phase_without_a_success_has_no_p99_rather_than_a_dash_in_ms() -> None:
    from readiness.reports.html import render_html
    from tests.reports import load_all_kinds, scored

    result = scored(load_all_kinds())
    chaos = next(s for s in result["scenarios"] if s["kind"] == "recovery")["chaos"]
    chaos["operations"][0]["during"]["p99_ms"] = None
    for report in (render_markdown(result), render_html(result)):
        assert "no p99 (no success)" in report
        assert f"p99 {fmt.DASH} ms" not in report
