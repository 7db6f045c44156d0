"""One rollout, told once: the per-pod changes of one rollout grouped into a single fact.

Why: a deployment rolled out to two replicas shows up as two ``image_swap`` changes (one per pod), and every
candidate above them (the image, the commit) carries both as evidence. Told per pod, the same 230-character sentence
appears again and again; grouped, it is stated once ("rollout of deployment prod/vllm … on pod:prod/vllm-0 at
10:50:00, pod:prod/vllm-1 at 10:50:45") and referred to afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from correlators.models import Change, Evidence
from topology.models import short_id

from .wording import clock

__all__ = ["Rollout", "group_changes", "rollouts_of"]


@dataclass(frozen=True)
class Rollout:
    """Changes of the same kind that put the same thing (image, commit, config) in place on one or more entities."""

    kind: str
    deployment: str | None
    before: str | None
    after: str | None
    commit: str | None
    attrs: dict
    members: tuple[tuple[str, datetime], ...]  # (entity, when), earliest first

    @property
    def key(self) -> tuple[str | None, ...]:
        return (self.kind, self.deployment, self.before, self.after, self.commit)

    @property
    def at(self) -> datetime:
        return self.members[0][1]

    @property
    def first_entity(self) -> str:
        return self.members[0][0]

    @property
    def namespace(self) -> str | None:
        """The namespace of the deployment, else of the first changed pod (``pod:<ns>/<name>``)."""
        if self.deployment and "/" in self.deployment:
            return self.deployment.split("/", 1)[0]
        kind, _, name = self.first_entity.partition(":")
        if kind in ("pod", "deployment") and "/" in name:
            return name.split("/", 1)[0]
        return None

    @property
    def context(self) -> str | None:
        """The kube context the change was collected from, when the collector recorded it."""
        value = self.attrs.get("context") or self.attrs.get("kube_context")
        return str(value) if value else None

    def title(self) -> str:
        """``rollout of deployment prod/vllm`` / ``image_swap on pod:prod/vllm-0``: what to call it in one phrase."""
        noun = "rollout" if self.kind in ("rollout", "image_swap") and self.deployment else self.kind
        if self.deployment:
            return f"{noun} of deployment {self.deployment}"
        more = f" and {len(self.members) - 1} more" if len(self.members) > 1 else ""
        return f"{noun} on {short_id(self.first_entity)}{more}"

    def describe(self, day: datetime | None = None) -> str:
        """The whole fact, once: what changed, from which commit, by whom, on which entities when."""
        parts = [self.title()]
        if self.before or self.after:
            parts.append(_swap(self.before, self.after))
        if self.commit:
            message, author = self.attrs.get("message"), self.attrs.get("author")
            parts.append(f"commit {short_id(self.commit).removeprefix('commit:')}"
                         + (f" \"{message}\"" if message else "") + (f" by {author}" if author else ""))
        first, *others = self.members
        if not others and first[0] in parts[0]:
            return "; ".join(parts)  # "restart on pod:x" says where already
        where = short_id(first[0]) + "".join(f", then {short_id(e)} at {clock(at, day)}" for e, at in others)
        return "; ".join(parts) + f"; on {where}"


def _image(entity: str | None) -> str:
    return short_id(entity).removeprefix("image:") if entity else "?"


def _swap(before: str | None, after: str | None) -> str:
    """``image vllm/vllm-openai, sha256:2518a2897b3d → sha256:2f9a9f9d2883`` (the repository said once)."""
    old, new = _image(before), _image(after)
    if before and after and before.startswith("image:") and after.startswith("image:"):
        old_repo, sep_old, old_digest = old.partition("@")
        new_repo, sep_new, new_digest = new.partition("@")
        if sep_old and sep_new and old_repo == new_repo:
            return f"image {old_repo}, {old_digest} → {new_digest}"
        return f"image {old} → {new}"
    return f"{old} → {new}"


def group_changes(changes: Iterable[Change]) -> list[Rollout]:
    """Changes grouped by (kind, deployment, before, after, commit), each group's members earliest first."""
    groups: dict[tuple, list[Change]] = {}
    for change in changes:
        deployment = change.attrs.get("deployment")
        key = (change.kind, str(deployment) if deployment else None, change.before, change.after, change.commit)
        if key[1] is None and not (change.after or change.commit):
            key = (*key, change.entity)  # a restart or a config edit on one entity is its own fact
        groups.setdefault(key, []).append(change)
    rollouts = []
    for key, members in groups.items():
        members.sort(key=lambda c: (c.at, c.entity))
        attrs: dict = {}
        for c in members:
            attrs.update({k: v for k, v in c.attrs.items() if k not in attrs})
        seen: dict[str, datetime] = {}
        for c in members:
            seen.setdefault(c.entity, c.at)
        rollouts.append(Rollout(kind=key[0], deployment=key[1], before=key[2], after=key[3], commit=key[4],
                                attrs=attrs, members=tuple(seen.items())))
    return sorted(rollouts, key=lambda r: r.at)


def rollouts_of(evidence: Iterable[Evidence]) -> list[Rollout]:
    """The rollouts behind the change evidence in ``evidence``."""
    return group_changes(e.change for e in evidence if e.kind == "change" and e.change is not None)
