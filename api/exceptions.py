"""Errors raised by the API layer (server, stores, webhooks).

::

    ApiError                          base of everything raised here
    ├── StorageError                  the SQLite insight store failed (disk full, corrupt file, closed)
    ├── NotFoundError                 an insight / incident / entity id that does not exist      -> 404
    ├── RequestProblem                a request that is well-formed JSON but cannot be served    -> 422
    ├── MalformedBody                 a body that is not JSON at all                              -> 400
    ├── BodyInvalid                   a JSON body that does not match the endpoint's schema        -> 422
    ├── UnsupportedMediaType          a body that is not declared as JSON                         -> 415
    ├── PayloadTooLarge               a body over the endpoint's size limit                       -> 413
    │   ├── OverMemoryBudget          an inline case needing more memory than its budget          -> 413
    │   └── OverTimeBudget            an inline case not read (or analysed) in the time allowed   -> 413
    ├── SignatureError                a webhook whose signature header is missing or wrong       -> 400 / 403
    ├── NotConfiguredError            a feature used without its settings (no PagerDuty secret)  -> 503
    │   └── DataSourceUnavailable     the configured data source cannot be reached (yet)         -> 503
    └── NoteDeliveryError             PagerDuty did not take a note (kept in the outbox, retried)

Errors from the packages below (``TopologyError``, ``DetectorError``, ``CorrelatorError``, ``RcaError``,
``NarratorError``) are mapped to HTTP statuses in ``api/errors_http.py``; nothing here catches a library's own errors
above the adapter that called it.
"""

from __future__ import annotations


class ApiError(Exception):
    """Base of all API-layer errors."""


class StorageError(ApiError):
    """The insight store could not read or write."""


class NotFoundError(ApiError):
    """A resource id that does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!r} not found")


class RequestProblem(ApiError):
    """A request that parses but cannot be served (e.g. alert labels that map to no known entity)."""


class MalformedBody(ApiError):
    """A request body that cannot be parsed at all."""


class BodyInvalid(ApiError):
    """A JSON body that does not match the schema; ``problems`` lists each invalid field as ``field: message``.

    Raised where a route validates its body itself (off the event loop, or in a worker process): it must cross a
    process boundary, so it pickles as its problem list."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) or "request body does not match the schema")

    def __reduce__(self) -> tuple[type, tuple[list[str]]]:
        return (type(self), (self.problems,))


class UnsupportedMediaType(ApiError):
    """A body sent with a content type the endpoint does not read (only JSON is)."""


class PayloadTooLarge(ApiError):
    """A request body larger than the endpoint accepts."""


class OverMemoryBudget(PayloadTooLarge):
    """A worker reading or analysing an inline case passed ``FAULTLINE_INLINE_CASE_MEMORY_BYTES`` and was stopped."""


class OverTimeBudget(PayloadTooLarge):
    """A worker reading or analysing an inline case did not finish in the time allowed and was stopped."""


class SignatureError(ApiError):
    """A webhook signature is missing (``missing=True`` -> 400) or does not match any secret (-> 403)."""

    def __init__(self, message: str, *, missing: bool) -> None:
        self.missing = missing
        super().__init__(message)


class NotConfiguredError(ApiError):
    """A feature was used but the settings it needs are absent."""


class DataSourceUnavailable(NotConfiguredError):
    """The configured topology store or case could not be loaded; it may come back, so a queued insight waits."""


class NoteDeliveryError(ApiError):
    """PagerDuty refused or did not answer a note post; ``retry_after`` from a 429 when given."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)
