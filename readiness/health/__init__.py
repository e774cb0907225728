"""The target's own health signals: its liveness, readiness and Prometheus metrics endpoints,
polled beside every scenario and set against what readiness measured."""
