"""Fix suggestions derived from evidence by rules: the template narrator's knowledge of what to do.

Each rule looks at one piece of evidence (a change, an event, a metric) and proposes an action on a named entity with
its risk; the order of rules is the order an engineer would try them (undo the change first).
"""

from __future__ import annotations

from collections.abc import Iterable

from correlators.models import Evidence
from topology.models import short_id as _short

from .models import FixSuggestion


def _from_change(evidence: Evidence) -> list[FixSuggestion]:
    change = evidence.change
    assert change is not None
    fixes: list[FixSuggestion] = []
    deployment = change.attrs.get("deployment")
    target = f"deployment {deployment}" if deployment else change.entity
    if change.kind in ("image_swap", "rollout") and change.before:
        fixes.append(FixSuggestion(
            action=f"Roll back {target} to the previous image {_short(change.before)}"
                   + (f" (kubectl rollout undo deployment/{str(deployment).split('/')[-1]})" if deployment else ""),
            entity=change.entity,
            risk="Restarts the pods: in-flight requests on them are dropped and warm caches are lost; check the old image is still pullable.",
        ))
    if change.commit:
        message = change.attrs.get("message")
        fixes.append(FixSuggestion(
            action=f"Revert {_short(change.commit)}" + (f" (\"{message}\")" if message else "")
                   + (f" by {change.attrs['author']}" if change.attrs.get("author") else "")
                   + " and rebuild the image",
            entity=change.commit,
            risk="The revert undoes whatever the commit was meant to fix (e.g. memory savings); confirm with its author.",
        ))
    if change.kind == "config_change":
        fixes.append(FixSuggestion(
            action=f"Revert the configuration change on {change.entity}" + (f" ({change.before} → {change.after})" if change.before else ""),
            entity=change.entity, risk="Configuration reloads may restart the workload.",
        ))
    return fixes


_EVENT_FIXES = {
    "OOMKilled": ("Raise the memory limit of {e} or find the leak (heap profile) before it is killed again",
                  "A higher limit can starve neighbours on the node; a leak only slows down."),
    "XidError": ("Cordon the node of {e}, drain its GPU pods, and reset or replace the GPU",
                 "Draining moves load to the remaining GPUs; capacity drops until the GPU is back."),
    "CrashLoopBackOff": ("Read the last logs of {e} (kubectl logs --previous) and roll back its latest change",
                         "Restarting without a fix keeps the loop going."),
    "BackOff": ("Read the last logs of {e} (kubectl logs --previous) and roll back its latest change",
                "Restarting without a fix keeps the loop going."),
    "Evicted": ("Check node pressure where {e} ran and set requests/limits so it is not evicted again",
                "Raising requests may leave the pod unschedulable."),
    "FailedScheduling": ("Free or add capacity for {e} (GPU/CPU/memory requests exceed what nodes offer)",
                         "Adding nodes costs money; lowering requests risks throttling."),
}

_METRIC_FIXES = (
    (("queue_len", "num_requests_waiting"), "Scale out the inference replicas behind {e} or raise max_num_seqs if KV-cache allows",
     "More replicas need free GPUs; a larger batch raises per-token latency."),
    (("kv_cache", "gpu_cache"), "Relieve KV-cache pressure on {e}: lower max_model_len / max_num_seqs or raise gpu_memory_utilization",
     "Shorter contexts reject long prompts; higher memory utilisation risks OOM."),
    (("xid",), "Cordon the node of {e} and move its workloads off the faulty GPU", "Capacity drops until the GPU is replaced."),
    (("gpu_temp", "gpu_util", "power"), "Inspect {e}'s GPU health (DCGM diagnostics) and throttling", "Diagnostics need the GPU idle."),
    (("mem",), "Check {e} for a memory leak and raise its limit meanwhile", "A higher limit only buys time."),
    (("cpu",), "Find the process hogging CPU on {e} (top / kubectl top) and throttle or move it", "Moving it may shift the problem."),
    (("query_latency",), "Check {e} for index rebuilds or compaction and scale its query nodes", "Scaling a vector DB rebalances segments."),
    (("error",), "Read the errors of {e} and the changes of what it calls", "None: read-only."),
)


def suggest_fixes(evidence: Iterable[Evidence], limit: int = 4) -> list[FixSuggestion]:
    """Actions for the top candidate's evidence, change-based first, without duplicates."""
    evidence = sorted(evidence, key=lambda e: ({"change": 0, "event": 1, "anomaly": 2}[e.kind], -e.weight))
    fixes: list[FixSuggestion] = []
    for item in evidence:
        if item.kind == "change" and item.change is not None:
            fixes += _from_change(item)
        elif item.kind == "event" and item.metric:
            template = _EVENT_FIXES.get(item.metric.removeprefix("event:"))
            if template:
                fixes.append(FixSuggestion(action=template[0].format(e=item.entity), entity=item.entity, risk=template[1]))
        elif item.metric:
            for needles, action, risk in _METRIC_FIXES:
                if any(n in item.metric.lower() for n in needles):
                    fixes.append(FixSuggestion(action=action.format(e=item.entity), entity=item.entity, risk=risk))
                    break
    unique: list[FixSuggestion] = []
    for fix in fixes:
        if fix.action not in {f.action for f in unique}:
            unique.append(fix)
    return unique[:limit]
