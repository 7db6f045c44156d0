"""The one shape of every error answer (4xx and 5xx), whoever produced it: a route, FastAPI's validation, Starlette's
routing (404/405), or an ASGI middleware that refused the request before the app saw it (401, 408, 413, 421, 400).

``detail`` is one sentence for a person; ``problems`` lists each field that failed validation (``field: message``),
empty otherwise. Neither ever holds a traceback, an exception's class name, or a library's own message about its
internals: clients can show ``detail`` as it is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong, in one sentence")
    problems: list[str] = Field(default=[], description="for 422: each invalid field as 'field: message'")


def error_body(detail: str, problems: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON document of an error answer."""
    return {"detail": detail, "problems": list(problems)}


def validation_problems(errors: list[Any], limit: int = 20) -> list[str]:
    """pydantic's error list as ``field.path: message`` lines (the first ``limit``). Only the location and pydantic's
    sentence are used: never the input value (it may be megabytes, or a secret pasted in the wrong field)."""
    problems = []
    for err in errors[:limit]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        message = str(err.get("msg", "invalid value"))
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append(f"{'.'.join(loc) or '(body)'}: {message}")
    return problems


def json_error(exc: Exception) -> str:
    """Why ``json.loads`` refused a body, in words (no codec names, no Python exception text)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"it is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, RecursionError):
        return "it nests too deeply"
    if isinstance(exc, ValueError) and hasattr(exc, "lineno"):  # json.JSONDecodeError
        return f"{getattr(exc, 'msg', 'parse error')} at line {exc.lineno} column {getattr(exc, 'colno', 0)}"
    if "digits" in str(exc):  # Python refuses to convert integers of more than 4,300 digits
        return "it holds an integer of more than 4300 digits"
    return "parse error"
