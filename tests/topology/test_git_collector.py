"""The git collector on a real repository made with GitPython."""

from __future__ import annotations

import logging

import git
import pytest

from topology import Entity, MemoryStore, RelationKind
from topology.collectors import GitRepository, collect_git, resolve_revisions
from topology.exceptions import CollectorError


@pytest.fixture
def repo(tmp_path):
    repository = git.Repo.init(tmp_path / "serving")
    with repository.config_writer() as config:
        config.set_value("user", "name", "Dev One")
        config.set_value("user", "email", "dev@example.com")
    path = tmp_path / "serving" / "config.yaml"
    path.write_text("max_num_seqs: 256\nmodel: deepseek-r1\n")
    repository.index.add(["config.yaml"])
    first = repository.index.commit("initial serving config")
    path.write_text("max_num_seqs: 16\nmodel: deepseek-r1\n")
    (tmp_path / "serving" / "NOTES.md").write_text("why 16\nbecause\n")
    repository.index.add(["config.yaml", "NOTES.md"])
    second = repository.index.commit("lower max_num_seqs to save memory\n\nlong explanation")
    return repository, first.hexsha, second.hexsha


def test_links_images_to_commits_with_git_facts(repo):
    repository, first, second = repo
    store = MemoryStore()
    store.upsert_entities([Entity(id="image:sha256:" + "b" * 64, kind="image"),
                           Entity(id="image:registry.local/vllm:v1", kind="image")])
    revisions = resolve_revisions(
        {"image:sha256:" + "b" * 64: {"reference": "registry.local/vllm:v2", "revision": second[:10]},
         "image:registry.local/vllm:v1": {"reference": "registry.local/vllm:v1", "revision": None}},
        configured={"registry.local/vllm:v1": first},
    )
    result = collect_git(store, GitRepository(repository.working_dir), revisions)
    assert result.problems == ()
    assert result.linked == 2
    commit = store.get_entity(f"commit:{second}")
    assert commit.attrs["author"] == "dev@example.com"
    assert commit.attrs["message"] == "lower max_num_seqs to save memory"
    assert commit.attrs["files"] == ["NOTES.md", "config.yaml"]
    assert commit.attrs["files_changed"] == 2
    assert commit.attrs["insertions"] == 3 and commit.attrs["deletions"] == 1
    edges = {r.key for r in store.open_relations([RelationKind.BUILT_FROM])}
    assert edges == {("image:sha256:" + "b" * 64, "BUILT_FROM", f"commit:{second}"),
                     ("image:registry.local/vllm:v1", "BUILT_FROM", f"commit:{first}")}


def test_configured_mapping_wins_over_annotation():
    resolved = resolve_revisions({"image:x": {"reference": "r/x:1", "revision": "aaa"}}, configured={"r/x": "bbb"})
    assert resolved == {"image:x": "bbb"}


def test_unknown_sha_is_reported_and_the_rest_is_linked(repo, caplog):
    repository, first, _ = repo
    store = MemoryStore()
    store.upsert_entities([Entity(id="image:good", kind="image"), Entity(id="image:bad", kind="image")])
    caplog.set_level(logging.WARNING)
    missing = "0123456789abcdef0123456789abcdef01234567"
    result = collect_git(store, GitRepository(repository.working_dir), {"image:good": first, "image:bad": missing})
    assert result.linked == 1
    assert len(result.problems) == 1
    assert result.problems[0].where == "image:bad" and missing in result.problems[0].reason
    assert missing in caplog.text
    assert store.get_entity(f"commit:{first}").attrs["message"] == "initial serving config"


def test_not_a_repository_is_a_collector_error(tmp_path):
    with pytest.raises(CollectorError, match="not a git repository"):
        GitRepository(tmp_path)
