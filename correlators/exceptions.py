"""Errors raised by the correlators package.

::

    CorrelatorError     base of everything raised here

Malformed ``changes.json`` / ``incident.json`` raise ``topology.CaseFormatError`` like every other case file.
"""


class CorrelatorError(Exception):
    """Base of all correlator errors."""
