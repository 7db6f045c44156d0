"""Errors raised by the rca package.

::

    RcaError                         base of everything raised here
    └── WalkDidNotConverge           the random walk's power iteration hit max_iter
"""


class RcaError(Exception):
    """Base of all rca errors."""


class WalkDidNotConverge(RcaError):
    def __init__(self, max_iter: int, residual: float) -> None:
        self.max_iter = max_iter
        self.residual = residual
        super().__init__(f"random walk did not converge in {max_iter} iterations (residual {residual:.2e})")
