"""Errors raised by the topology package.

::

    TopologyError                     base of everything raised here
    ├── CaseFormatError               a case directory file is missing or malformed (names file, place, problem)
    ├── UnknownEntityError            an entity id that the store does not hold
    ├── StoreError                    the graph store failed
    │   └── StoreUnavailableError     the store cannot be reached (down, or gone mid-request)
    └── CollectorError                a collector cannot read its source at all (bad kubeconfig, no git repo)
        └── TraceFormatError          an OTLP trace document is not JSON / not OTLP at all (single bad spans are
                                      skipped and reported, not raised)

Callers above this package catch these, never a driver's own exceptions: adapters translate at the boundary.
"""

from __future__ import annotations

from collections.abc import Callable


class TopologyError(Exception):
    """Base of all topology errors."""


class CaseFormatError(TopologyError):
    """A case file is missing or malformed.

    The message always names the file, the place in it (line, field or index) and the problem, so the CLI can print
    it as one line and the API can return it as a 400/422 body without a traceback.
    """

    def __init__(self, file: str, problem: str, where: str | None = None) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        location = f"{file}:{where}" if where else file
        super().__init__(f"{location}: {problem}")


class UnknownEntityError(TopologyError):
    """An entity id the store does not hold (e.g. a symptom nobody collected).

    ``suggestions`` are the closest ids the store does hold (``topology.suggest``), named in the message as "did you
    mean …". A store passes them as a function: they are searched only when someone reads the message or the
    attribute, so a caller that merely asks "does it exist?" (alert label mapping) never pays for the search.
    """

    def __init__(self, entity_id: str, suggestions: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()) -> None:
        super().__init__(entity_id)
        self.entity_id = entity_id
        self._suggest = suggestions
        self._suggestions: tuple[str, ...] | None = None if callable(suggestions) else tuple(suggestions)

    @property
    def suggestions(self) -> tuple[str, ...]:
        if self._suggestions is None:
            assert callable(self._suggest)
            self._suggestions = tuple(self._suggest())
        return self._suggestions

    def __str__(self) -> str:
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        return f"unknown entity: {self.entity_id!r}{hint}"


class StoreError(TopologyError):
    """The graph store failed to read or write."""


class StoreUnavailableError(StoreError):
    """The graph store cannot be reached; the message says which address and what failed."""


class CollectorError(TopologyError):
    """A collector cannot read its source at all; the message names the source and what failed.

    Partial failures (one Kubernetes resource answering 403, one unknown git sha) are not raised: collectors report
    them as ``SourceProblem`` records and keep what they could read.
    """


class TraceFormatError(CollectorError):
    """An OTLP/JSON trace document that is not JSON or not shaped like an ``ExportTraceServiceRequest``."""
