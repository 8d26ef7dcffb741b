#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Runs a command and prints "WALL_S CPU_S EXIT_CODE" for bench-l4.

    cpu_run.py CPU LOG CMD...     (CMD's output goes to LOG)

CPU_S is the CPU time of CMD and the children it waited for (the kernel charges softirq work
done in their context to them: this kernel accounts time by ticks, without IRQ time
accounting) plus the CPU time of ksoftirqd/CPU over the run (softirq work deferred there).
Time that other processes take from the CPU is not in CPU_S: on a shared machine it is a far
steadier measure of the work per packet than the wall clock.
"""
import os
import subprocess
import sys
import time


def ksoftirqd_seconds(cpu):
    """utime + stime of ksoftirqd/CPU in seconds (0 if not found)."""
    tck = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != f"ksoftirqd/{cpu}":
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tck
        except OSError:
            continue
    return 0.0


def main():
    if len(sys.argv) < 4:
        print("usage: cpu_run.py CPU LOG CMD...", file=sys.stderr)
        return 2
    cpu, log, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(log, "w") as out:
        k0, t0 = ksoftirqd_seconds(cpu), time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    cpu_s = usage.ru_utime + usage.ru_stime + ksoftirqd_seconds(cpu) - k0
    print(f"{wall:.6f} {cpu_s:.6f} {os.waitstatus_to_exitcode(status)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
