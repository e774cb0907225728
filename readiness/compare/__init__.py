"""Baseline comparison: block bootstrap over per-interval histograms, verdicts, baselines."""
