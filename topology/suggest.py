"""'Did you mean': the existing entity ids closest to one that does not exist.

Why: ids are typed by hand (``app:chat`` for ``app:chat-frontend``) and an error that only says "unknown entity"
sends the user off to list the graph. The closest ids by ``difflib`` similarity come first, then ids that contain the
typed name or start with it (``app:chat`` → ``app:chat-frontend`` even when the similarity is low), same kind first.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest_ids"]

MAX_SUGGESTIONS = 5


def closest_ids(wanted: str, ids: Iterable[str], n: int = MAX_SUGGESTIONS) -> tuple[str, ...]:
    """Up to ``n`` ids of ``ids`` that ``wanted`` was probably meant to be, best first.

    Examples
    --------
    >>> closest_ids("app:chat", ["app:chat-frontend", "app:rag-service", "pod:prod/chat-frontend-0"])
    ('app:chat-frontend', 'pod:prod/chat-frontend-0')
    >>> closest_ids("pod:prod/vllm-2", ["pod:prod/vllm-0", "pod:prod/vllm-1", "gpu:n/0"])
    ('pod:prod/vllm-0', 'pod:prod/vllm-1')
    >>> closest_ids("app:zzz", ["pod:a/b"])
    ()
    """
    pool = [i for i in dict.fromkeys(ids) if i != wanted]
    kind, _, name = wanted.partition(":")
    same_kind = [i for i in pool if i.startswith(f"{kind}:")]
    close = _ranked(wanted, same_kind, n, 0.5)
    close += [i for i in _ranked(wanted, pool, n, 0.6) if i not in close]
    if name:
        needle = name.lower()
        contains = sorted((i for i in pool if needle in i.partition(":")[2].lower() and i not in close),
                          key=lambda i: (not i.startswith(f"{kind}:"), len(i), i))
        close += contains
    return tuple(close[:n])


def _ranked(wanted: str, pool: list[str], n: int, cutoff: float) -> list[str]:
    """``difflib.get_close_matches`` with ties broken by id, so the answer does not depend on the pool's order."""
    scored = []
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(wanted)
    for candidate in pool:
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff and matcher.ratio() >= cutoff:
            scored.append((-matcher.ratio(), candidate))
    return [c for _, c in sorted(scored)[:n]]
