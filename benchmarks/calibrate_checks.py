"""Do a short run's check verdicts hold up? (issue 9 §4 calibration)

    python benchmarks/calibrate_checks.py --trials 200

A simulated server with a known latency distribution (lognormal, median 10 ms, σ 0.5, so
p50 = 10 ms, p99 = 31.97 ms; requests independent) produces a short run (10 one-second
intervals × 100 requests) and a run ten times longer (100 × 100). Both are judged by the same
code `readiness run` uses (`scenario_figure_intervals` + `judged`: per-interval histograms,
order statistics and block bootstrap) against limits at 0.6× … 1.5× the true figure, for p50,
p99 and the mean. Reported per limit: how often the short run says pass / fail / inconclusive,
and of its pass and fail verdicts, how many agree with the long run's verdict on its own figure
(and with the truth).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from readiness.compare.uncertainty import judged, scenario_figure_intervals
from readiness.metrics.histogram import LatencyHistogram
from readiness.results import IntervalData, OperationIntervals

MEDIAN_MS, SIGMA = 10.0, 0.5
TRUE_S = {
    "p50": MEDIAN_MS / 1000,
    "p99": MEDIAN_MS * math.exp(SIGMA * 2.3263478740408408) / 1000,
    "mean": MEDIAN_MS * math.exp(SIGMA**2 / 2) / 1000,
}
FACTORS = (0.6, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5)


def _run(
    rng: np.random.Generator, intervals: int, per: int
) -> tuple[IntervalData, LatencyHistogram]:
    texts, whole = [], LatencyHistogram()
    for _ in range(intervals):
        hist = LatencyHistogram()
        hist.record_many(
            np.round(rng.lognormal(math.log(MEDIAN_MS * 1000), SIGMA, per)).astype(np.int64)
        )
        texts.append(hist.encode())
        whole.merge(hist)
    data = IntervalData(
        width_s=1,
        seconds=[1.0] * intervals,
        operations={
            "op": OperationIntervals(histograms=texts, ok=[per] * intervals, failed=[0] * intervals)
        },
    )
    return data, whole


def _observed(hist: LatencyHistogram, metric: str) -> float:
    if metric == "mean":
        return hist.mean_us / 1e6
    return hist.percentile_us(float(metric[1:])) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--short", type=int, default=10, help="intervals in the short run")
    parser.add_argument("--per-interval", type=int, default=100)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    counts: dict[tuple[str, float], dict[str, int]] = {}
    for _ in range(args.trials):
        short, short_hist = _run(rng, args.short, args.per_interval)
        long, long_hist = _run(rng, args.short * 10, args.per_interval)
        fs, fl = scenario_figure_intervals(short), scenario_figure_intervals(long)
        for metric, truth in TRUE_S.items():
            obs_s, obs_l = _observed(short_hist, metric), _observed(long_hist, metric)
            for factor in FACTORS:
                limit = truth * factor
                v_s, _ = judged(metric, "<", limit, obs_s, "seconds", fs[metric])
                v_l, _ = judged(metric, "<", limit, obs_l, "seconds", fl[metric])
                c = counts.setdefault((metric, factor), {})
                c[v_s] = c.get(v_s, 0) + 1
                if v_s != "inconclusive":
                    long_says = "pass" if obs_l < limit else "fail"
                    c["decided"] = c.get("decided", 0) + 1
                    c["agree_long"] = c.get("agree_long", 0) + (v_s == long_says)
                    c["agree_long_verdict"] = c.get("agree_long_verdict", 0) + (v_s == v_l)
                    truth_says = "pass" if truth < limit else "fail"
                    c["agree_truth"] = c.get("agree_truth", 0) + (v_s == truth_says)
    table: list[dict[str, Any]] = []
    for (metric, factor), c in counts.items():
        decided = c.get("decided", 0)
        table.append(
            {
                "metric": metric,
                "limit": f"{factor:g}x true",
                "pass": c.get("pass", 0) / args.trials,
                "fail": c.get("fail", 0) / args.trials,
                "inconclusive": c.get("inconclusive", 0) / args.trials,
                "agree_with_long_figure": c.get("agree_long", 0) / decided if decided else None,
                "same_verdict_as_long": c.get("agree_long_verdict", 0) / decided
                if decided
                else None,
                "agree_with_truth": c.get("agree_truth", 0) / decided if decided else None,
            }
        )
    decided = sum(c.get("decided", 0) for c in counts.values())
    overall = {
        "trials": args.trials,
        "short_requests": args.short * args.per_interval,
        "long_requests": args.short * 10 * args.per_interval,
        "decisive_short_verdicts": decided,
        "agree_with_long_figure": sum(c.get("agree_long", 0) for c in counts.values()) / decided,
        "agree_with_truth": sum(c.get("agree_truth", 0) for c in counts.values()) / decided,
    }
    print(json.dumps({"overall": overall, "by_limit": table}, indent=1))


if __name__ == "__main__":
    main()
