"""Changes, their alignment with anomaly onsets, and the evidence that feeds the ranker."""

from .align import AlignConfig, Correlation, correlate, dependents
from .case_files import case_from_documents, load_case, parse_changes, parse_incident
from .changes import changes_from_relations, merge_changes
from .exceptions import CorrelatorError
from .models import Case, Change, ChangeLink, Evidence, Incident

__all__ = [
    "AlignConfig", "Case", "Change", "ChangeLink", "Correlation", "CorrelatorError", "Evidence", "Incident",
    "case_from_documents", "changes_from_relations", "correlate", "dependents", "load_case", "merge_changes",
    "parse_changes", "parse_incident",
]
