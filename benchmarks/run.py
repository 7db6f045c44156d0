"""Run faultline and the peer RCA methods on the same cases in one run, and write the comparison table.

faultline runs in this process through its Python API (``correlators.load_case`` + ``rca.analyze``, timed from
reading the case directory to the ranked candidates). Peers run as subprocesses in ``.venv-peers``
(``benchmarks/peers/runner.py``; install with ``benchmarks/setup_peers.sh``). Each method's answers go to
``OUT/<method>.jsonl`` so a slow peer need not be re-run when only faultline changed; ``OUT/table.md`` is rebuilt
from every method file present.

Usage::

    python -m benchmarks.run --suite heldout                      # generate if missing, run everything
    python -m benchmarks.run --suite dev --methods faultline      # tuning loop: faultline only
    python -m benchmarks.run --suite petshop --peer-timeout 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .score import CaseResult, load_truth, markdown, read_results, score

ROOT = Path(__file__).resolve().parent.parent
PEERS_PY = ROOT / ".venv-peers" / "bin" / "python"
RUNNER = ROOT / "benchmarks" / "peers" / "runner.py"
PEER_METHODS = ("baro", "nsigma", "circa", "rcd", "microcause", "pyrca_rw", "pyrca_epsilon", "pyrca_ht")
DEFAULT_PEERS = ("baro", "nsigma", "circa", "pyrca_rw", "pyrca_epsilon", "pyrca_ht")


REAL_SUITES = ("petshop", "sockshop", "nezha-ob", "nezha-ob-full")
GENERATED_SUITES = ("dev", "heldout", "dev-regrid-3", "dev-regrid-5", "heldout-regrid-3", "heldout-regrid-5",
                    "releases", "releases-heldout")


def case_dirs(suite: str, cases_root: Path, petshop_alert: str = "window_end") -> list[Path]:
    if suite in ("sockshop", "nezha-ob", "nezha-ob-full"):
        target = cases_root / suite
        if not target.exists():
            if suite == "sockshop":
                from .sockshop import convert_all as convert_sockshop

                convert_sockshop(target)
            else:  # nezha-ob-full: the same cases with traces.jsonl and logs.jsonl
                from .nezha import convert_all as convert_nezha

                convert_nezha(target, telemetry=suite == "nezha-ob-full")
        return sorted(p for p in target.iterdir() if (p / "incident.json").exists())
    if suite in ("releases", "releases-heldout"):
        from .releases import DEV as REL_DEV
        from .releases import HELDOUT as REL_HELDOUT
        from .releases import write_suite as write_releases

        return write_releases(cases_root / suite, REL_DEV if suite == "releases" else REL_HELDOUT)
    if "-regrid-" in suite:  # e.g. heldout-regrid-5: the generated suite on 5-minute samples
        from .regrid import regrid_suite

        base, minutes = suite.rsplit("-regrid-", 1)
        return regrid_suite(case_dirs(base, cases_root), int(minutes), cases_root / suite)
    if suite == "petshop":
        from .petshop import convert_all

        target = cases_root / ("petshop" if petshop_alert == "window_end" else f"petshop-{petshop_alert}")
        if not target.exists():
            convert_all(target, alert=petshop_alert)
        return sorted(p for p in target.iterdir() if (p / "incident.json").exists())
    from .scenarios import suite as specs
    from .scenarios import generate, write_case

    target = cases_root / suite
    dirs = []
    for spec in specs(suite):
        d = target / f"{spec.seed}-{spec.fault}"
        if not (d / "truth.json").exists():
            write_case(generate(spec), d)
        dirs.append(d)
    return dirs


def run_faultline(cases: list[Path]) -> list[dict]:
    from correlators.case_files import load_case
    from rca.pipeline import analyze, series_scope

    out = []
    for case in cases:
        t0 = time.perf_counter()
        error = None
        ranking: list[str] = []
        try:
            analysis = analyze(load_case(case, series_scope=series_scope()))  # as `faultline analyze` reads it
            ranking = [c.entity for c in analysis.candidates]
        except Exception as exc:  # one broken case must not hide the others
            error = f"{type(exc).__name__}: {exc}"
        out.append({"case": str(case), "method": "faultline", "ranking": ranking[:50],
                    "seconds": time.perf_counter() - t0, "error": error})
    return out


def run_latest_change(cases: list[Path]) -> list[dict]:
    """The rule "blame the most recent change": the last rollout, image swap or config change before the alert (as
    reported in ``changes.json`` or read from the topology's replaced pods), ranked as its artifacts (new image,
    commit) then the changed entity; earlier changes follow, newest first. Commits alone are not changes to a
    running system and are skipped."""
    from correlators.case_files import load_case
    from correlators.changes import changes_from_relations, merge_changes, rollouts_from_relations

    out = []
    for case in cases:
        t0 = time.perf_counter()
        c = load_case(case)
        start, at = c.incident.start, c.incident.at
        derived = changes_from_relations(c.relations, start, at) + rollouts_from_relations(c.relations, start, at)
        merged = [x for x in merge_changes([x for x in c.changes if x.at <= at], derived, c.relations)
                  if x.kind != "commit" and start <= x.at <= at]
        ranking: list[str] = []
        for change in sorted(merged, key=lambda x: x.at, reverse=True):
            for entity in (change.after, change.commit, change.entity):
                if entity and entity not in ranking:
                    ranking.append(entity)
        out.append({"case": str(case), "method": "latest_change", "ranking": ranking[:50],
                    "seconds": time.perf_counter() - t0, "error": None})
    return out


def run_peers(cases: list[Path], methods: list[str], timeout: int, onset: str) -> list[dict]:
    if not PEERS_PY.exists():
        raise SystemExit(f"{PEERS_PY} missing: run benchmarks/setup_peers.sh first")
    cmd = [str(PEERS_PY), str(RUNNER), "--methods", ",".join(methods), "--timeout", str(timeout), "--onset", onset,
           *map(str, cases)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 and not rows:
        raise SystemExit(f"peer runner failed: {proc.stderr[-2000:]}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="faultline vs published RCA methods, same cases, same run")
    ap.add_argument("--suite", choices=[*GENERATED_SUITES, *REAL_SUITES], required=True)
    ap.add_argument("--methods", default="faultline," + ",".join(DEFAULT_PEERS))
    ap.add_argument("--cases-root", default=str(ROOT / "benchmarks" / "out" / "cases"))
    ap.add_argument("--out", help="results directory (default benchmarks/out/results/<suite>)")
    ap.add_argument("--peer-timeout", type=int, default=120)
    ap.add_argument("--onset", choices=["estimate", "window", "oracle"], default="estimate")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--petshop-alert", choices=["window_end", "target", "fourth"], default="window_end",
                    help="PetShop lookback choice (benchmarks/petshop.py)")
    ap.add_argument("--split", choices=["train", "test", "all"], default="all", help="PetShop split to score")
    args = ap.parse_args(argv)

    cases = case_dirs(args.suite, Path(args.cases_root), args.petshop_alert)[: args.limit]
    if args.suite == "petshop" and args.split != "all":
        cases = [c for c in cases if f"-{args.split}-" in c.name]
    tag = args.suite if args.suite != "petshop" else f"petshop-{args.petshop_alert}-{args.split}"
    out = Path(args.out or ROOT / "benchmarks" / "out" / "results" / tag)
    out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.methods.split(",") if m]
    truths = {str(c): load_truth(c) for c in cases}

    def save(method: str, rows: list[dict]) -> None:
        with open(out / f"{method}.jsonl", "w", encoding="utf-8") as handle:
            for r in rows:
                r["fault"] = truths[r["case"]].fault
                handle.write(json.dumps(r) + "\n")

    if "faultline" in methods:
        save("faultline", run_faultline(cases))
    if "latest_change" in methods:
        save("latest_change", run_latest_change(cases))
    paper = [m for m in methods if m.startswith("petshop_")]
    if paper:  # the PetShop paper's own methods, run from its published code (benchmarks/setup_petshop_paper.sh)
        if args.suite != "petshop":
            raise SystemExit("petshop_* methods run on the PetShop suite only")
        py = ROOT / ".venv-petshop" / "bin" / "python"
        if not py.exists():
            raise SystemExit(f"{py} missing: run benchmarks/setup_petshop_paper.sh first")
        cases_dir = Path(args.cases_root) / ("petshop" if args.petshop_alert == "window_end" else f"petshop-{args.petshop_alert}")
        subprocess.run([str(py), str(ROOT / "benchmarks" / "peers" / "petshop_paper.py"), "--methods", ",".join(paper),
                        "--out", str(out), "--cases", str(cases_dir), "--split", args.split], check=True)
    peers = [m for m in methods if m in PEER_METHODS]
    for m in peers:  # one subprocess per method: a crash or hang of one peer leaves the others' results
        save(m, run_peers(cases, [m], args.peer_timeout, args.onset))
        print(f"{m}: done", file=sys.stderr)

    results: list[CaseResult] = []
    present = []
    for f in sorted(out.glob("*.jsonl")):
        rows = [r for r in read_results(f) if r.case in truths]
        if rows:
            present.append(f.stem)
            results.extend(rows)
    order = (["faultline"] if "faultline" in present else []) + [m for m in present if m != "faultline"]
    table = markdown(score(results, truths), order)
    header = f"suite {args.suite}: {len(cases)} cases; peers' onset: {args.onset}\n\n"
    (out / "table.md").write_text(header + table, encoding="utf-8")
    print(header + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
