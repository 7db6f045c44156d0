"""Approximate token counting, so a prompt can be held under a budget without the model's tokenizer.

Why approximate: the narrator talks to any OpenAI-compatible model and cannot load each one's tokenizer. Prompts here
are dense with ids, digests, timestamps and numbers, which tokenize far worse than prose: measured with SmolLM2's
tokenizer (llama.cpp ``/extras/tokenize/count``) the demo prompt runs at 1.8 characters a token, because every digit
is a token of its own. So the estimate counts each digit and each punctuation mark (``_`` included) as one token,
each run of letters as one token per 3.5 letters, and adds 10 %. On the demo prompt that over-estimates SmolLM2's
count by ~13 %; tokenizers that merge digits (GPT-4o, Qwen) come out lower still, so the budget is conservative.
``tests/narrator/test_llm_real.py`` re-checks the estimate against the real tokenizer.
"""

from __future__ import annotations

import math
import re

LETTERS_PER_TOKEN = 3.5
MARGIN = 1.10
_DIGIT_OR_MARK = re.compile(r"[0-9!-/:-@\[-`{-~]")  # digits and ASCII punctuation (``_`` included)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_LETTER_RUN = re.compile(r"[A-Za-z]+")

__all__ = ["approx_tokens"]


def approx_tokens(text: str) -> int:
    """An estimate of the tokens in ``text`` meant to err high for BPE tokenizers that split digits."""
    marks = len(_DIGIT_OR_MARK.findall(text))
    letters = sum(math.ceil(len(run) / LETTERS_PER_TOKEN) for run in _LETTER_RUN.findall(text))
    other = len(_NON_ASCII.findall(text))  # →, …, accented letters: a token or more each
    return math.ceil((marks + letters + other) * MARGIN)
