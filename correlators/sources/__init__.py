"""Change sources: where ``Change`` records come from besides ``changes.json``."""

from .kubernetes_changes import attach_commits, changes_from_snapshot, restart_changes, rollout_changes

__all__ = ["attach_commits", "changes_from_snapshot", "restart_changes", "rollout_changes"]
