"""Graph-walk ranking of root-cause candidates, fault chains, and the accuracy metrics of the benchmarks."""

from .chain import fault_chain
from .evaluation import ac_at_k, avg_at_k, solved_at
from .exceptions import RcaError, WalkDidNotConverge
from .models import Analysis, Candidate, ChainHop, FaultChain, ScoreTerms
from .pipeline import AnalysisConfig, analyze, analyze_incident, series_scope
from .rank import RankConfig, rank
from .walk import WalkConfig, random_walk_reference, random_walk_with_restart

__all__ = [
    "Analysis", "AnalysisConfig", "Candidate", "ChainHop", "FaultChain", "RankConfig", "RcaError", "ScoreTerms",
    "WalkConfig", "WalkDidNotConverge", "ac_at_k", "analyze", "analyze_incident", "avg_at_k", "fault_chain", "rank",
    "random_walk_reference", "random_walk_with_restart", "series_scope", "solved_at",
]
