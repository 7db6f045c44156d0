"""Image → commit → git facts: ``image BUILT_FROM commit`` and a ``commit:<sha>`` entity per build.

Which commit an image was built from comes, in order of trust, from an explicit mapping the operator configured, then
from the OCI annotation ``org.opencontainers.image.revision`` (or the older ``org.label-schema.vcs-ref``) that the
registry or a pod annotation carries. The commit is then read with GitPython from a local clone: sha, author, times,
message, files changed and diff size — what an on-call engineer wants next to "this image rolled out 2 min before".

A sha the repository does not have (a build from an unpushed branch, a shallow clone) is a ``SourceProblem`` for that
image; the other images are still linked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from ..exceptions import CollectorError, UnknownEntityError
from ..kube import image_digest, split_reference
from ..models import Entity, Relation, RelationKind
from ..problems import SourceProblem, report
from ..store import GraphStore

log = logging.getLogger(__name__)

SOURCE = "git"
MAX_FILES_LISTED = 50


class CommitInfo(BaseModel):
    """The facts about one commit that a narrative and a reviewer need."""

    model_config = ConfigDict(frozen=True)

    sha: str
    author: str
    author_email: str
    authored_at: datetime
    committed_at: datetime
    summary: str
    message: str
    files: tuple[str, ...]
    files_changed: int
    insertions: int
    deletions: int
    parents: tuple[str, ...] = ()

    @property
    def entity_id(self) -> str:
        return f"commit:{self.sha}"

    def to_entity(self, repository: str | None = None) -> Entity:
        return Entity(
            id=self.entity_id, kind="commit",
            attrs={
                "sha": self.sha, "short": self.sha[:12], "author": self.author_email or self.author,
                "author_name": self.author, "authored_at": self.authored_at.isoformat(),
                "committed_at": self.committed_at.isoformat(), "message": self.summary, "full_message": self.message,
                "files": list(self.files), "files_changed": self.files_changed, "insertions": self.insertions,
                "deletions": self.deletions, "diff_size": self.insertions + self.deletions,
                "parents": list(self.parents), **({"repository": repository} if repository else {}),
            },
        )


class GitRepository:
    """A local clone read with GitPython; library errors become ``CollectorError`` or ``None`` (unknown sha)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import git

        self.path = str(path)
        try:
            self._repo = git.Repo(self.path)
        except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError) as exc:
            raise CollectorError(f"git: {self.path} is not a git repository: {exc}") from exc

    def commit(self, sha: str) -> CommitInfo | None:
        """The commit ``sha`` (full or unambiguous prefix), or ``None`` when the repository does not have it."""
        import git
        from gitdb.exc import BadName, BadObject

        try:
            commit = self._repo.commit(sha)
            stats = commit.stats
        except (BadName, BadObject, ValueError, git.exc.GitCommandError) as exc:
            log.debug("git: %s not found: %s", sha, exc)
            return None
        files = tuple(sorted(str(path) for path in stats.files))
        return CommitInfo(
            sha=commit.hexsha, author=commit.author.name or "", author_email=commit.author.email or "",
            authored_at=commit.authored_datetime, committed_at=commit.committed_datetime,
            summary=str(commit.summary), message=str(commit.message).strip(), files=files[:MAX_FILES_LISTED],
            files_changed=len(files), insertions=int(stats.total.get("insertions", 0)),
            deletions=int(stats.total.get("deletions", 0)), parents=tuple(p.hexsha for p in commit.parents),
        )

    def close(self) -> None:
        self._repo.close()


def resolve_revisions(
    images: Mapping[str, Mapping[str, str | None]], configured: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Image entity id → commit sha.

    ``images`` maps each image entity id to its hints (``reference``, ``revision`` from an OCI annotation).
    ``configured`` keys may be the image entity id, the full reference, ``repository:tag``, the repository alone, or
    the digest; a configured answer wins over an annotation.
    """
    configured = configured or {}
    resolved: dict[str, str] = {}
    for image, hint in images.items():
        reference = hint.get("reference") or ""
        parts = split_reference(reference) if reference else {}
        digest = image_digest(image.removeprefix("image:")) or parts.get("digest")
        keys = [image, reference, digest,
                f"{parts.get('repository')}:{parts.get('tag')}" if parts.get("tag") else None, parts.get("repository")]
        sha = next((configured[k] for k in keys if k and k in configured), None) or hint.get("revision")
        if sha:
            resolved[image] = sha.strip()
    return resolved


@dataclass(frozen=True)
class GitCollection:
    commits: tuple[CommitInfo, ...]
    linked: int
    problems: tuple[SourceProblem, ...]


def collect_git(
    store: GraphStore, repository: GitRepository, image_revisions: Mapping[str, str]
) -> GitCollection:
    """Read each image's commit and write ``commit`` entities plus ``image BUILT_FROM commit`` relations."""
    problems: list[SourceProblem] = []
    commits: dict[str, CommitInfo] = {}
    relations: list[Relation] = []
    for image, sha in sorted(image_revisions.items()):
        info = commits.get(sha) or repository.commit(sha)
        if info is None:
            problems.append(report(log, SourceProblem(
                source=SOURCE, where=image, reason=f"commit {sha} does not exist in {repository.path}")))
            continue
        commits[sha] = info
        relations.append(Relation(src=image, kind=RelationKind.BUILT_FROM, dst=info.entity_id,
                                  attrs={"source": SOURCE, "sha": info.sha}))
    store.upsert_entities(info.to_entity(repository.path) for info in _unique(commits.values()))
    linked = 0
    for relation in relations:
        try:
            store.upsert_relations([relation])
            linked += 1
        except UnknownEntityError:
            problems.append(report(log, SourceProblem(
                source=SOURCE, where=relation.src, reason="image is not in the topology (collect Kubernetes first)")))
    log.info("git: %d commits, %d images linked, %d problems", len(commits), linked, len(problems))
    return GitCollection(tuple(_unique(commits.values())), linked, tuple(problems))


def _unique(infos: Iterable[CommitInfo]) -> list[CommitInfo]:
    seen: dict[str, CommitInfo] = {}
    for info in infos:
        seen.setdefault(info.sha, info)
    return list(seen.values())
