"""The load run's profile and report: the numbers the Locust shape follows and the table it is
judged by (the run itself is `make load`, minutes long, outside the suite)."""

import json

import pytest

from local.load import profile, report, verify
from local.stats import percentile


@pytest.mark.parametrize(
    ("elapsed", "phase", "rps"),
    [(0, "warm-up", 5), (59.9, "warm-up", 5), (60, "ramp", 10), (120, "ramp", 30), (180, "sustained", 50), (480, "peak", 100)],
)
def test_the_profile_gives_the_phase_and_rate_at_each_moment(elapsed, phase, rps):
    current, wanted = profile.at(profile.PHASES, elapsed)
    assert current.name == phase and wanted == pytest.approx(rps)


def test_the_profile_ends_after_cool_down_and_scales_in_time_only():
    assert profile.at(profile.PHASES, 599)[0].name == "cool-down" and profile.at(profile.PHASES, 600) is None
    quick = profile.scaled(0.1)
    assert sum(p.seconds for p in quick) == pytest.approx(60)
    assert profile.at(quick, 18)[0].name == "sustained" and profile.at(quick, 18)[1] == 50


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert [percentile(values, f) for f in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]
    assert percentile([], 0.5) == 0.0


def _samples(phase: str, times: list[float], failures: int = 0) -> list:
    return [(phase, "health", ms, i >= failures) for i, ms in enumerate(times)]


def test_each_phase_is_judged_against_its_own_targets():
    sustained, peak = profile.PHASES[2], profile.PHASES[3]
    fast = report.figures(_samples("sustained", [10.0] * 1000))
    assert report.verdict(sustained, fast) == "yes"
    slow_and_failing = report.figures(_samples("sustained", [10.0] * 900 + [150.0] * 100, failures=2))
    assert report.verdict(sustained, slow_and_failing) == "no (success 99.80% < 99.9%; p95 150 > 100 ms)"
    assert report.verdict(peak, report.figures(_samples("peak", [10.0] * 98 + [300.0] * 2))) == "no (p99 300 > 250 ms)"
    assert report.verdict(profile.PHASES[0], fast) == ""


def test_the_summary_has_a_row_per_phase_and_the_fault_section():
    phases = profile.scaled(0.1)
    samples = _samples("sustained", [20.0] * 1500) + _samples("peak", [400.0] * 600)
    checks = {
        "events": {
            "rows": {"slack": {"sent": 3, "missing": 0, "extra": 0, "duplicates": 1}},
            "drained_seconds": 1.0,
            "abandoned": 0,
        },
        "connections": {
            "statuses": {"active": 6},
            "reauth_reasons": {},
            "connections": 6,
            "undecryptable": 0,
            "not_honoured": 0,
            "cooling_down": 1,
        },
        "injection": {"injected": {"google.token": {"503": 2}}, "calls": {"google.token": 40}},
        "passed": True,
    }
    run = {"date": "2026-11-21", "machine": "2 cores", "scale": 0.1, "users": 2, "faults": True}
    text, met = report.render(run, phases, samples, checks)
    assert not met
    assert "| sustained | 30 | 50 | 50.0 | 1500 | 100.00 | 20 | 20 | 20 | ≥ 99.9%, p95 ≤ 100 ms | yes |" in text
    assert "| peak | 6 | 100 | 100.0 | 600 | 100.00 | 400 | 400 | 400 | ≥ 99.9%, p99 ≤ 250 ms | no (p99 400 > 250 ms) |" in text
    assert "| google.token | 40 | 2 | 0 | 0 |" in text and "| slack | 3 | 0 | 0 | 1 |" in text
    assert "still in a refresh cooldown after a failed refresh: 1" in text and "Verdict: every event processed" in text


def test_retryable_failures_are_counted_from_the_host_log(tmp_path):
    log = tmp_path / "host.log"
    lines = [
        {"message": "retryable failure; message will be redelivered", "function": "gmail_worker", "errorCode": "in_flight"},
        {"message": "retryable failure; message will be redelivered", "function": "gmail_worker", "errorCode": "in_flight"},
        {"message": "webhook handed off"},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    failures = report.retryable_failures(log)
    assert report.failure_lines(failures) == ["- gmail_worker: 2 retryable failures (in_flight 2), each one redelivered."]
    assert report.retryable_failures(tmp_path / "missing.log") == {}


def test_a_run_fails_when_a_consumer_dropped_a_message_or_nothing_was_sent(tmp_path):
    log = tmp_path / "host.log"
    dropped = {"message": "permanent failure; message acknowledged", "function": "slack_events_worker", "errorCode": "x"}
    log.write_text(json.dumps(dropped) + "\n" + json.dumps({"message": "message processed"}) + "\n")
    assert report.dropped_messages(log) == {"slack_events_worker": {"x": 1}}
    row = {"sent": 3, "duplicates": 0, "missing": 0, "extra": 0}
    events = {"rows": {"slack": row, "gmail": row, "calendar": row}, "abandoned": 0}
    connections = {"statuses": {"active": 3}, "reauth_reasons": {}, "undecryptable": 0, "not_honoured": 0}
    assert verify.passed(events, connections, {}, 0)
    assert not verify.passed(events, connections, report.dropped_messages(log), 0)
    assert not verify.passed(events, connections, {}, 1)
    assert not verify.passed({**events, "abandoned": 1}, connections, {}, 0)
    assert not verify.passed({**events, "rows": {**events["rows"], "gmail": {**row, "sent": 0}}}, connections, {}, 0)
