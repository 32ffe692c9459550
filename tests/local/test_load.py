"""The load run's profile and report: the numbers the Locust shape follows and the table it is
judged by (the run itself is `make load`, minutes long, outside the suite)."""

import heapq
import itertools
import json
import random
from xml.etree import ElementTree

import pytest

from local.load import chart, cpu_share, pacing, profile, progress, report, verify
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


def test_progress_gives_each_phase_its_rate_and_the_failures_so_far():
    phases = profile.scaled(0.1)  # warm-up 6 s, ramp 12 s, sustained 30 s, peak 6 s, cool-down 6 s
    shown = progress.Progress(phases)
    for ok in [True] * 28 + [False, False]:
        shown.record(4.0, ok)
    lines, running = shown.report(5.0)
    assert running and lines == ["[warm-up 5/6s] 6.0 req/s (profile 5), 30 requests, 2 failed in this phase, 2 failed so far"]
    shown.record(7.0, False)
    lines, running = shown.report(25.0)  # warm-up and ramp ended since: their last lines, then sustained's
    assert running and lines == [
        "[warm-up done] 5.0 req/s (profile 5), 30 requests, 2 failed in this phase, 3 failed so far",
        "[ramp done] 0.1 req/s (profile 10→50), 1 requests, 1 failed in this phase, 3 failed so far",
        "[sustained 7/30s] 0.0 req/s (profile 50), 0 requests, 0 failed in this phase, 3 failed so far",
    ]
    shown.record(75.0, True)  # answered after the profile's end: counted in its last phase
    lines, running = shown.report(61.0)
    assert lines[-1].startswith("[cool-down done] 0.2 req/s (profile 10), 1 requests")
    assert not running and [line.split("]")[0] for line in lines] == ["[sustained done", "[peak done", "[cool-down done"]


def test_the_chart_draws_three_bars_per_phase_and_each_latency_target():
    phases = profile.scaled(0.1)
    samples = _samples("sustained", [20.0] * 90 + [80.0] * 10) + _samples("peak", [400.0] * 60)
    svg = chart.latency_svg(report.per_phase(phases, samples), "Latency per phase")
    root = ElementTree.fromstring(svg)  # well-formed SVG
    ns = {"svg": "http://www.w3.org/2000/svg"}
    bars = root.findall("svg:rect[@class='bar']", ns)
    assert len(bars) == 3 * len(phases)
    heights = {(b.get("data-phase"), b.get("data-figure")): float(b.get("height")) for b in bars}
    assert heights[("sustained", "p50")] < heights[("sustained", "p95")] == heights[("sustained", "p99")]
    assert heights[("peak", "p99")] > heights[("sustained", "p99")]
    targets = [line.find("svg:title", ns).text for line in root.findall("svg:line[@class='target']", ns)]
    assert targets == ["sustained target: p95 ≤ 100 ms", "peak target: p99 ≤ 250 ms"]
    text, _ = report.render(
        {"date": "2026-12-04", "machine": "2 cores", "scale": 0.1, "users": 2, "faults": False}, phases, samples, None
    )
    assert f"![Latency per phase against its targets]({report.CHART})" in text


def test_the_cpu_of_a_busy_process_is_charged_to_its_phase_in_cores():
    """Two phases of a second: a child process spins for the first half of the first (started on a
    signal, so its start-up is outside both) and sleeps through the second; the report charges it
    CPU in the first phase, next to none in the second, and the machine at least as much."""
    import subprocess
    import sys
    import time

    phases = (profile.Phase("busy", 1.0, 1, 1), profile.Phase("idle", 1.0, 1, 1))
    spin = "import sys, time\nsys.stdin.readline()\nend = time.time() + 0.5\nwhile time.time() < end: pass\ntime.sleep(5)"
    spinner = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE, text=True)
    sampler = cpu_share.CpuSampler({"host": spinner.pid}, interval=0.05)
    try:
        sampler.start()
        time.sleep(0.5)  # the interpreter has started and waits for the signal
        zero = time.time()
        spinner.stdin.write("go\n")
        spinner.stdin.flush()
        time.sleep(2.2)
    finally:
        sampler.stop()
        spinner.kill()
    (busy, used_busy), (idle, used_idle) = sampler.cores_per_phase(phases, zero)
    assert (busy.name, idle.name) == ("busy", "idle")
    assert used_busy["host"] > 0.1 and used_idle["host"] < used_busy["host"] / 4
    assert used_busy["machine"] >= used_busy["host"] - 0.05 and used_busy[cpu_share.OTHERS] >= 0
    rows = cpu_share.cpu_table([(busy, used_busy), (idle, used_idle)], ["host"], {"busy": 100, "idle": 0})
    assert rows[0].startswith("| phase | host | Locust and the rest | machine (of ")
    busy_ms = float(rows[2].split(" | ")[-1].rstrip(" |"))
    assert rows[2].startswith("| busy |") and busy_ms == pytest.approx(used_busy["host"] * 10, abs=0.06)


def test_cpu_per_request_counts_both_function_hosts():
    phase = profile.Phase("sustained", 10, 50, 50)
    used = {"host": 0.2, "consumer host": 0.3, "sandbox": 0.1, cpu_share.OTHERS: 0.0, "machine": 0.6}
    rows = cpu_share.cpu_table([(phase, used)], ["host", "consumer host", "sandbox"], {"sustained": 100})
    assert rows[2].endswith("| 0.60 | 50.0 |")  # (0.2 + 0.3) cores over 10 s, per request of 100


def _scenario_starts(users: int, task_seconds, until: float, period: float = 2.0, stall=None) -> list[list[float]]:
    """Each user's scenario starts under Pacing, all created at 0 on a shared fake clock, each
    scenario taking `task_seconds` (a list: per scenario, in turn) before the user asks for its wait;
    `stall` (from, to): every scenario started in it is answered at `to`."""
    now = [0.0]
    pacers = [pacing.Pacing(period, clock=lambda: now[0], rng=random.Random(n)) for n in range(users)]
    queue = [(pacers[n].wait(), n, 0) for n in range(users)]
    starts: list[list[float]] = [[] for _ in range(users)]
    heapq.heapify(queue)
    while queue:
        start, n, done = heapq.heappop(queue)
        if start >= until:
            continue
        starts[n].append(start)
        took = task_seconds[done % len(task_seconds)] if isinstance(task_seconds, list) else task_seconds
        now[0] = stall[1] if stall and stall[0] <= start < stall[1] else start + took
        heapq.heappush(queue, (now[0] + pacers[n].wait(), n, done + 1))
    return starts


def test_users_created_together_start_their_scenarios_spread_over_the_period():
    """Locust's constant_throughput brought 20 users created together back to one instant every
    period (all 20 of a later period's starts within 0.000 s): the rate arrived as bursts."""
    later = sorted(s for user in _scenario_starts(20, 0.05, until=12) for s in user if 10 <= s < 12)
    assert len(later) == 20
    assert later[-1] - later[0] > 1.0
    assert max(sum(1 for s in later if t <= s < t + 0.1) for t in later) <= 4


def test_a_user_keeps_its_period_and_a_late_scenario_is_not_made_up_with_a_burst():
    (steady,) = _scenario_starts(1, 0.3, until=9)
    assert [round(b - a, 6) for a, b in itertools.pairwise(steady)] == [2.0] * (len(steady) - 1)
    (late,) = _scenario_starts(1, [0.1, 5.0, 0.1, 0.1], until=16)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(late)]
    # after the slow one: at once (7 s), then its own next slot (8 s), not two to make up for it
    assert gaps[:4] == [2.0, 5.0, 1.0, 2.0]
    assert all(round((start - late[0]) % 2.0, 6) in (0.0, 2.0) for start in late if start != late[0] + 7.0)


def test_users_held_up_together_come_back_on_their_own_phases():
    """A stall answers every scenario started between 10 s and 20 s at 20 s; restarting each user's
    period from its answer put all 20 on one phase for good (20 starts in one 0.1 s slot every period)."""
    starts = _scenario_starts(20, 0.05, until=32, stall=(10, 20))
    later = sorted(s for user in starts for s in user if 30 <= s < 32)
    assert len(later) == 20 and max(sum(1 for s in later if t <= s < t + 0.1) for t in later) <= 4
