"""One comparison table per suite from the results directories ``benchmarks/run.py`` wrote (BENCHMARKS.md's tables).

Each suite's rows come from every ``<method>.jsonl`` in the directories given for it, scored against the cases'
``truth.json`` with ``benchmarks/score.py``; a method found in several directories (a peer run once with the window's
onset and once with an estimated one) is reported under ``<method> (<dir suffix>)``.

Usage::

    python -m benchmarks.summarize                     # the suites of BENCHMARKS.md's issue-14 section
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .score import load_truth, read_results, score

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "out" / "results"
SUITES: dict[str, tuple[str, ...]] = {
    "PetShop": ("petshop-window_end-all",),
    "RCD Sock Shop": ("sockshop", "sockshop-peers-window", "sockshop-peers-estimate"),
    "Nezha Online Boutique": ("nezha-ob", "nezha-ob-peers-estimate", "nezha-ob-peers-window"),
    "generated, held-out seeds": ("heldout",),
    "generated, held-out seeds on 3-min samples": ("heldout-regrid-3",),
    "generated, held-out seeds on 5-min samples": ("heldout-regrid-5",),
    "faulty releases, held-out seeds": ("releases-heldout",),
}
ORDER = ("faultline", "latest_change", "nsigma", "baro", "pyrca_ht", "petshop_ranked_corr", "petshop_traversal",
         "petshop_circa")


def suite_rows(dirs: tuple[str, ...], per_fault: bool) -> list[str]:
    results, truths = [], {}
    for d in dirs:
        path = RESULTS / d
        if not path.exists():
            continue
        tag = d.rsplit("-peers-", 1)[1] if "-peers-" in d else ""
        for f in sorted(path.glob("*.jsonl")):
            for r in read_results(f):
                if r.case not in truths:
                    truths[r.case] = load_truth(r.case)
                method = f"{r.method} (onset: {tag})" if tag else r.method
                results.append(type(r)(r.case, method, truths[r.case].fault, r.ranking, r.seconds, r.error))
    scores = score(results, truths)
    methods = sorted({s.method for s in scores},
                     key=lambda m: (ORDER.index(m.split(" ")[0]) if m.split(" ")[0] in ORDER else 99, m))
    by = {(s.method, s.fault): s for s in scores}
    lines = ["| method | cases | AC@1 | AC@3 | Avg@5 | failed |", "|---|---|---|---|---|---|"]
    for m in methods:
        s = by[(m, "all")]
        name = f"**{m}**" if m == "faultline" else m
        lines.append(f"| {name} | {s.cases} | {s.ac1:.3f} | {s.ac3:.3f} | {s.avg5:.3f} | {s.errors} |")
    faults = sorted({s.fault for s in scores if s.fault != "all"})
    if per_fault and len(faults) > 1:
        lines += ["", "| fault (AC@1 / AC@3) | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for f in faults:
            n = next((by[(m, f)].cases for m in methods if (m, f) in by), 0)
            cells = [f"{by[(m, f)].ac1:.2f} / {by[(m, f)].ac3:.2f}" if (m, f) in by else "–" for m in methods]
            lines.append(f"| {f} ({n}) | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-faults", action="store_true")
    args = ap.parse_args(argv)
    for title, dirs in SUITES.items():
        print(f"\n#### {title}\n")
        print("\n".join(suite_rows(dirs, not args.no_faults)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
