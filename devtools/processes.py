"""Memory of a process and everything it started (for the benchmarks), read from /proc.

RSS counts a page shared by several processes (torch's libraries, mapped by the server and by the training
engine's worker processes alike) once in each; PSS splits each shared page between its sharers, so PSS summed over
processes is the memory they take from the machine together.
"""

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


def _field_bytes(path: str, name: str) -> int:
    """A field given in kB in a /proc file, in bytes (0 when the file or the field is missing)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 once it has gone)."""
    return _field_bytes(f"/proc/{pid}/status", "VmRSS")


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (0 once it has gone, or where the kernel does not say)."""
    return _field_bytes(f"/proc/{pid}/smaps_rollup", "Pss")


def process_tree_rss(pid: int) -> tuple[int, list[int]]:
    """Sum of VmRSS over a process and all its descendants, and their pids."""
    pids = process_tree(pid)
    return sum(rss_bytes(p) for p in pids), pids


def process_tree_pss(pid: int) -> int:
    """Sum of PSS over a process and all its descendants: their memory, shared pages counted once."""
    return sum(pss_bytes(p) for p in process_tree(pid))
