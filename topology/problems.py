"""What every collector and source reports besides its data: the problems it met and skipped.

Why data, not exceptions: one Kubernetes resource answering 403, one malformed span or one unknown git sha must not
cost the rest of a collection. Each is logged once with its reason and returned as a ``SourceProblem`` so the
``collect`` command can print a summary and tests can assert on exactly what was skipped.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict


class SourceProblem(BaseModel):
    """One thing a source could not read. ``source`` names it (``kubernetes/pods``, ``git``, ``otlp``, ...)."""

    model_config = ConfigDict(frozen=True)

    source: str
    reason: str
    where: str | None = None
    status: int | None = None

    def __str__(self) -> str:
        place = f" ({self.where})" if self.where else ""
        code = f" [HTTP {self.status}]" if self.status else ""
        return f"{self.source}{place}{code}: {self.reason}"


def report(logger: logging.Logger, problem: SourceProblem) -> SourceProblem:
    """Log ``problem`` as a warning and hand it back, so call sites can ``problems.append(report(...))``."""
    logger.warning("%s", problem)
    return problem
