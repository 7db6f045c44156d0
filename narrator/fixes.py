"""Fix suggestions derived from evidence by rules: the template narrator's knowledge of what to do.

Each rule looks at one piece of evidence (a rollout, an event, a metric) and proposes an action on a named entity with
its risk; the order of rules is the order an engineer would try them (undo the change first).

Commands are written to be pasted at 3 a.m. into a shell whose current namespace and context are whatever they were:
every ``kubectl`` command names its namespace (``-n``; cluster-scoped resources such as nodes have none), the kube
context when the collector recorded it (``--context``), and the resource kind (``deployment/vllm``, ``pod/vllm-0``,
``node/gpu-node-1``); names are shell-quoted. Where faultline does not know enough to write a safe command (no
namespace), it writes none and says what to look at instead. Each command comes with what it does and how to undo it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from correlators.models import Evidence
from topology.models import short_id as _short

from .models import FixSuggestion, Narrative
from .rollouts import Rollout, rollouts_of

__all__ = ["kubectl", "suggest_fixes", "with_commands"]

READ_ONLY = "Nothing to undo: it only reads."
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def kubectl(*args: str, namespace: str | None, context: str | None = None) -> str:
    """A ``kubectl`` command line with ``--context`` (when known) and ``-n`` first, every word shell-quoted."""
    words = ["kubectl"]
    if context:
        words += ["--context", context]
    if namespace:
        words += ["-n", namespace]
    words += list(args)
    return " ".join(shlex.quote(w) for w in words)


def _namespaced(entity: str) -> tuple[str, str] | None:
    """``pod:prod/vllm-0`` → ``("prod", "vllm-0")``; None for ids without a namespace."""
    kind, _, name = entity.partition(":")
    if kind in ("pod", "deployment") and name.count("/") == 1:
        namespace, _, short = name.partition("/")
        if namespace and short:
            return namespace, short
    return None


def _node_of(entity: str) -> str | None:
    kind, _, name = entity.partition(":")
    if kind == "node":
        return name or None
    if kind == "gpu" and "/" in name:
        return name.split("/", 1)[0] or None
    return None


def _rollback(rollout: Rollout) -> FixSuggestion | None:
    if rollout.kind not in ("image_swap", "rollout", "config_change"):
        return None
    namespace, context = rollout.namespace, rollout.context
    previous = "previous image" if rollout.before else "previous revision"
    pods = ", ".join(_short(e) for e, _ in rollout.members)
    if rollout.deployment and namespace:
        name = rollout.deployment.split("/", 1)[1]
        revision, previous_revision = rollout.attrs.get("revision"), rollout.attrs.get("previous_revision")
        to = [f"--to-revision={int(previous_revision)}"] if isinstance(previous_revision, int) else []
        command = kubectl("rollout", "undo", f"deployment/{name}", *to, namespace=namespace, context=context)
        if isinstance(revision, int):
            undo = "`" + kubectl("rollout", "undo", f"deployment/{name}", f"--to-revision={revision}",
                                 namespace=namespace, context=context) + f"` (back to revision {revision})"
        else:
            undo = "Run the same command again: `rollout undo` returns to the revision it left."
        return FixSuggestion(
            action=f"Roll back deployment {rollout.deployment} to its {previous}",
            entity=rollout.first_entity,
            risk="Restarts the pods: in-flight requests on them are dropped and warm caches are lost; "
                 "check the old image can still be pulled.",
            command=command,
            effect=f"Replaces the pods of deployment {rollout.deployment}, a few at a time, with the previous "
                   f"revision's; list the revisions first with `"
                   + kubectl("rollout", "history", f"deployment/{name}", namespace=namespace, context=context) + "`.",
            undo=undo,
        )
    where = _namespaced(rollout.first_entity)
    if where is None:
        return FixSuggestion(
            action=f"Roll back the {rollout.kind} on {pods} to its {previous}",
            entity=rollout.first_entity,
            risk="Restarts what changed; check the old version is still available.",
        )
    namespace, pod = where
    return FixSuggestion(
        action=f"Roll back the workload that owns pod {namespace}/{pod} to its {previous}",
        entity=rollout.first_entity,
        risk="Rolling back restarts its pods; in-flight requests on them are dropped.",
        command=kubectl("get", f"pod/{pod}", "-o", "jsonpath={.metadata.ownerReferences[0].name}",
                        namespace=namespace, context=context),
        effect="Prints the pod's owner: a ReplicaSet named after its Deployment plus a hash, in the same namespace; "
               "that Deployment is the one to roll back.",
        undo=READ_ONLY,
    )


def _revert(rollout: Rollout) -> FixSuggestion | None:
    if not rollout.commit:
        return None
    sha = rollout.commit.removeprefix("commit:")
    short = _short(rollout.commit).removeprefix("commit:")
    fix = FixSuggestion(
        action=f"Revert commit {short} and rebuild the image",
        entity=rollout.commit,
        risk="The revert undoes whatever the commit was meant to fix (e.g. memory savings); confirm with its author.",
    )
    if _SHA.match(sha):
        fix = fix.model_copy(update={
            "command": "git revert --no-edit " + shlex.quote(sha),
            "effect": f"Adds a commit on your current branch that undoes {short}; the cluster changes only once an "
                      "image built from it is rolled out.",
            "undo": "`git revert --no-edit HEAD` (re-applies the change), or drop the revert before pushing it.",
        })
    return fix


def _event_fix(item: Evidence) -> FixSuggestion | None:
    reason = (item.metric or "").removeprefix("event:")
    entity = item.entity
    where = _namespaced(entity)
    node = _node_of(entity)
    if reason == "XidError" or (item.metric or "").startswith("xid"):
        fix = FixSuggestion(
            action=f"Cordon the node of {_short(entity)}, drain its GPU pods, and reset or replace the GPU",
            entity=entity, risk="Draining moves load to the remaining GPUs; capacity drops until the GPU is back.",
        )
        if node:
            fix = fix.model_copy(update={
                "command": kubectl("cordon", f"node/{node}", namespace=None),
                "effect": f"Marks node {node} unschedulable (a node has no namespace); pods running there stay until "
                          "drained.",
                "undo": "`" + kubectl("uncordon", f"node/{node}", namespace=None) + "`",
            })
        return fix
    templates = {
        "OOMKilled": ("Raise the memory limit of {e} or find the leak (heap profile) before it is killed again",
                      "A higher limit can starve neighbours on the node; a leak only slows down.",
                      ("top", "pod", "{p}", "--containers"), "Shows the containers' current memory use."),
        "CrashLoopBackOff": ("Read the last logs of {e} and roll back its latest change",
                             "Restarting without a fix keeps the loop going.",
                             ("logs", "pod/{p}", "--previous", "--all-containers"),
                             "Prints the logs of the crashed containers' previous run."),
        "BackOff": ("Read the last logs of {e} and roll back its latest change",
                    "Restarting without a fix keeps the loop going.",
                    ("logs", "pod/{p}", "--previous", "--all-containers"),
                    "Prints the logs of the crashed containers' previous run."),
        "Evicted": ("Check node pressure where {e} ran and set requests/limits so it is not evicted again",
                    "Raising requests may leave the pod unschedulable.",
                    ("describe", "pod/{p}"), "Shows why it was evicted and the node it ran on."),
        "FailedScheduling": ("Free or add capacity for {e} (GPU/CPU/memory requests exceed what nodes offer)",
                             "Adding nodes costs money; lowering requests risks throttling.",
                             ("describe", "pod/{p}"), "Shows the scheduler's reasons in the pod's events."),
        "Unhealthy": ("Check why {e} fails its probes (overloaded or not ready) before restarting it",
                      "Restarting an overloaded pod adds load to the others.",
                      ("describe", "pod/{p}"), "Shows the failing probe and the pod's recent events."),
    }
    template = templates.get(reason)
    if template is None:
        return None
    action, risk, args, effect = template
    fix = FixSuggestion(action=action.format(e=_short(entity)), entity=entity, risk=risk)
    if where is not None:
        namespace, pod = where
        fix = fix.model_copy(update={
            "command": kubectl(*(a.format(p=pod) for a in args), namespace=namespace),
            "effect": effect + " Read-only.", "undo": READ_ONLY,
        })
    return fix


_METRIC_FIXES = (
    (("queue_len", "num_requests_waiting"), "Scale out the inference replicas behind {e} or raise max_num_seqs if KV-cache allows",
     "More replicas need free GPUs; a larger batch raises per-token latency."),
    (("kv_cache", "gpu_cache"), "Relieve KV-cache pressure on {e}: lower max_model_len / max_num_seqs or raise gpu_memory_utilization",
     "Shorter contexts reject long prompts; higher memory utilisation risks OOM."),
    (("gpu_temp", "gpu_util", "power"), "Inspect {e}'s GPU health (DCGM diagnostics) and throttling", "Diagnostics need the GPU idle."),
    (("mem",), "Check {e} for a memory leak and raise its limit meanwhile", "A higher limit only buys time."),
    (("cpu",), "Find the process hogging CPU on {e} and throttle or move it", "Moving it may shift the problem."),
    (("query_latency",), "Check {e} for index rebuilds or compaction and scale its query nodes", "Scaling a vector DB rebalances segments."),
    (("error",), "Read the errors of {e} and the changes of what it calls", "None: read-only."),
)


def _metric_fix(item: Evidence) -> FixSuggestion | None:
    metric = (item.metric or "").lower()
    if metric.startswith("xid"):
        return _event_fix(item)
    for needles, action, risk in _METRIC_FIXES:
        if any(n in metric for n in needles):
            return FixSuggestion(action=action.format(e=_short(item.entity)), entity=item.entity, risk=risk)
    return None


def suggest_fixes(evidence: Iterable[Evidence], limit: int = 4) -> list[FixSuggestion]:
    """Actions for a candidate's evidence, change-based first (one per rollout, not per pod), without duplicates."""
    evidence = sorted(evidence, key=lambda e: ({"change": 0, "event": 1, "anomaly": 2}[e.kind], -e.weight))
    fixes: list[FixSuggestion | None] = []
    rollouts = rollouts_of(evidence)
    for rollout in rollouts:
        fixes += [_rollback(rollout), _revert(rollout)]
    for item in evidence:
        if item.kind == "event" and item.metric:
            fixes.append(_event_fix(item))
        elif item.kind == "anomaly" and item.metric:
            fixes.append(_metric_fix(item))
    unique: list[FixSuggestion] = []
    for fix in fixes:
        if fix is not None and all((fix.action, fix.command) != (f.action, f.command) for f in unique):
            unique.append(fix)
    return unique[:limit]


def with_commands(narrative: Narrative, template: Narrative) -> Narrative:
    """An LLM narrative's fixes with faultline's own commands: a model's fix on the same entity as one of the
    template's gets that fix's command, effect and undo; template fixes with a command that no model fix matched are
    appended. Commands are never the model's — only rules that know the namespace write them."""
    if narrative.narrator != "llm":
        return narrative
    spare = [f for f in template.fix_suggestions if f.command]
    fixes: list[FixSuggestion] = []
    for fix in narrative.fix_suggestions:
        match = next((t for t in spare if t.entity == fix.entity), None)
        if match is not None:
            spare.remove(match)
            if fix.action == match.action or match.action.startswith(fix.action.rstrip("…")):
                fix = match  # the model picked faultline's own suggestion (the small profile does): keep it whole
            else:
                fix = fix.model_copy(update={"command": match.command, "effect": match.effect, "undo": match.undo})
        fixes.append(fix)
    return narrative.model_copy(update={"fix_suggestions": tuple(fixes + spare)})
