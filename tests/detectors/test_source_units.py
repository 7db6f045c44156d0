"""Fast unit tests of the metric sources' pure parts."""

from __future__ import annotations

import numpy as np

from detectors.sources import Samples, entity_for
from detectors.sources.prometheus import xid_events


def test_entity_rules_first_fit_and_explicit_label():
    rules = ("gpu:{node}/{gpu}", "gpu:{Hostname}/{gpu}", "gpu:{UUID}")
    assert entity_for({"Hostname": "n1", "gpu": "3", "UUID": "GPU-x"}, rules, "faultline_entity") == "gpu:n1/3"
    assert entity_for({"UUID": "GPU-x"}, rules, "faultline_entity") == "gpu:GPU-x"
    assert entity_for({"gpu": "", "Hostname": "n1"}, rules, "faultline_entity") is None
    assert entity_for({"faultline_entity": "gpu:special"}, rules, "faultline_entity") == "gpu:special"


def test_xid_events_only_on_new_nonzero_codes():
    samples = Samples.of([0, 1, 2, 3, 4, 5, 6], "gpu:n1/0", "xid_errors", [0, 0, 79, 79, np.nan, 48, 0])
    events = xid_events(samples)
    assert [(e.at.timestamp(), e.message) for e in events] == [(2.0, "GPU Xid error 79"), (5.0, "GPU Xid error 48")]
