"""Memory of a process and everything it started (for the benchmarks): resident set sizes read from /proc."""

from __future__ import annotations

import os


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children.get(p, [])
    return pids


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def process_tree_rss(pid: int) -> tuple[int, list[int]]:
    """Sum of VmRSS over a process and all its descendants, and their pids."""
    pids = process_tree(pid)
    return sum(rss_bytes(p) for p in pids), pids
