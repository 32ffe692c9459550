"""Where a load run's time goes: the CPU each part of the stack used in each phase, in cores of the
machine. Sampled every second from /proc while the profile runs: each stack process with its
children (local/cpu_time.py) and the machine's busy time (/proc/stat), whose remainder is the load
generator and the OS. The phases are laid on the samples from the moment Locust's profile started
(its run time zero, which the locustfile records), and each phase is charged the CPU between the
samples nearest its two ends, divided by the time between them. When a latency target is missed,
this says whether the cores were full and who held them."""

import bisect
import os
import threading
import time

from local.cpu_time import process_tree_cpu_seconds
from local.load.profile import Phase

OTHERS = "Locust and the rest"
HTTP_HOST, CONSUMER_HOST = "host", "consumer host"  # the processes serving our functions, as the table names them
HOSTS = (HTTP_HOST, CONSUMER_HOST)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on this machine's work since boot: user, nice, system, irq and
    softirq (not idle, iowait, or steal, which is another guest's)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Samples `processes` ({name: pid}) and the machine every `interval` seconds until stopped."""

    def __init__(self, processes: dict[str, int], interval: float = 1.0):
        self.processes, self.interval, self.samples = processes, interval, []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[float, dict]:
        used = {"machine": machine_busy_seconds(), **{n: process_tree_cpu_seconds(p) for n, p in self.processes.items()}}
        return time.time(), used

    def _run(self) -> None:
        self.samples.append(self._sample())
        while not self._stopped.wait(self.interval):
            self.samples.append(self._sample())
        self.samples.append(self._sample())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _nearest(self, moment: float) -> tuple[float, dict]:
        times = [at for at, _ in self.samples]
        i = bisect.bisect_left(times, moment)
        candidates = [self.samples[j] for j in (i - 1, i) if 0 <= j < len(self.samples)]
        return min(candidates, key=lambda sample: abs(sample[0] - moment))

    def cores_per_phase(self, phases: tuple[Phase, ...], zero: float) -> list[tuple[Phase, dict]]:
        """Each phase with the cores each part used in it (2.0 on a 2-core machine is every core
        busy all the phase); `zero` is the wall-clock time the profile started."""
        rows, start = [], zero
        for phase in phases:
            (t0, before), (t1, after) = self._nearest(start), self._nearest(start + phase.seconds)
            start += phase.seconds
            if t1 <= t0:
                continue  # not sampled (the run stopped early)
            used = {name: (after[name] - before[name]) / (t1 - t0) for name in after}
            used[OTHERS] = max(0.0, used["machine"] - sum(v for n, v in used.items() if n != "machine"))
            rows.append((phase, used))
        return rows


def cpu_table(rows: list[tuple[Phase, dict]], names: list[str], requests_per_phase: dict[str, int]) -> list[str]:
    """Markdown rows: cores used per part and phase, and the function hosts' CPU milliseconds per
    request (the consumer host's with the HTTP host's, when there is one)."""
    shown = [*names, OTHERS]
    lines = [
        f"| phase | {' | '.join(shown)} | machine (of {os.cpu_count()} cores) | hosts' CPU ms per request |",
        "|---|" + "---|" * (len(shown) + 2),
    ]
    for phase, used in rows:
        requests = requests_per_phase.get(phase.name, 0)
        hosts = sum(used.get(name, 0.0) for name in HOSTS)
        host_ms = hosts * phase.seconds * 1000 / requests if requests else 0.0
        cells = " | ".join(f"{used[name]:.2f}" for name in shown)
        lines.append(f"| {phase.name} | {cells} | {used['machine']:.2f} | {host_ms:.1f} |")
    return lines
