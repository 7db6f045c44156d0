"""The entity model: what the graph holds.

Entity ids are stable strings ``kind:name`` (``pod:prod/vllm-0``, ``commit:9e1c2f``). Relations point from the
dependent to what it depends on, so a fault flows *against* the arrow. Every relation carries ``valid_from`` /
``valid_to`` so the graph can be read back as it was at any time, and a replaced relation (a pod that switched
images) is itself evidence of a change.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .timeutil import UtcDatetime


class RelationKind(StrEnum):
    """Relation kinds of the case format; direction is dependent → dependency."""

    CALLS = "CALLS"  # user → app, app → app, app → llm
    QUERIES = "QUERIES"  # app → vectordb
    RUNS_ON = "RUNS_ON"  # app / llm / vectordb → pod
    RUNS = "RUNS"  # pod → image
    BUILT_FROM = "BUILT_FROM"  # image → commit
    SCHEDULED_ON = "SCHEDULED_ON"  # pod → node
    USES = "USES"  # pod → gpu
    ATTACHED_TO = "ATTACHED_TO"  # gpu → node


KNOWN_KINDS = ("user", "app", "llm", "vectordb", "pod", "gpu", "image", "commit", "node", "deployment", "namespace")


def entity_kind(entity_id: str) -> str:
    """The ``kind`` prefix of an id (``"pod"`` for ``"pod:prod/vllm-0"``)."""
    return entity_id.split(":", 1)[0]


class Entity(BaseModel):
    """One thing in the topology. ``attrs`` holds collector-specific facts (namespace, GPU model, commit author)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=3)
    kind: str = Field(min_length=1)
    attrs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_has_kind(cls, value: str) -> str:
        if ":" not in value or value.startswith(":") or value.endswith(":"):
            raise ValueError(f"entity id must look like 'kind:name', got {value!r}")
        return value

    @model_validator(mode="after")
    def _kind_matches_id(self) -> "Entity":
        if entity_kind(self.id) != self.kind:
            raise ValueError(f"entity {self.id!r} has kind {self.kind!r} but its id says {entity_kind(self.id)!r}")
        return self


class Relation(BaseModel):
    """A dependency edge valid over ``[valid_from, valid_to)``; ``None`` bounds are open-ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    src: str
    kind: RelationKind
    dst: str
    valid_from: UtcDatetime | None = None
    valid_to: UtcDatetime | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the edge regardless of its validity interval."""
        return (self.src, self.kind.value, self.dst)

    def valid_at(self, moment: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and (
            self.valid_to is None or moment < self.valid_to
        )

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True when the relation was valid at any moment of ``[start, end]``."""
        return (self.valid_from is None or self.valid_from <= end) and (self.valid_to is None or self.valid_to > start)


class Subgraph(BaseModel):
    """A read-only slice of the topology around one entity, as it was at some time."""

    model_config = ConfigDict(frozen=True)

    root: str
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]

    def entity_ids(self) -> set[str]:
        return {e.id for e in self.entities}

    def get(self, entity_id: str) -> Entity | None:
        for entity in self.entities:
            if entity.id == entity_id:
                return entity
        return None


def short_id(entity_id: str, width: int = 12) -> str:
    """A readable form of long ids for people: digests and commit shas cut to ``width`` hex digits."""
    kind, _, name = entity_id.partition(":")
    if "@sha256:" in name:
        base, _, digest = name.partition("@sha256:")
        return f"{kind}:{base}@sha256:{digest[:width]}"
    if kind == "commit" and len(name) > width:
        return f"{kind}:{name[:width]}"
    return entity_id
