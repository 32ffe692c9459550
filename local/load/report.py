"""The load run's summary: per phase of the profile, the achieved rate, success and latency
percentiles of every request that started in it, judged against the phase's targets; per request
name the same figures; and what the fault run injected and observed. Pure: samples in, Markdown out."""

import collections
import contextlib
import csv
import dataclasses
import json
import pathlib

from local.load.profile import Phase
from local.stats import percentile

CHART = "latency.svg"  # written next to summary.md by local/load/__main__.py (local/load/chart.py)


@dataclasses.dataclass
class Figures:
    requests: int
    ok: int
    p50: float
    p95: float
    p99: float

    @property
    def success(self) -> float:
        return 100.0 * self.ok / self.requests if self.requests else 0.0


def read_samples(path: pathlib.Path) -> list[tuple[str, str, float, bool]]:
    """(phase, request name, milliseconds, succeeded) per request."""
    with path.open(newline="") as samples:
        return [(phase, name, float(ms), ok == "1") for phase, name, _, ms, ok in csv.reader(samples)]


def generator_errors(path: pathlib.Path) -> int:
    """Exceptions inside the load generator's scenarios (Locust's exceptions CSV): each is a scenario
    that did not run to its end, so the figures would understate the load."""
    if not path.exists():
        return 0
    with path.open(newline="") as rows:
        return sum(int(row["Count"]) for row in csv.DictReader(rows))


def figures(samples: list[tuple[str, str, float, bool]]) -> Figures:
    times = [ms for _, _, ms, _ in samples]
    return Figures(
        len(samples), sum(1 for *_, ok in samples if ok), percentile(times, 0.5), percentile(times, 0.95), percentile(times, 0.99)
    )


def verdict(phase: Phase, result: Figures) -> str:
    """'yes', 'no (what missed)', or '' for a phase without targets."""
    if not phase.has_targets:
        return ""
    misses = []
    if result.success < phase.min_success:
        misses.append(f"success {result.success:.2f}% < {phase.min_success}%")
    if phase.max_p95_ms is not None and result.p95 > phase.max_p95_ms:
        misses.append(f"p95 {result.p95:.0f} > {phase.max_p95_ms:.0f} ms")
    if phase.max_p99_ms is not None and result.p99 > phase.max_p99_ms:
        misses.append(f"p99 {result.p99:.0f} > {phase.max_p99_ms:.0f} ms")
    return "no (" + "; ".join(misses) + ")" if misses else "yes"


def _target(phase: Phase) -> str:
    parts = [f"≥ {phase.min_success}%"] if phase.has_targets else []
    parts += [f"p95 ≤ {phase.max_p95_ms:.0f} ms"] if phase.max_p95_ms is not None else []
    parts += [f"p99 ≤ {phase.max_p99_ms:.0f} ms"] if phase.max_p99_ms is not None else []
    return ", ".join(parts) or "–"


def _rps(phase: Phase) -> str:
    return f"{phase.start_rps:.0f}" if phase.start_rps == phase.end_rps else f"{phase.start_rps:.0f}→{phase.end_rps:.0f}"


def per_phase(phases: tuple[Phase, ...], samples: list) -> list[tuple[Phase, Figures]]:
    """Each phase with the figures of the requests that started in it (the table's and the chart's)."""
    return [(phase, figures([s for s in samples if s[0] == phase.name])) for phase in phases]


def phase_table(phases: tuple[Phase, ...], samples: list) -> tuple[list[str], bool]:
    """Markdown rows, and whether every phase with targets met them."""
    lines = [
        "| phase | seconds | target req/s | achieved req/s | requests | success % | p50 ms | p95 ms | p99 ms | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    all_met = True
    for phase, result in per_phase(phases, samples):
        met = verdict(phase, result)
        all_met &= met in ("", "yes")
        lines.append(
            f"| {phase.name} | {phase.seconds:.0f} | {_rps(phase)} | {result.requests / phase.seconds:.1f} | {result.requests} "
            f"| {result.success:.2f} | {result.p50:.0f} | {result.p95:.0f} | {result.p99:.0f} | {_target(phase)} | {met or '–'} |"
        )
    return lines, all_met


def request_table(samples: list) -> list[str]:
    lines = ["| request | count | success % | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for name in sorted({s[1] for s in samples}):
        result = figures([s for s in samples if s[1] == name])
        lines.append(
            f"| {name} | {result.requests} | {result.success:.2f} | {result.p50:.0f} | {result.p95:.0f} | {result.p99:.0f} |"
        )
    return lines


def events_table(events: dict) -> list[str]:
    lines = [
        "| events | handed to the gateway | effect missing | documents no event accounts for | duplicate deliveries sent |",
        "|---|---|---|---|---|",
    ]
    for kind, row in events["rows"].items():
        lines.append(f"| {kind} | {row['sent']} | {row['missing']} | {row['extra']} | {row['duplicates']} |")
    return lines


def redelivery_line(samples: list, abandoned: int) -> str:
    """What the consumers called directly answered: 5xx asks Pub/Sub (here the generator) to redeliver."""
    first = [s for s in samples if s[1] in ("gmail notification", "token read")]
    again = [s for s in samples if s[1].endswith("(redelivery)")]
    refused = sum(1 for *_, ok in first if not ok)
    return (
        f"- Consumer pushes: {len(first)} first deliveries, {refused} answered 5xx; {len(again)} redeliveries; "
        f"{abandoned} given up after every redelivery."
    )


DROPPED = ("permanent failure; message acknowledged", "message is not base64 JSON; dropped", "message too old; dropped")


def _consumer_lines(host_logs: tuple[pathlib.Path, ...], messages: tuple[str, ...]) -> dict[str, collections.Counter]:
    """function -> error code -> how many consumer log lines (the hosts' JSON logs) say one of `messages`."""
    counted = collections.defaultdict(collections.Counter)
    for line in (line for log in host_logs if log.exists() for line in log.read_text(errors="replace").splitlines()):
        if not any(f'"{message}' in line for message in messages):
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            counted[entry.get("function", "?")][entry.get("errorCode", entry["message"])] += 1
    return counted


def retryable_failures(*host_logs: pathlib.Path) -> dict[str, collections.Counter]:
    """How often each consumer answered "retry": every one is a redelivery, by the Pub/Sub emulator
    or by the generator."""
    return _consumer_lines(host_logs, ("retryable failure",))


def dropped_messages(*host_logs: pathlib.Path) -> dict[str, collections.Counter]:
    """Messages a consumer acknowledged without their effect (a permanent failure, a malformed or
    too old message): each is an event lost, whatever the documents say."""
    return _consumer_lines(host_logs, DROPPED)


def failure_lines(failures: dict[str, collections.Counter]) -> list[str]:
    return [
        f"- {function}: {sum(codes.values())} retryable failures ("
        + ", ".join(f"{code} {count}" for code, count in codes.most_common())
        + "), each one redelivered."
        for function, codes in sorted(failures.items())
    ]


def injected_lines(injection: dict) -> list[str]:
    lines = ["| provider endpoint | calls | 503 | 429 | latency |", "|---|---|---|---|---|"]
    for endpoint, calls in injection["calls"].items():
        kinds = injection["injected"].get(endpoint, {})
        lines.append(f"| {endpoint} | {calls} | {kinds.get('503', 0)} | {kinds.get('429', 0)} | {kinds.get('latency', 0)} |")
    return lines


def connections_lines(connections: dict) -> list[str]:
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(connections["statuses"].items()))
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(connections["reauth_reasons"].items())) or "none"
    return [
        f"- Connections: {connections['connections']} ({statuses}); needs_reauth reasons: {reasons}; "
        f"still in a refresh cooldown after a failed refresh: {connections['cooling_down']}.",
        f"- Connections whose tokens do not decrypt: {connections['undecryptable']}; whose tokens the provider no longer "
        f"honours (refresh token spent or unknown, access token unknown): {connections['not_honoured']}.",
    ]


def _layout(run: dict) -> str:
    workers = f"{run.get('workers', 1)} worker process(es)"
    if run.get("one_host", True):
        return f"every function on one host with {workers}"
    return f"the HTTP functions on one host and the Pub/Sub consumers on another, each with {workers}"


def render(
    run: dict, phases: tuple[Phase, ...], samples: list, checks: dict | None, cpu: list[str] | None = None
) -> tuple[str, bool]:
    """summary.md, and whether the targets were met. `run`: machine, date, scale, users, faults;
    `checks`: events, connections and (in a fault run) injection; `cpu`: the rows of the CPU per
    phase (local/load/cpu_share.py)."""
    rows, met = phase_table(phases, samples)
    title = "with provider faults injected" if run["faults"] else "without faults"
    text = [
        f"# Load run {title}",
        "",
        f"{run['date']}, {run['machine']}; profile scale {run['scale']}, {run['users']} seeded users "
        f"(each with Slack, Gmail and Calendar connected), {_layout(run)}. Locust's report with its charts: `locust.html`.",
        "",
        *(
            [f"**{run['generator_errors']} scenarios failed inside the load generator** (see `locust_exceptions.csv`).", ""]
            if run.get("generator_errors")
            else []
        ),
        "## Per phase",
        "",
        *rows,
        "",
        f"![Latency per phase against its targets]({CHART})",
        "",
        f"Targets {'met' if met else 'not met'}."
        + (
            " In a fault run they are for information: the consumers called directly "
            "answer 5xx while the provider fails, by design, so that Pub/Sub redelivers."
            if run["faults"]
            else ""
        ),
        "",
        *(
            [
                "## CPU per phase, in cores",
                "",
                "What each process (with its children) used of the machine's cores in each phase: "
                "/proc sampled every second, each phase charged the CPU between the samples nearest its "
                "ends on the profile's own clock; the rest of the machine's busy time is the load "
                "generator and the OS.",
                "",
                *cpu,
                "",
            ]
            if cpu
            else []
        ),
        "## Per request",
        "",
        *request_table(samples),
    ]
    if checks:
        text += ["", "## Effects after draining", ""]
        if "injection" in checks:
            text += ["Injected by the sandbox (standing faults on every provider call the load reaches):", ""]
            text += injected_lines(checks["injection"]) + [""]
        text += events_table(checks["events"])
        text += ["", f"Drained in {checks['events']['drained_seconds']} s after the last request.", ""]
        text += [redelivery_line(samples, checks["events"]["abandoned"]), *failure_lines(checks.get("failures", {}))]
        dropped = checks.get("dropped", {})
        text += [f"- Messages a consumer acknowledged without their effect: {sum(sum(c.values()) for c in dropped.values())}."]
        text += connections_lines(checks["connections"])
        text += [
            "",
            f"Verdict: {'every event processed, no second effect, every token intact' if checks['passed'] else 'FAILED'}.",
        ]
    return "\n".join(text) + "\n", met
