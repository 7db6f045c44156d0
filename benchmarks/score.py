"""Accuracy and time per method and fault type: AC@1, AC@3, Avg@5 (CASE_FORMAT.md's definitions).

A case is solved at rank k when any id of ``truth.root_causes`` or ``truth.accept`` is among the method's top k
entities. AC@k is the share of cases solved at k; Avg@5 is the mean of AC@1..AC@5. A method that failed or timed out
on a case gets an empty ranking for it (it counts as unsolved) and the failure is counted in ``errors``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Truth:
    root_causes: tuple[str, ...]
    accept: tuple[str, ...]
    fault: str

    @property
    def answers(self) -> frozenset[str]:
        return frozenset(self.root_causes) | frozenset(self.accept)


@dataclass(frozen=True)
class CaseResult:
    """One method's answer on one case."""

    case: str
    method: str
    fault: str
    ranking: tuple[str, ...]
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Score:
    method: str
    fault: str  # a fault type, or "all"
    cases: int
    ac1: float
    ac3: float
    avg5: float
    median_s: float
    mean_s: float
    errors: int


def load_truth(case_dir: str | Path) -> Truth:
    raw = json.loads((Path(case_dir) / "truth.json").read_text(encoding="utf-8"))
    return Truth(tuple(raw.get("root_causes", ())), tuple(raw.get("accept", ())), str(raw.get("fault", "unknown")))


def solved_rank(ranking: Sequence[str], truth: Truth) -> int | None:
    """1-based rank of the first right answer, duplicates ignored; None when no right answer is ranked."""
    seen: set[str] = set()
    rank = 0
    for entity in ranking:
        if entity in seen:
            continue
        seen.add(entity)
        rank += 1
        if entity in truth.answers:
            return rank
    return None


def ac_at(ranks: Sequence[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def avg_at(ranks: Sequence[int | None], k: int = 5) -> float:
    return sum(ac_at(ranks, i) for i in range(1, k + 1)) / k


def score(results: Iterable[CaseResult], truths: dict[str, Truth]) -> list[Score]:
    """Scores per (method, fault) and per method over all faults (fault ``"all"``)."""
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        groups.setdefault((r.method, r.fault), []).append(r)
        groups.setdefault((r.method, "all"), []).append(r)
    out = []
    for (method, fault), rs in sorted(groups.items()):
        ranks = [solved_rank(r.ranking, truths[r.case]) for r in rs]
        secs = [r.seconds for r in rs]
        out.append(
            Score(method, fault, len(rs), ac_at(ranks, 1), ac_at(ranks, 3), avg_at(ranks, 5),
                  statistics.median(secs), statistics.fmean(secs), sum(1 for r in rs if r.error))
        )
    return out


def markdown(scores: Sequence[Score], methods: Sequence[str] | None = None) -> str:
    """Two tables: overall per method, and AC@1 / AC@3 per fault type and method."""
    methods = list(methods) if methods else sorted({s.method for s in scores})
    by = {(s.method, s.fault): s for s in scores}
    faults = sorted({s.fault for s in scores if s.fault != "all"})
    lines = ["| method | cases | AC@1 | AC@3 | Avg@5 | median s/case | mean s/case | failed |", "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        s = by.get((m, "all"))
        if s:
            lines.append(f"| {m} | {s.cases} | {s.ac1:.3f} | {s.ac3:.3f} | {s.avg5:.3f} | {s.median_s:.3f} | {s.mean_s:.3f} | {s.errors} |")
    lines += ["", "AC@1 / AC@3 per fault type:", "", "| fault | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for f in faults:
        cells = []
        for m in methods:
            s = by.get((m, f))
            cells.append(f"{s.ac1:.2f} / {s.ac3:.2f}" if s else "–")
        n = next((by[(m, f)].cases for m in methods if (m, f) in by), 0)
        lines.append(f"| {f} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_results(path: str | Path) -> list[CaseResult]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            out.append(CaseResult(raw["case"], raw["method"], raw["fault"], tuple(raw["ranking"]), float(raw["seconds"]), raw.get("error")))
    return out


__all__ = ["CaseResult", "Score", "Truth", "ac_at", "avg_at", "load_truth", "markdown", "read_results", "score", "solved_rank"]
