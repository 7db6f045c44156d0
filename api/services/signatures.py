"""PagerDuty V3 webhook signatures.

PagerDuty signs the raw request body with HMAC-SHA256 under each of the subscription's signing secrets and sends
``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`` — several signatures while a secret is being rotated. A delivery is
authentic when any ``v1`` signature matches one computed with any secret we hold (we may hold several too, while
rotating on our side). Every comparison runs with ``hmac.compare_digest`` and all of them run (no early exit), so the
time taken says nothing about which part matched. (PagerDuty developer docs, "Verifying Signatures".)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from ..exceptions import SignatureError

HEADER = "X-PagerDuty-Signature"
VERSION = "v1"
MAX_SIGNATURES = 16


def sign(body: bytes, secret: bytes) -> str:
    """The ``v1=`` signature of ``body`` (what PagerDuty sends; tests use it to sign deliveries)."""
    return f"{VERSION}=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secrets: Sequence[bytes]) -> None:
    """Raise ``SignatureError`` unless ``header`` carries a ``v1`` signature of ``body`` under one of ``secrets``."""
    if header is None or not header.strip():
        raise SignatureError(f"missing {HEADER} header", missing=True)
    offered = [part.strip() for part in header.split(",") if part.strip()]
    v1 = [sig for sig in offered if sig.startswith(f"{VERSION}=")][:MAX_SIGNATURES]
    if not v1:
        raise SignatureError(f"{HEADER} carries no {VERSION}= signature", missing=False)
    expected = [sign(body, secret).encode() for secret in secrets]
    matched = False
    for candidate in v1:
        raw = candidate.encode("utf-8", "replace")
        for good in expected:
            matched |= hmac.compare_digest(raw, good)
    if not matched:
        raise SignatureError(f"{HEADER} does not match the configured signing secret", missing=False)
