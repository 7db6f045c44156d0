"""An OTLP/HTTP receiver on 127.0.0.1 and helpers that produce spans with the real ``opentelemetry-sdk``.

The spans are exported by the SDK's own OTLP/JSON exporter (``opentelemetry-exporter-otlp-json-http``) over real
HTTP to ``otlp_receiver``, which keeps each request body as received: the tests parse exactly what a collector or
faultline's ``POST /v1/traces`` would get from an instrumented app.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class OtlpReceiver:
    url: str
    bodies: list[bytes] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    @property
    def traces_endpoint(self) -> str:
        return f"{self.url}/v1/traces"

    def write_jsonl(self, path) -> None:
        """The received export requests as JSON Lines (one request a line), like a file exporter writes."""
        with open(path, "wb") as handle:
            for body in self.bodies:
                handle.write(body.replace(b"\n", b"") + b"\n")


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with lock:
                receiver.bodies.append(body)
                receiver.content_types.append(self.headers.get("Content-Type", ""))
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield receiver
    server.shutdown()
    server.server_close()


def span_exporter(endpoint: str, encoding: str = "json", gzip: bool = False, headers: Mapping[str, str] | None = None):
    """The SDK's own OTLP/HTTP span exporter: ``protobuf`` (opentelemetry-exporter-otlp-proto-http, the default
    exporter of the SDK) or ``json`` (opentelemetry-exporter-otlp-json-http), gzip on or off."""
    if encoding == "protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, headers=dict(headers or {}),
                                compression=Compression.Gzip if gzip else Compression.NoCompression)
    from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
    from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter

    return JsonSpanExporter(endpoint=endpoint, headers=dict(headers or {}),
                            compression=JsonCompression.GZIP if gzip else JsonCompression.NONE)


def log_exporter(endpoint: str, encoding: str = "json", gzip: bool = False, headers: Mapping[str, str] | None = None):
    """The SDK's OTLP/HTTP log exporter, protobuf or JSON, gzip on or off."""
    if encoding == "protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, headers=dict(headers or {}),
                               compression=Compression.Gzip if gzip else Compression.NoCompression)
    from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
    from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogExporter

    return JsonLogExporter(endpoint=endpoint, headers=dict(headers or {}),
                           compression=JsonCompression.GZIP if gzip else JsonCompression.NONE)


class LogServices:
    """One ``LoggerProvider`` per service, emitting through the stdlib ``logging`` bridge (``LoggingHandler``), as an
    instrumented Python app does."""

    def __init__(self, endpoint: str, names: Sequence[str], *, encoding: str = "json", gzip: bool = False,
                 headers: Mapping[str, str] | None = None, resource: Mapping[str, str] | None = None) -> None:
        import logging
        import warnings

        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource

        self.providers = {}
        self.loggers = {}
        for name in names:
            provider = LoggerProvider(resource=Resource.create({"service.name": name, **dict(resource or {})}))
            provider.add_log_record_processor(BatchLogRecordProcessor(
                log_exporter(endpoint, encoding, gzip, headers), max_queue_size=50_000, max_export_batch_size=512))
            logger = logging.getLogger(f"faultline-tests.{name}.{id(provider)}")
            logger.propagate = False
            logger.setLevel(logging.DEBUG)
            with warnings.catch_warnings():  # the SDK's bridge is deprecated in favour of a contrib package
                warnings.simplefilter("ignore", DeprecationWarning)
                handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
            logger.addHandler(handler)
            self.providers[name] = provider
            self.loggers[name] = logger

    def flush(self) -> bool:
        return all(provider.force_flush() for provider in self.providers.values())

    def shutdown(self) -> None:
        for name, provider in self.providers.items():
            for handler in list(self.loggers[name].handlers):
                self.loggers[name].removeHandler(handler)
            provider.shutdown()


class Services:
    """One ``TracerProvider`` per service (a resource with ``service.name``), all exporting to one endpoint."""

    def __init__(self, endpoint: str, names: Sequence[str], *, encoding: str = "json", gzip: bool = False,
                 headers: Mapping[str, str] | None = None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.providers = {}
        for name in names:
            provider = TracerProvider(resource=Resource.create({"service.name": name}))
            provider.add_span_processor(BatchSpanProcessor(span_exporter(endpoint, encoding, gzip, headers),
                                                           max_queue_size=50_000, max_export_batch_size=1024))
            self.providers[name] = provider

    def tracer(self, service: str):
        return self.providers[service].get_tracer("faultline-tests")

    def span(self, service: str, name: str, *, start_ns: int, end_ns: int, kind: str = "INTERNAL", parent=None,
             attributes: Mapping[str, object] | None = None, error: bool = False):
        """A finished span with explicit times (so history can be made in a second), parented to ``parent``."""
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer(service).start_span(
            name, context=context, kind=getattr(SpanKind, kind), attributes=dict(attributes or {}), start_time=start_ns)
        if error:
            span.set_status(Status(StatusCode.ERROR, "upstream failed"))
        span.end(end_time=end_ns)
        return span

    def flush(self) -> bool:
        return all(provider.force_flush() for provider in self.providers.values())

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def chat_request(services: Services, *, start_s: float, user: str, model: str = "deepseek-r1",
                 ttft_s: float = 0.3, chunks: int = 4, chunk_s: float = 0.05, tokens_per_chunk: int = 8,
                 retrieval_s: float = 0.04, error: bool = False) -> None:
    """One chat turn: user → ``chat`` (SERVER) → ``rag`` (CLIENT→SERVER) → milvus retrieval + a streamed LLM call
    exported as ``chunks`` chunk spans (GenAI semantic conventions)."""
    ns = lambda seconds: int(seconds * 1e9)  # noqa: E731
    llm_start = start_s + 0.01 + retrieval_s + 0.01
    llm_end = llm_start + ttft_s + (chunks - 1) * chunk_s
    end = llm_end + 0.01
    root = services.span("chat", "POST /v1/chat", kind="SERVER", start_ns=ns(start_s), end_ns=ns(end + 0.01),
                         attributes={"user.id": user, "gen_ai.conversation.id": f"conv-{user}",
                                     "http.request.method": "POST", "http.route": "/v1/chat"}, error=error)
    client = services.span("chat", "POST rag", kind="CLIENT", parent=root, start_ns=ns(start_s + 0.005),
                           end_ns=ns(end + 0.005), attributes={"server.address": "rag"})
    server = services.span("rag", "POST /answer", kind="SERVER", parent=client, start_ns=ns(start_s + 0.006),
                           end_ns=ns(end), attributes={"http.route": "/answer"}, error=error)
    services.span("rag", "retrieval docs", kind="CLIENT", parent=server, start_ns=ns(start_s + 0.01),
                  end_ns=ns(start_s + 0.01 + retrieval_s),
                  attributes={"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "milvus",
                              "db.system.name": "milvus", "db.collection.name": "docs"})
    t = llm_start
    for i in range(chunks):
        chunk_end = llm_start + ttft_s if i == 0 else t + chunk_s
        services.span("rag", f"chat {model}", kind="CLIENT", parent=server, start_ns=ns(t), end_ns=ns(chunk_end),
                      attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                  "gen_ai.request.model": model, "gen_ai.request.stream": True,
                                  "gen_ai.response.id": f"resp-{user}-{start_s:.3f}",
                                  "gen_ai.usage.output_tokens": tokens_per_chunk,
                                  **({"gen_ai.usage.input_tokens": 120} if i == 0 else {})},
                      error=error and i == chunks - 1)
        t = chunk_end
