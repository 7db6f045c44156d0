"""Which errors are the user's to fix (bad input, unknown entity, store down) and so are shown as one line."""

from __future__ import annotations

from correlators.exceptions import CorrelatorError
from detectors.exceptions import DetectorError
from narrator.exceptions import NarratorError
from rca.exceptions import RcaError
from topology.exceptions import TopologyError


def user_facing_errors() -> tuple[type[Exception], ...]:
    return (TopologyError, DetectorError, CorrelatorError, RcaError, NarratorError)
