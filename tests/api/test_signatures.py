"""PagerDuty V3 signature checks, on the documented scheme: ``v1=`` + hex HMAC-SHA256 of the raw body, comma-separated,
one per signing secret while a secret is rotated."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from api.exceptions import SignatureError
from api.services.signatures import sign, verify

BODY = '{"event":{"id":"01","event_type":"incident.triggered","data":{"title":"café ☕ down"}}}'.encode("utf-8")
OLD, NEW = b"old-secret-0123456789", b"new-secret-9876543210"


def test_sign_is_hex_hmac_sha256_of_raw_body() -> None:
    assert sign(BODY, NEW) == "v1=" + hmac.new(NEW, BODY, hashlib.sha256).hexdigest()


def test_valid_single_signature() -> None:
    verify(BODY, sign(BODY, NEW), [NEW])


@pytest.mark.parametrize("header", [
    lambda: f"{sign(BODY, OLD)},{sign(BODY, NEW)}",
    lambda: f"{sign(BODY, NEW)},{sign(BODY, OLD)}",
    lambda: f"{sign(BODY, OLD)}, {sign(BODY, NEW)}",
])
def test_rotation_any_listed_signature_may_match(header) -> None:
    verify(BODY, header(), [NEW])


def test_rotation_on_our_side_two_configured_secrets() -> None:
    verify(BODY, sign(BODY, OLD), [NEW, OLD])
    verify(BODY, sign(BODY, NEW), [NEW, OLD])


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header) -> None:
    with pytest.raises(SignatureError) as info:
        verify(BODY, header, [NEW])
    assert info.value.missing is True


@pytest.mark.parametrize("header", [
    lambda: sign(BODY, b"some-other-secret-xx"),
    lambda: sign(BODY + b" ", NEW),
    lambda: "v2=" + hmac.new(NEW, BODY, hashlib.sha256).hexdigest(),
    lambda: hmac.new(NEW, BODY, hashlib.sha256).hexdigest(),
    lambda: sign(BODY, NEW).upper(),
    lambda: "v1=",
])
def test_wrong_signature(header) -> None:
    with pytest.raises(SignatureError) as info:
        verify(BODY, header(), [NEW])
    assert info.value.missing is False


def test_tampered_body_fails() -> None:
    header = sign(BODY, NEW)
    with pytest.raises(SignatureError):
        verify(BODY.replace(b"down", b"fine"), header, [NEW])
