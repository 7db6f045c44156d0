"""Errors raised by the detectors package.

::

    DetectorError                 base of everything raised here
    └── MetricSourceError         a metric source (file, Prometheus) could not deliver series
        └── MetricSourceUnavailableError   the source cannot be reached at all (connection refused, DNS)

Malformed ``metrics.csv`` / ``events.json`` raise ``topology.CaseFormatError`` so every case-file problem is
reported the same way.
"""


class DetectorError(Exception):
    """Base of all detector errors."""


class MetricSourceError(DetectorError):
    """A metric source failed; the message names the source and what failed."""


class MetricSourceUnavailableError(MetricSourceError):
    """The source cannot be reached at all; asking it further questions is pointless."""
