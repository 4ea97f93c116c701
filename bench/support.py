"""What every benchmark shares: percentiles, CPU-seconds per process (read from /proc, so the broker's
JVM counts as much as our own processes), and a raw Kafka baseline measured in the same run."""

import os
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from services.platform import Platform

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def percentiles(samples: Iterable[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "no samples"
    return (
        f"n={len(ordered):5}  p50={percentile(ordered, 0.50):7.1f}  p95={percentile(ordered, 0.95):7.1f}  "
        f"p99={percentile(ordered, 0.99):7.1f}  max={ordered[-1]:7.1f}  mean={statistics.fmean(ordered):7.1f}"
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its reaped children, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # after the ")": state is fields[0], so utime/stime/cutime/cstime are fields 11..14
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU-seconds each named process spent between `start` and `stop`."""

    pids: dict[str, int]
    started: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    @staticmethod
    def of(platform: Platform, *, client: bool = True) -> "CpuMeter":
        pids = {name: pid for name in platform.names() if (pid := platform.pid(name)) is not None}
        if client:
            pids["bench client"] = os.getpid()
        return CpuMeter(pids)

    def start(self) -> "CpuMeter":
        self.started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.wall = time.monotonic()
        return self

    def stop(self) -> "CpuMeter":
        self.wall = time.monotonic() - self.wall
        self.spent = {name: cpu_seconds(pid) - self.started[name] for name, pid in self.pids.items()}
        return self

    def report(self, per: int = 0, unit: str = "command") -> str:
        lines = [f"    CPU-seconds over {self.wall:.1f}s wall:"]
        for name, seconds in sorted(self.spent.items(), key=lambda item: -item[1]):
            each = f"  ({1000 * seconds / per:.2f} ms per {unit})" if per else ""
            lines.append(f"      {name:16} {seconds:7.2f}{each}")
        total = sum(self.spent.values())
        each = f"  ({1000 * total / per:.2f} ms per {unit})" if per else ""
        lines.append(f"      {'total':16} {total:7.2f}{each}")
        return "\n".join(lines)
