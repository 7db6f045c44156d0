"""Fit the ranking model's weights on the development suites; validate leave-one-dataset-out; calibrate.

What it does:

1. **Features.** For every case of every development suite, ``rca.pipeline.case_features`` computes the features of
   every candidate (the same code path ``faultline analyze`` runs); ``truth.json`` labels the candidates that are a
   right answer (``root_causes`` or ``accept``). Features are cached in ``benchmarks/out/features/<suite>.jsonl``
   (``--refresh`` recomputes them after a detector change).
2. **Fit.** A conditional logit: maximise, over cases, log P(the top pick is a right answer) where P is the softmax
   of ``w · x`` over the case's candidates, with an L2 penalty. Each suite weighs the same in the loss, however many
   cases it has, so the generated suite cannot outvote the real ones.
3. **Leave one dataset out.** For each suite: fit on the others, rank its cases, score AC@1/AC@3/Avg@5. This is the
   honest estimate of how the model does on data it never saw; the all-data fit's scores are in-sample.
4. **Calibration.** The top candidate's logit margin over the next (``--calibrate-on margin``, the default; or its
   softmax probability) in the held-out folds, against whether it was right, fitted with isotonic regression (pool
   adjacent violators, each dataset weighing the same) — the map to P(right) that ``rca.model.Calibration``
   applies. A reliability table per suite (bin → share right), each from a calibration fitted without that suite,
   and its expected calibration error are written with the report.
5. **Output.** ``rca/ranker_model.json`` (versioned: date, suites, case counts, the LODO table) and
   ``benchmarks/out/fit/report.md``.

Development suites (never the held-out ones): PetShop (68 issues), RCD Sock Shop (50), Nezha Online Boutique
(2022-08-22/23), and the generated DEV seeds (``benchmarks/scenarios.py``) on their native 1-min grid plus the same
seeds re-gridded to 3-min and 5-min samples (``benchmarks/regrid.py``) and the multi-rollout scenarios
(``benchmarks/releases.py``). Nezha's TrainTicket days and the generated HELD-OUT seeds are never read here.

Usage::

    python -m benchmarks.fit_ranker                      # the shipped feature set and lambda; write the model
    python -m benchmarks.fit_ranker --refresh            # recompute every feature first
    python -m benchmarks.fit_ranker --search --dry-run   # stepwise feature selection by mean LODO AC@1
    python -m benchmarks.fit_ranker --lambda 0.3 --dry-run
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
FEATURE_DIR = OUT / "features"


@dataclass(frozen=True)
class CaseRows:
    """One case's candidates: feature matrix (candidates × features) and which are right answers."""

    suite: str
    case: str
    fault: str
    entities: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    groups: tuple[tuple[int, ...], ...] = ()
    """For a case of several concurrent faults (``truth.json``'s ``faults``), the candidate indices answering each:
    the search's criterion counts such a case right when every fault has an answer in the top 3."""


def _features_of(args: tuple[str, str]) -> dict | None:
    case_dir, suite = args
    from correlators.case_files import load_case
    from rca.features import FEATURES
    from rca.pipeline import case_features

    from .score import load_truth

    truth = load_truth(case_dir)
    try:
        pool, feats = case_features(load_case(case_dir))
    except Exception as exc:  # one broken case is reported, not fatal
        print(f"{case_dir}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    faults = json.loads((Path(case_dir) / "truth.json").read_text(encoding="utf-8")).get("faults") or []
    groups = [[i for i, n in enumerate(pool) if n in set(f.get("answers", ()))] for f in faults]
    return {
        "suite": suite, "case": case_dir, "fault": truth.fault, "entities": pool,
        "x": [[round(feats[n][f], 6) for f in FEATURES] for n in pool],
        "y": [1 if n in truth.answers else 0 for n in pool], "features": list(FEATURES),
        "groups": groups if len(groups) > 1 else [],
    }


def suite_cases(suite: str) -> list[Path]:
    from .run import case_dirs

    root = OUT / "cases"
    if suite in ("dev", "petshop", "sockshop", "nezha-ob", "nezha-ob-full"):  # -full: with traces and logs
        return case_dirs(suite, root)
    if suite.startswith("dev-regrid-"):
        from .regrid import regrid_suite

        return regrid_suite(case_dirs("dev", root), int(suite.rsplit("-", 1)[1]), root / suite)
    if suite == "concurrent-dev":
        from .concurrent import DEV_SEEDS, cases

        return cases(root / "concurrent-dev", DEV_SEEDS)
    if suite == "releases":
        from .releases import write_suite

        return write_suite(root / "releases", seeds=range(2000, 2040))
    raise SystemExit(f"unknown suite {suite}")


def load_features(suites: Sequence[str], refresh: bool, workers: int) -> list[CaseRows]:
    from rca.features import FEATURES

    FEATURE_DIR.mkdir(parents=True, exist_ok=True)
    rows: list[CaseRows] = []
    for suite in suites:
        cache = FEATURE_DIR / f"{suite}.jsonl"
        docs = []
        if cache.exists() and not refresh:
            docs = [json.loads(line) for line in cache.read_text().splitlines() if line.strip()]
            if docs and docs[0].get("features") != list(FEATURES):
                docs = []
        if not docs:
            cases = [(str(c), suite) for c in suite_cases(suite)]
            with mp.Pool(workers) as pool:
                docs = [d for d in pool.map(_features_of, cases, chunksize=1) if d is not None]
            cache.write_text("".join(json.dumps(d) + "\n" for d in docs))
        for d in docs:
            rows.append(CaseRows(d["suite"], d["case"], d["fault"], tuple(d["entities"]),
                                 np.array(d["x"], dtype=float).reshape(len(d["entities"]), len(FEATURES)),
                                 np.array(d["y"], dtype=float), tuple(tuple(g) for g in d.get("groups", ()))))
        print(f"{suite}: {len(docs)} cases", file=sys.stderr)
    return rows


def standardiser(cases: Sequence[CaseRows]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of every feature over all candidates, each suite weighing the same."""
    suites = sorted({c.suite for c in cases})
    xs, ws = [], []
    for s in suites:
        mine = [c for c in cases if c.suite == s]
        n = sum(len(c.x) for c in mine)
        for c in mine:
            xs.append(c.x)
            ws.append(np.full(len(c.x), 1.0 / n))
    x = np.vstack(xs)
    w = np.concatenate(ws)
    mean = (w[:, None] * x).sum(axis=0) / w.sum()
    std = np.sqrt((w[:, None] * (x - mean) ** 2).sum(axis=0) / w.sum())
    return mean, np.where(std > 1e-9, std, 1.0)


def fit(
    cases: Sequence[CaseRows], lam: float, signed: bool = True, names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, mean, std) of the conditional logit fitted on ``cases`` (those with at least one right answer),
    each weight within its ``rca.features.EXPECTED_SIGN`` unless ``signed`` is False."""
    usable = [c for c in cases if c.y.any() and len(c.y) > 1]
    mean, std = standardiser(usable)
    per_suite = {}
    for c in usable:
        per_suite[c.suite] = per_suite.get(c.suite, 0) + 1
    n_suites = len(per_suite)
    zs = [(c.x - mean) / std for c in usable]
    ys = [c.y.astype(bool) for c in usable]
    cw = np.array([1.0 / (per_suite[c.suite] * n_suites) for c in usable])
    k = len(mean)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total = 0.5 * lam * float(w @ w)
        grad = lam * w
        for z, y, weight in zip(zs, ys, cw):
            s = z @ w
            m = s.max()
            e = np.exp(s - m)
            all_sum = e.sum()
            pos_sum = e[y].sum()
            total -= weight * (math.log(pos_sum) - math.log(all_sum))
            p_all = e / all_sum
            p_pos = np.where(y, e / pos_sum, 0.0)
            grad -= weight * ((p_pos - p_all) @ z)
        return total, grad

    from rca.features import EXPECTED_SIGN, FEATURES  # noqa: F811

    bounds = [(0.0, None) if EXPECTED_SIGN.get(f) == 1 else (None, 0.0) if EXPECTED_SIGN.get(f) == -1 else (None, None)
              for f in (names or FEATURES)] if signed else None
    res = minimize(loss, np.zeros(k), jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    return res.x, mean, std


def rank_case(c: CaseRows, w: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[int | None, float]:
    """(1-based rank of the first right answer or None, the calibration input of the top candidate)."""
    s = ((c.x - mean) / std) @ w
    order = _ranked(c, s)
    hits = np.flatnonzero(c.y[order] > 0)
    return (int(hits[0]) + 1 if hits.size else None), calibration_input(s, CALIBRATION_INPUT)


def _ranked(c: CaseRows, s: np.ndarray) -> np.ndarray:
    """Candidate indices best first, ties broken by entity id as ``rca.rank`` breaks them."""
    return np.lexsort((np.array(c.entities), -s))


CALIBRATION_INPUT = "top_probability"


def calibration_input(logits: np.ndarray, kind: str) -> float:
    from rca.model import calibration_input as runtime_input

    return runtime_input(logits, kind)


def scores(ranks: Sequence[int | None]) -> tuple[float, float, float]:
    n = len(ranks) or 1
    ac = [sum(1 for r in ranks if r is not None and r <= k) / n for k in range(1, 6)]
    return ac[0], ac[2], sum(ac) / 5


def isotonic(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators fit of y on x (non-decreasing), each point weighing ``w`` (default 1); returns knots
    for ``np.interp``."""
    order = np.argsort(x)
    xs, ys = x[order], y[order].astype(float)
    ws = np.ones(len(xs)) if w is None else np.asarray(w, dtype=float)[order]
    blocks: list[list[float]] = []  # [sum_wy, sum_w, min_x, max_x]
    for xi, yi, wi in zip(xs, ys, ws):
        blocks.append([wi * yi, wi, xi, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, n, lo, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
            blocks[-1][3] = hi
    kx, ky = [0.0], [blocks[0][0] / blocks[0][1] if blocks else 0.0]
    for s, n, lo, hi in blocks:
        v = s / n
        kx += [float(lo), float(hi)]
        ky += [v, v]
    kx.append(1.0)
    ky.append(ky[-1])
    # strictly increasing x for np.interp
    out_x, out_y = [], []
    for a, b in zip(kx, ky):
        if out_x and a <= out_x[-1]:
            a = out_x[-1] + 1e-9
        out_x.append(round(a, 9))
        out_y.append(round(b, 6))
    return out_x, out_y


def reliability(p: np.ndarray, right: np.ndarray, bins: int = 5) -> tuple[list[tuple[str, int, float, float]], float]:
    """Rows (bin, cases, mean confidence, share right) and the expected calibration error."""
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for i in range(bins):
        m = (p >= edges[i]) & ((p < edges[i + 1]) if i < bins - 1 else (p <= 1.0))
        if not m.any():
            continue
        conf, acc = float(p[m].mean()), float(right[m].mean())
        rows.append((f"{edges[i]:.1f}–{edges[i + 1]:.1f}", int(m.sum()), conf, acc))
        ece += m.sum() / len(p) * abs(conf - acc)
    return rows, float(ece)


def mean_lodo(cases: Sequence[CaseRows], datasets: Sequence[str], used: Sequence[str], lam: float, signed: bool
              ) -> tuple[float, list[float]]:
    """Mean over datasets of the AC@1 of a fit on the other datasets (``cases`` labelled by dataset, full
    ``FEATURES`` columns; only ``used`` enter the fit)."""
    from rca.features import FEATURES

    keep = [FEATURES.index(f) for f in used]
    cs = [replace(c, x=c.x[:, keep]) for c in cases]
    per = []
    for d in datasets:
        w, m, s = fit([c for c in cs if c.suite != d], lam, signed, list(used))
        per.append(float(np.mean([criterion_right(c, w, m, s) for c in cs if c.suite == d])))
    return float(np.mean(per)), per


def model_version(used: Sequence[str], weights: np.ndarray) -> str:
    """``<date>.<8 hex digits of the features and weights>``: two models fitted the same day differ in name, and a
    refit that reproduces the weights keeps it."""
    import hashlib

    digest = hashlib.sha256(json.dumps([list(used), [round(float(w), 6) for w in weights]]).encode()).hexdigest()
    return f"{date.today().isoformat()}.{digest[:8]}"


def criterion_right(c: CaseRows, w: np.ndarray, mean: np.ndarray, std: np.ndarray) -> bool:
    """The search's notion of a right answer: the top candidate is right; for a case of concurrent faults, every
    fault has an answer in the top 3."""
    if not c.groups:
        return rank_case(c, w, mean, std)[0] == 1
    top = set(_ranked(c, ((c.x - mean) / std) @ w)[:3].tolist())
    return all(any(i in top for i in g) for g in c.groups)


def stepwise_search(cases: Sequence[CaseRows], datasets: Sequence[str], start: Sequence[str], lam: float,
                    signed: bool, min_gain: float = 0.003) -> list[str]:
    """Greedy feature selection by mean leave-one-dataset-out AC@1: at each step add or drop the one feature that
    raises it most; stop when no move gains ``min_gain``. The path is printed: the figures it reports are the
    criterion it maximised, hence somewhat optimistic (BENCHMARKS.md says so)."""
    from rca.features import FEATURES

    used = list(start)
    best, per = mean_lodo(cases, datasets, used, lam, signed)
    print(f"start {best:.3f} " + " ".join(f"{d} {a:.3f}" for d, a in zip(datasets, per)), file=sys.stderr)
    while True:
        moves = [("-", f, [u for u in used if u != f]) for f in used]
        moves += [("+", f, used + [f]) for f in FEATURES if f not in used]
        scored = [(mean_lodo(cases, datasets, trial, lam, signed), op, f, trial) for op, f, trial in moves]
        (value, per), op, f, trial = max(scored, key=lambda t: t[0][0])
        if value <= best + min_gain:
            break
        used, best = trial, value
        print(f"{op}{f} {best:.3f} " + " ".join(f"{d} {a:.3f}" for d, a in zip(datasets, per)), file=sys.stderr)
    print("selected: " + ",".join(used), file=sys.stderr)
    return [f for f in FEATURES if f in used]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fit the ranking model on the development suites (see docstring)")
    ap.add_argument("--suites", default="petshop,sockshop,nezha-ob,dev,dev-regrid-3,dev-regrid-5,releases")
    ap.add_argument("--refresh", action="store_true", help="recompute features (after a detector change)")
    ap.add_argument("--refresh-suites", default="", help="recompute features of these suites only")
    ap.add_argument("--lambda", dest="lam", type=float, default=None,
                    help="L2 penalty (default: the shipped model's, 1.0 without one)")
    ap.add_argument("--sweep", default="", help="comma list of lambdas: print the mean leave-one-dataset-out AC@1 of each")
    ap.add_argument("--unsigned", action="store_true", help="no sign constraints (for comparison)")
    ap.add_argument("--drop", default=None,
                    help="comma list of features left out of the model (default: those the shipped model leaves out; "
                         "'' for none)")
    ap.add_argument("--search", action="store_true",
                    help="stepwise feature selection from the starting set: add or drop the one feature that raises the "
                         "mean leave-one-dataset-out AC@1 most, until no move gains 0.003; prints the path")
    ap.add_argument("--calibrate-on", choices=["top_probability", "margin"], default="margin",
                    help="what the calibration maps to P(right): the top softmax probability, or the logit margin "
                         "between the first two candidates (1 - exp(-margin))")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="report only; do not write rca/ranker_model.json")
    args = ap.parse_args(argv)
    from rca.features import FEATURES
    from rca.model import MODEL_PATH

    suites = [s for s in args.suites.split(",") if s]
    shipped = json.loads(MODEL_PATH.read_text()) if MODEL_PATH.exists() else {}
    if args.lam is None:
        args.lam = float(shipped.get("lambda", 1.0))
    if args.drop is None:
        args.drop = ",".join(f for f in FEATURES if shipped.get("features") and f not in shipped["features"])
    dropped = [f for f in args.drop.split(",") if f]
    used = [f for f in FEATURES if f not in dropped]
    keep = [FEATURES.index(f) for f in used]
    refresh_only = {s for s in args.refresh_suites.split(",") if s}
    cases: list[CaseRows] = []
    for s in suites:
        cases += load_features([s], args.refresh or s in refresh_only, args.workers)
    # real suites each count as one dataset; each generator is one too (scenarios.py with its re-grids: "generated")
    def dataset(c: CaseRows) -> str:
        return "generated" if c.suite.startswith("dev") else c.suite

    datasets = sorted({dataset(c) for c in cases})
    signed = not args.unsigned
    by_dataset = [replace(c, suite=dataset(c)) for c in cases]  # every feature column, labelled by dataset
    if args.sweep:
        for lam in [float(x) for x in args.sweep.split(",")]:
            mean_ac1, per = mean_lodo(by_dataset, datasets, used, lam, signed)
            print(f"lambda {lam}: mean LODO AC@1 {mean_ac1:.3f}  " + "  ".join(f"{d} {a:.2f}" for d, a in zip(datasets, per)))
        return 0
    if args.search:
        used = stepwise_search(by_dataset, datasets, used, args.lam, signed)
        keep = [FEATURES.index(f) for f in used]
    cases = [replace(c, x=c.x[:, keep]) for c in cases]
    as_dataset = [replace(c, suite=dataset(c)) for c in cases]

    global CALIBRATION_INPUT
    CALIBRATION_INPUT = args.calibrate_on
    w_all, mean, std = fit(as_dataset, args.lam, signed, used)
    lines = [f"# Ranking model fit ({date.today().isoformat()})", "",
             f"lambda {args.lam}; suites {', '.join(suites)}; datasets {', '.join(datasets)}", "",
             "| suite | cases | in-sample AC@1 | AC@3 | Avg@5 | leave-one-dataset-out AC@1 | AC@3 | Avg@5 |",
             "|---|---|---|---|---|---|---|---|"]
    lodo_p, lodo_right, lodo_suite = [], [], []
    lodo_table = {}
    fold = {}
    for d in datasets:
        train = [c for c in as_dataset if c.suite != d]
        fold[d] = fit(train, args.lam, signed, used)
    for s in suites:
        mine = [c for c in cases if c.suite == s]
        d = dataset(mine[0]) if mine else s
        ins = [rank_case(c, w_all, mean, std) for c in mine]
        w_d, m_d, s_d = fold[d]
        out = [rank_case(c, w_d, m_d, s_d) for c in mine]
        a, b = scores([r for r, _ in ins]), scores([r for r, _ in out])
        lodo_table[s] = {"cases": len(mine), "ac1": round(b[0], 3), "ac3": round(b[1], 3), "avg5": round(b[2], 3),
                         "in_sample_ac1": round(a[0], 3)}
        lines.append(f"| {s} | {len(mine)} | {a[0]:.3f} | {a[1]:.3f} | {a[2]:.3f} | {b[0]:.3f} | {b[1]:.3f} | {b[2]:.3f} |")
        for (r, p), c in zip(out, mine):
            lodo_p.append(p)
            lodo_right.append(1.0 if r == 1 else 0.0)
            lodo_suite.append(s)
        faults = sorted({c.fault for c in mine})
        if len(faults) > 1:
            for f in faults:
                idx = [i for i, c in enumerate(mine) if c.fault == f]
                fa = scores([ins[i][0] for i in idx])
                fb = scores([out[i][0] for i in idx])
                lines.append(f"| &nbsp;&nbsp;{f} | {len(idx)} | {fa[0]:.2f} | {fa[1]:.2f} | {fa[2]:.2f} | {fb[0]:.2f} | {fb[1]:.2f} | {fb[2]:.2f} |")
    p_arr, r_arr = np.array(lodo_p), np.array(lodo_right)
    # each dataset weighs the same in the calibration, as in the fit: the generated suite's three grids (210 cases,
    # the most overconfident) must not set the map for the real datasets
    ds_of = {s: dataset(next(c for c in cases if c.suite == s)) for s in suites if any(c.suite == s for c in cases)}
    row_ds = np.array([ds_of[x] for x in lodo_suite])

    def equal_weights(mask: np.ndarray) -> np.ndarray:
        counts = {d: int(np.sum(row_ds[mask] == d)) for d in set(row_ds[mask])}
        return np.array([1.0 / counts[d] for d in row_ds[mask]])

    kx, ky = isotonic(p_arr, r_arr, equal_weights(np.ones(len(p_arr), dtype=bool)))
    lines += ["", "Weights (standardised features):", "", "| feature | weight |", "|---|---|"]
    lines += [f"| {f} | {w:+.3f} |" for f, w in sorted(zip(used, w_all), key=lambda t: -abs(t[1]))]
    lines += ["", "Reliability of the calibrated confidence. The model's top probability comes from the",
              "leave-one-dataset-out fit; each suite's table maps it through an isotonic calibration fitted on the",
              "*other* datasets' predictions only (a suite never calibrates itself). The shipped calibration is",
              "fitted on all of them.", ""]
    for s in suites:
        m = np.array([x == s for x in lodo_suite])
        if not m.any():
            continue
        other = np.array([ds_of[x] != ds_of[s] for x in lodo_suite])
        ox, oy = isotonic(p_arr[other], r_arr[other], equal_weights(other)) if other.any() else (kx, ky)
        held = np.interp(p_arr[m], ox, oy)
        rows, ece = reliability(held, r_arr[m])
        raw_rows, raw_ece = reliability(p_arr[m], r_arr[m])
        lodo_table.setdefault(s, {})["ece"] = round(ece, 3)
        lines.append(f"**{s}** — ECE {ece:.3f} calibrated without this dataset, {raw_ece:.3f} raw softmax")
        lines.append("")
        lines.append("| confidence | cases | mean confidence | share right |")
        lines.append("|---|---|---|---|")
        lines += [f"| {b} | {n} | {c:.2f} | {a:.2f} |" for b, n, c, a in rows]
        lines.append("")
    report = "\n".join(lines) + "\n"
    (OUT / "fit").mkdir(parents=True, exist_ok=True)
    (OUT / "fit" / "report.md").write_text(report)
    print(report)
    if not args.dry_run:
        from rca.model import Calibration, RankingModel

        model = RankingModel(
            features=tuple(used), weights=w_all, mean=mean, std=std,
            calibration=Calibration(tuple(kx), tuple(ky), len(lodo_p), args.calibrate_on),
            version=model_version(used, w_all), fitted_on=tuple(f"{s} ({len([c for c in cases if c.suite == s])} cases)" for s in suites),
        )
        doc = model.to_document({"lambda": args.lam, "leave_one_dataset_out": lodo_table,
                                 "fitted_by": "benchmarks/fit_ranker.py"})
        MODEL_PATH.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {MODEL_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
