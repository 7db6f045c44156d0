"""Which errors are the user's to fix (bad input, unknown entity, store down) and so are shown as one line."""

from __future__ import annotations


def user_facing_errors() -> tuple[type[Exception], ...]:
    """The packages' base errors. Imported here, not at module level, so ``faultline --help`` does not load the
    analysis stack (pandas, scipy) just to know what to catch."""
    from correlators.exceptions import CorrelatorError
    from detectors.exceptions import DetectorError
    from narrator.exceptions import NarratorError
    from rca.exceptions import RcaError
    from topology.exceptions import TopologyError

    return (TopologyError, DetectorError, CorrelatorError, RcaError, NarratorError)
