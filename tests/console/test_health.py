"""Recent error rates and latency percentiles, from the proxy's metrics and snapshots taken when asked."""

from __future__ import annotations

import pytest

from imagegen_proxy.insights.health import MIN_SPAN, WINDOW, HealthWindow, Totals, deployment_totals, quantile
from imagegen_proxy.metrics import ProxyMetrics

BUCKETS = ((0.1, 0.0), (0.5, 5.0), (1.0, 10.0), (float("inf"), 10.0))


def totals(attempts: float, errors: float = 0.0, fast: float = 0.0) -> dict[str, Totals]:
    """`attempts` answers, `fast` of them within 0.1 s and the others within 1 s."""
    buckets = ((0.1, fast), (1.0, attempts), (float("inf"), attempts))
    return {"d#1": Totals(buckets, attempts, errors)}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_quantile_is_interpolated_within_its_bucket() -> None:
    assert quantile(0.5, BUCKETS) == pytest.approx(0.5)
    assert quantile(0.75, BUCKETS) == pytest.approx(0.75)
    assert quantile(0.25, BUCKETS) == pytest.approx(0.3)


def test_no_observation_has_no_quantile() -> None:
    assert quantile(0.5, ((1.0, 0.0), (float("inf"), 0.0))) is None


def test_beyond_the_last_finite_bucket_the_quantile_is_that_bound() -> None:
    assert quantile(0.99, ((1.0, 1.0), (float("inf"), 10.0))) == 1.0


def test_deployment_totals_read_the_upstream_histogram_and_error_counter() -> None:
    metrics = ProxyMetrics()
    metrics.upstream_latency.labels("openai", "d#1").observe(0.2)
    metrics.upstream_latency.labels("openai", "d#1").observe(3)
    metrics.upstream_errors.labels("openai", "d#1", "500").inc()

    (found,) = deployment_totals(metrics.collect()).items()

    name, counts = found
    assert (name, counts.attempts, counts.errors) == ("d#1", 2, 1)
    assert dict(counts.buckets)[0.25] == 1


def test_until_a_snapshot_is_old_enough_figures_are_since_the_start() -> None:
    clock = Clock()
    window = HealthWindow(clock)
    clock.now += MIN_SPAN - 1

    recent = window.recent(totals(10, 2))

    assert recent.since == 1000.0
    assert recent.figures("d#1")["attempts"] == 10


def test_recent_figures_count_from_a_snapshot_taken_at_least_a_minute_before() -> None:
    clock = Clock()
    window = HealthWindow(clock)
    window.recent(totals(10, 2, fast=10))
    clock.now += MIN_SPAN

    figures = window.recent(totals(14, 6, fast=10)).figures("d#1")

    assert (figures["attempts"], figures["errors"], figures["error_rate"]) == (4, 4, 1.0)
    assert figures["latency_ms"]["p50"] > 100  # the 4 recent answers took over 0.1 s, the earlier 10 did not


def test_snapshots_older_than_the_window_are_let_go() -> None:
    clock = Clock()
    window = HealthWindow(clock)
    window.recent(totals(10))
    clock.now += WINDOW + 1
    window.recent(totals(20))
    clock.now += MIN_SPAN

    recent = window.recent(totals(25))

    assert recent.since == 1000.0 + WINDOW + 1
    assert recent.figures("d#1")["attempts"] == 5


def test_a_deployment_never_called_has_no_figures() -> None:
    figures = HealthWindow().recent({}).figures("unused")

    assert figures == {"attempts": 0, "errors": 0, "error_rate": None, "latency_ms": None}
