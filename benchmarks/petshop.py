"""Convert the PetShop root-cause-analysis dataset into faultline case directories.

Attribution (required by the dataset's licence, CC BY 4.0):
    The PetShop Dataset — Finding Causes of Performance Issues across Microservices. M. Hardt, W. R. Orchard,
    P. Blöbaum, E. Kirschbaum, S. Kasiviswanathan. CLeaR 2024. Amazon Science,
    repository amazon-science/petshop-root-cause-analysis. Copyright Amazon.com, Inc. or its affiliates.
    Licensed under Creative Commons Attribution 4.0 International (https://creativecommons.org/licenses/by/4.0/).
    This converter changes the data's layout (wide CSV -> long case format, time shift of the baseline, entity ids);
    it does not change any measured value.

What the converter does, and why:

* **Baseline.** An issue window holds only five 5-minute samples, too few to learn what normal looks like. The
  dataset ships normal operation of the same traffic scenario separately (``noissue/``, recorded on other days).
  We take a contiguous day (288 samples) of it whose time of day ends just before the issue window starts, and
  shift it by a whole number of days, so the baseline sits right before the window with the time of day kept.
  ``temporal_traffic1/2`` have no ``noissue``: we borrow ``low_traffic``'s and mark the case
  ``"baseline": "borrowed"`` in ``truth.json`` so results are reported separately.
* **Alert time.** ``target.timestamp`` falls between the window's 2nd and 3rd samples, and the injected issue shows
  from about the 3rd sample on. An alert on 5-minute data fires only once anomalous samples exist, so we treat the
  window's **last sample** as ``incident.at`` (10-15 minutes after ``target.timestamp``) and set the lookback to the
  window's span. ``--alert fourth`` instead fires the alert at the window's 4th sample — the second sample in which
  the issue shows, as an alert rule needing two anomalous 5-minute samples would (some issues are over by the 5th
  sample). ``--alert target`` keeps the window-end alert time but starts the lookback at the first sample at or after
  ``target.timestamp``, so the window's first samples (same recording, issue not yet visible) end the baseline.
* **Entities.** Every node of ``graph.csv`` and of the metrics becomes an entity ``<kind>:<node name>``, with a kind
  guessed from the AWS resource type (``db``, ``queue``, ``function``, ``workflow``, ``external``, else ``app``).
  ``graph.csv`` rows call columns: each non-zero cell is a ``CALLS`` relation (``QUERIES`` towards a ``db``).
  The dataset's graph leaves X-Ray's load-balancer nodes (``servi-searc…elb.amazonaws.com_remote``) as leaves; the
  converter adds the edge from each balancer to the ECS service behind it (``load_balancer_edges``), the service
  map a user of this application would draw. Peers that read the graph get the same edges.
* **Metrics.** ``<metric>_<statistic>`` lower-cased, e.g. ``latency_average``, ``latency_p90``,
  ``availability_average``, ``requests_sum``.
* **Truth.** ``truth.json`` holds ``root_cause.node`` for the benchmark scorer; faultline never reads it.

Usage::

    python -m benchmarks.petshop --out benchmarks/out/cases/petshop
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
from pathlib import Path

DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "petshop" / "dataset"  # ../shared beside the repo
SCENARIOS = ("low_traffic", "high_traffic", "temporal_traffic1", "temporal_traffic2")
STEP = 300
BASELINE_SAMPLES = 288
DAY = 86400


def kind_of(node: str) -> str:
    n = node.lower()
    if "dynamodb" in n or "::sql" in n or "pgsql" in n or "::s3" in n or "database" in n:
        return "db"
    if "sqs" in n or "simplenotificationservice" in n:
        return "queue"
    if "lambda" in n:
        return "function"
    if "stepfunctions" in n or "statemachine" in n:
        return "workflow"
    if n.endswith("_remote"):
        return "external"
    return "app"


def entity_id(node: str) -> str:
    return f"{kind_of(node)}:{node}"


def read_wide(path: Path) -> tuple[list[int], dict[tuple[str, str], list[float]]]:
    """The dataset's wide CSV: three header rows (node, metric, statistic), a label row, then one row a timestamp."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    nodes, metrics, stats = rows[0], rows[1], rows[2]
    data_rows = [r for r in rows[3:] if r and r[0] and r[0] != "unix_timestamp"]
    times = [int(float(r[0])) for r in data_rows]
    series: dict[tuple[str, str], list[float]] = {}
    for col in range(1, len(nodes)):
        key = (nodes[col], f"{metrics[col]}_{stats[col]}".lower())
        values = []
        for r in data_rows:
            cell = r[col] if col < len(r) else ""
            values.append(float(cell) if cell not in ("", "nan", "NaN") else math.nan)
        series[key] = values
    return times, series


def read_graph(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    cols = rows[0][1:]
    edges = []
    for row in rows[1:]:
        for callee, cell in zip(cols, row[1:]):
            if cell and float(cell) != 0.0:
                edges.append((row[0], callee))
    return edges


ELB_STEM = re.compile(r"^servi-([a-z]{5})\.[a-z0-9-]+\.elb\.amazonaws\.com_remote$", re.IGNORECASE)


def load_balancer_edges(nodes: set[str], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """X-Ray records a call through an AWS load balancer as a leaf ``servi-<stem>…elb.amazonaws.com_remote`` node.
    Behind each balancer runs the ECS service whose name contains the stem (``searc`` → PetSearch, ``lista`` →
    petlistadoptions, ``payfo`` → payforadoption). The edge balancer → service is added, so the balancer's latency
    is seen as depending on the service behind it, as it does. PetSite calls its own balancer (``petsi``), which
    closes a cycle; the ranker handles cycles, and leaving that balancer a leaf would make a node that only mirrors
    PetSite look like a cause."""
    instrumented = sorted(n for n in nodes if not n.endswith("_remote") and not n.endswith("_client"))
    out = []
    for node in sorted(nodes):
        m = ELB_STEM.match(node)
        if not m:
            continue
        stem = m.group(1).lower()
        targets = [s for s in instrumented if stem in s.lower().replace("_", "")]
        ecs = [t for t in targets if "aws::ecs" in t.lower()]
        for target in ecs or targets:
            out.append((node, target))
    return out


def baseline_slice(noissue_times: list[int], window_start: int) -> tuple[int, int, int]:
    """(first, last+1, shift): a contiguous day of normal data ending one step before ``window_start`` by time of day."""
    target_tod = (window_start - STEP) % DAY
    best = None
    for end in range(len(noissue_times) - 1, BASELINE_SAMPLES - 2, -1):
        if (noissue_times[end] - target_tod) % DAY == 0:
            best = end
            break
    if best is None:  # no exact time-of-day match: take the latest day and align its end by shifting
        best = len(noissue_times) - 1
    first = max(0, best - BASELINE_SAMPLES + 1)
    shift = (window_start - STEP) - noissue_times[best]
    return first, best + 1, shift


def convert_issue(issue_dir: Path, scenario_dir: Path, out: Path, *, alert: str = "window_end") -> Path:
    target = json.loads((issue_dir / "target.json").read_text())
    times, series = read_wide(issue_dir / "metrics.csv")
    noissue = scenario_dir / "noissue" / "metrics.csv"
    borrowed = not noissue.exists()
    if borrowed:
        noissue = DATASET / "low_traffic" / "noissue" / "metrics.csv"
    base_times, base_series = read_wide(noissue)
    first, stop, shift = baseline_slice(base_times, times[0])
    base_times = [t + shift for t in base_times[first:stop]]

    nodes = {n for n, _ in series} | {n for n, _ in base_series}
    edges = read_graph(scenario_dir / "graph.csv")
    nodes |= {a for a, _ in edges} | {b for _, b in edges}
    edges += load_balancer_edges(nodes, edges)
    at = times[-1]
    if alert == "fourth":
        # an alert rule that needs two anomalous 5-minute samples fires at the 4th sample of the window
        at = times[min(3, len(times) - 1)]
    if alert == "target":
        # the window starts at the first sample at or after target.timestamp: the samples before it (same
        # recording, no issue yet) are the nearest baseline
        window_start = min((t for t in times if t >= int(target["target"]["timestamp"])), default=times[0])
        lookback_min = (at - window_start) // 60 + 1
    else:
        lookback_min = (at - times[0]) // 60  # the window opens at its first sample; the baseline ends just before

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    topology = {
        "entities": [{"id": entity_id(n), "kind": kind_of(n), "attrs": {"source": "petshop"}} for n in sorted(nodes)],
        "relations": [
            {"src": entity_id(a), "kind": "QUERIES" if kind_of(b) == "db" else "CALLS", "dst": entity_id(b),
             "valid_from": None, "valid_to": None}
            for a, b in edges
        ],
    }
    (out / "topology.json").write_text(json.dumps(topology, indent=1))
    tg = target["target"]
    metric = f"{tg['metric']}_{tg['agg']}".lower()
    (out / "incident.json").write_text(json.dumps({
        "symptom": entity_id(tg["node"]), "metric": metric,
        "at": _iso(at), "lookback": f"{lookback_min}m",
        "title": f"{tg['node']} {tg['metric']} ({tg['agg']}) anomalous",
    }, indent=2))
    (out / "changes.json").write_text("[]")
    (out / "events.json").write_text("[]")
    (out / "truth.json").write_text(json.dumps({
        "root_causes": [entity_id(target["root_cause"]["node"])], "accept": [],
        "fault": f"petshop/{scenario_dir.name}", "baseline": "borrowed" if borrowed else "noissue",
        "source": str(issue_dir.relative_to(DATASET)),
    }, indent=2))
    with open(out / "metrics.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write("timestamp,entity,metric,value\n")
        for key in sorted(set(series) | set(base_series)):
            ent = entity_id(key[0])
            for t, v in zip(base_times, base_series[key][first:stop] if key in base_series else []):
                if not math.isnan(v):
                    handle.write(f"{t},{_q(ent)},{key[1]},{v:.9g}\n")
            for t, v in zip(times, series.get(key, [])):
                if t <= at and not math.isnan(v):
                    handle.write(f"{t},{_q(ent)},{key[1]},{v:.9g}\n")
    return out


def _q(text: str) -> str:
    return f'"{text}"' if "," in text or '"' in text else text


def _iso(epoch: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def convert_all(out: Path, *, dataset: Path = DATASET, alert: str = "window_end") -> list[Path]:
    """Every issue of every scenario as a case directory under ``out``. ``FileNotFoundError`` when the dataset is not
    there (a fresh clone has no ``../shared``): never an empty suite that would score as a run."""
    if not all((dataset / scenario).is_dir() for scenario in SCENARIOS):
        raise FileNotFoundError(
            f"PetShop dataset not found at {dataset} (expected {', '.join(SCENARIOS)} in it). It is not part of the "
            "repository: clone github.com/amazon-science/petshop-root-cause-analysis (CC BY 4.0) and pass its "
            "dataset/ folder with --dataset; inside this workspace it sits in ../shared/datasets/petshop/dataset")
    paths = []
    for scenario in SCENARIOS:
        sdir = dataset / scenario
        for split in ("train", "test"):
            for issue in sorted((sdir / split).glob("issue_*"), key=lambda p: int(p.name.split("_")[1])):
                paths.append(convert_issue(issue, sdir, out / f"{scenario}-{split}-{issue.name}", alert=alert))
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="PetShop (CC BY 4.0, Amazon Science) -> faultline case format")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dataset", default=str(DATASET))
    ap.add_argument("--alert", choices=["window_end", "target", "fourth"], default="window_end", help="alert time / lookback (see module doc)")
    args = ap.parse_args(argv)
    for p in convert_all(Path(args.out), dataset=Path(args.dataset), alert=args.alert):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
