"""``faultline analyze CASE --json`` from two (or more) source trees, run alternately so each meets the same load.

For before/after comparisons on a shared machine: export the old commit beside the checkout
(``git archive 7b91341 | tar -x -C /tmp/before``) and compare::

    python -m benchmarks.ab_trees CASE_DIR 7 /tmp/before .

Prints, per tree, the median and best wall time and CPU time (user + system, all threads) of a new process per run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def run_once(tree: str, case: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "analyze", case, "--json"], cwd=tree,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{tree}: {proc.stderr.read().decode(errors='replace')[-1000:] if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3:
        raise SystemExit(__doc__)
    case, repeats, trees = os.path.abspath(args[0]), int(args[1]), args[2:]
    results: dict[str, tuple[list[float], list[float]]] = {t: ([], []) for t in trees}
    for _ in range(repeats):
        for tree in trees:
            wall, cpu = run_once(tree, case)
            results[tree][0].append(wall)
            results[tree][1].append(cpu)
    for tree, (wall, cpu) in results.items():
        print(f"{tree:24s} wall median {statistics.median(wall):.3f} s (best {min(wall):.3f})   "
              f"CPU median {statistics.median(cpu):.3f} s (best {min(cpu):.3f})")
    print("load average", os.getloadavg())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
