"""How many LLM narratives get through: valid JSON, grounded, and never an invented fact shown to the user.

For each of N generated incidents (``benchmarks/scenarios.py``, held-out seeds) the real pipeline ranks the causes,
then the LLM narrator narrates them once per profile (``full``, ``small``) against a real OpenAI-compatible server.
Every answer the model sends is recorded (through a recording ``ChatClient``), so the table counts answers as well
as narratives:

* answers valid JSON — the share of the model's replies that parse as JSON at all;
* cut at max_tokens — replies stopped by the token limit (the sizing in ``narrator.schema`` should make this 0);
* narratives grounded — the share of incidents whose final narrative is the model's (passed the grounding check,
  at most one retry); the others fall back to the template narrative, with the reason counted;
* invented facts shown — every final narrative is re-checked against the evidence the model was shown (ids, times,
  entity–time pairs, numbers, kubectl namespaces); must be 0.

Usage (starts llama.cpp's server with SmolLM2-135M from ``.venv-llm`` on a free 127.0.0.1 port)::

    python -m benchmarks.bench_narrator --smollm2 --cases 20 --out benchmarks/out/narrator.jsonl

or against any OpenAI-compatible endpoint::

    python -m benchmarks.bench_narrator --base-url http://127.0.0.1:8000/v1 --model qwen2.5-0.5b --cases 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass
class RecordingClient:
    """Wraps a ``ChatClient`` and keeps every reply (content, finish reason, usage)."""

    inner: Any
    replies: list[dict[str, Any]] = field(default_factory=list)

    def complete(self, messages, *, response_format, max_tokens, temperature, timeout_s):  # noqa: ANN001 - protocol
        started = time.monotonic()
        reply = self.inner.complete(messages, response_format=response_format, max_tokens=max_tokens,
                                    temperature=temperature, timeout_s=timeout_s)
        try:
            json.loads(reply.content, strict=False)
            valid = True
        except ValueError:
            valid = False
        self.replies.append({
            "format": (response_format or {}).get("type"), "max_tokens": max_tokens, "valid_json": valid,
            "finish_reason": reply.finish_reason, "completion_tokens": reply.completion_tokens,
            "prompt_tokens": reply.prompt_tokens, "seconds": round(time.monotonic() - started, 2),
        })
        return reply


def _start_smollm2() -> tuple[subprocess.Popen[bytes], str]:
    """llama.cpp's OpenAI server with SmolLM2-135M-Instruct from ``.venv-llm`` (``.ci/services/llm.sh``)."""
    sys.path.insert(0, str(REPO))
    from tests.servers.common import free_port
    from tests.servers.llm import LLM_VENV, MODEL_ALIAS, N_CTX, N_THREADS, _model_path, _venv_python, _wait_ready

    python = _venv_python()
    model = _model_path(python) if python else None
    if python is None or model is None:
        raise SystemExit(f"{LLM_VENV} or its model is missing: run .ci/services/llm.sh")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = open(tempfile.mkstemp(prefix="bench-llm-", suffix=".log")[1], "wb")  # noqa: SIM115 - lives with the server
    proc = subprocess.Popen(
        [str(python), "-m", "llama_cpp.server", "--model", model, "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(N_CTX), "--n_threads", str(N_THREADS), "--n_threads_batch",
         str(N_THREADS), "--seed", "7"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    if not _wait_ready(base_url, proc, 120):
        proc.kill()
        raise SystemExit(f"llama.cpp server did not start; see {log.name}")
    body = json.dumps({"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4})
    urllib.request.urlopen(urllib.request.Request(f"{base_url}/chat/completions", data=body.encode(),  # noqa: S310
                                                  headers={"Content-Type": "application/json"}), timeout=300).read()
    return proc, base_url


def recheck(narrative: Any, prompt: Any) -> list[str]:
    """Re-run the grounding rules on the narrative the user would see (LLM-written ones; the template's are built
    from the evidence). Returns the problems; an empty list means nothing invented reached the user."""
    from narrator.grounding import _text_problems, index_evidence, unsafe_kubectl
    from topology.models import short_id

    problems: list[str] = []
    for fix in narrative.fix_suggestions:
        for text in (fix.action, fix.command or "", fix.effect or "", fix.undo or ""):
            problems += [f"unsafe kubectl: {c}" for c in unsafe_kubectl(text)]
    if narrative.narrator != "llm":
        return problems
    index = index_evidence(prompt.pack, [m["content"] for m in prompt.messages])
    for step in narrative.event_chain:
        entity = index.resolve(short_id(step.entity)) or index.resolve(step.entity)
        if entity is None or not index.has_moment(entity, step.at):
            problems.append(f"step {step.entity} at {step.at} not in the evidence")
        problems += _text_problems("step", step.what, index)
    problems += _text_problems("summary", narrative.summary, index)
    for fix in narrative.fix_suggestions:
        if fix.command is None:  # the model's own fix (faultline's carry a command and were built from evidence)
            problems += _text_problems("fix", fix.action, index) + _text_problems("fix", fix.risk, index)
    return problems


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO))
    from benchmarks.scenarios import generate, suite, write_case
    from correlators.case_files import load_case
    from narrator.client import OpenAIChatClient
    from narrator.config import NarratorSettings
    from narrator.llm import LLMNarrator
    from rca.pipeline import analyze

    rows: list[dict[str, Any]] = []
    specs = suite(args.suite)[: args.cases]
    with tempfile.TemporaryDirectory(prefix="bench-narrator-") as tmp:
        for spec in specs:
            case_dir = write_case(generate(spec), Path(tmp) / f"{spec.seed}", with_truth=False)
            analysis = analyze(load_case(case_dir))
            for profile in args.profiles:
                settings = NarratorSettings(
                    llm_base_url=args.base_url, llm_model=args.model, llm_profile=profile, llm_cache_size=0,
                    llm_max_tokens=args.max_tokens, llm_timeout_s=args.deadline, llm_deadline_s=args.deadline,
                    llm_max_retries=0, llm_response_format=args.response_format,
                )
                client = RecordingClient(OpenAIChatClient(args.base_url, args.model))
                narrator = LLMNarrator(settings, client=client)
                started = time.monotonic()
                narrative = narrator.narrate(analysis)
                elapsed = time.monotonic() - started
                row = {
                    "seed": spec.seed, "fault": spec.fault, "entities": spec.entities, "profile": profile,
                    "model": args.model, "narrator": narrative.narrator, "seconds": round(elapsed, 1),
                    "fallback": (narrative.fallback_reason or "").split(":", 1)[0] or None,
                    "fallback_reason": narrative.fallback_reason, "replies": client.replies,
                    "invented_shown": recheck(narrative, narrator.prompt(analysis)),
                    "summary": narrative.summary[:300],
                }
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k not in ("replies", "fallback_reason")}), flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | profile | incidents | answers | valid JSON | cut at max_tokens | narratives grounded | "
        "invented facts shown | median s | fallbacks |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (model, profile) in dict.fromkeys((r["model"], r["profile"]) for r in rows):
        mine = [r for r in rows if r["model"] == model and r["profile"] == profile]
        replies = [x for r in mine for x in r["replies"]]
        grounded = sum(r["narrator"] == "llm" for r in mine)
        fallbacks = Counter(r["fallback"] for r in mine if r["fallback"])
        lines.append(
            f"| {model} | {profile} | {len(mine)} | {len(replies)} | "
            f"{sum(x['valid_json'] for x in replies)}/{len(replies)} | "
            f"{sum(x['finish_reason'] == 'length' for x in replies)} | {grounded}/{len(mine)} ({grounded / len(mine):.0%}) | "
            f"{sum(bool(r['invented_shown']) for r in mine)} | {statistics.median(r['seconds'] for r in mine):.0f} | "
            + (", ".join(f"{k} {v}" for k, v in fallbacks.most_common()) or "none") + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smollm2", action="store_true", help="start llama.cpp + SmolLM2-135M from .venv-llm")
    ap.add_argument("--base-url", help="OpenAI-compatible endpoint (…/v1)")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--suite", default="heldout", choices=["dev", "heldout"])
    ap.add_argument("--profiles", type=lambda s: s.split(","), default=["full", "small"])
    ap.add_argument("--max-tokens", type=int, default=1500)
    ap.add_argument("--response-format", default="auto", choices=["auto", "json_schema", "json_object", "none"])
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds per narration (generous: CPU inference)")
    ap.add_argument("--out", type=Path, help="also write every row (with each reply) as JSON lines here")
    args = ap.parse_args(argv)
    proc = None
    if args.smollm2:
        proc, args.base_url = _start_smollm2()
    if not args.base_url:
        ap.error("give --base-url or --smollm2")
    try:
        rows = run(args)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(table(rows))
    return 0 if not any(r["invented_shown"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
