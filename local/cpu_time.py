"""CPU seconds used by a process and its descendants (a gunicorn master and its workers), read from
/proc: what a benchmark charges to the requests a host served."""

import os
import pathlib


def _stat(pid: int) -> tuple[int, float] | None:
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # ppid; utime + stime, and cutime + cstime: what its children that have ended used
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / ticks


def process_tree_cpu_seconds(root: int) -> float:
    stats = {int(p.name): s for p in pathlib.Path("/proc").iterdir() if p.name.isdigit() and (s := _stat(int(p.name)))}
    tree, total, grew = {root}, 0.0, True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid in tree:
        if pid in stats:
            total += stats[pid][1]
    return total
