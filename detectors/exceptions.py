"""Errors raised by the detectors package.

::

    DetectorError                 base of everything raised here
    ├── MetricSourceError         a metric source (file, Prometheus, Loki) could not deliver series
    │   └── MetricSourceUnavailableError   the source cannot be reached at all (connection refused, DNS)
    ├── LogFormatError            an OTLP log document is not JSON / protobuf / OTLP at all (single bad records are
    │                             skipped and reported, not raised)
    └── TelemetryStoreError       the embedded span and log store could not read or write

Malformed ``metrics.csv`` / ``events.json`` raise ``topology.CaseFormatError`` so every case-file problem is
reported the same way.
"""


class DetectorError(Exception):
    """Base of all detector errors."""


class MetricSourceError(DetectorError):
    """A metric source failed; the message names the source and what failed."""


class MetricSourceUnavailableError(MetricSourceError):
    """The source cannot be reached at all; asking it further questions is pointless."""


class LogFormatError(DetectorError):
    """An OTLP log document that cannot be read at all; the message names the source and what is wrong."""


class TelemetryStoreError(DetectorError):
    """The embedded span and log store failed (disk full, corrupt file, closed)."""
