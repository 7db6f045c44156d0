"""Everything the server reads from its environment, validated once at start-up.

One ``Settings`` class (env prefix ``FAULTLINE_``), read by the cached ``get_settings()`` dependency and never at import
time, so tests can build an app per configuration. Secrets are ``SecretStr``: their ``repr`` is ``'**********'`` and
they are never written to a log line or an API answer.

Complex values are JSON in the environment, e.g.::

    FAULTLINE_API_TOKENS='[{"name": "ci", "token": "…", "scopes": ["read", "write"]}]'
    FAULTLINE_PAGERDUTY_SERVICE_MAP='{"PIJ90N7": "app:chat", "Chat API": "app:chat"}'
    FAULTLINE_ALERT_ENTITY_RULES='["{faultline_entity}", "pod:{namespace}/{pod}", "app:{app}"]'
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from topology.case_files import CaseLimits
from topology.timeutil import parse_duration

Scope = Literal["read", "write"]

DEFAULT_ALERT_ENTITY_RULES: tuple[str, ...] = (
    "{faultline_entity}",
    "{entity}",
    "pod:{namespace}/{pod}",
    "llm:{model_name}",
    "llm:{model}",
    "app:{app}",
    "app:{service}",
    "app:{job}",
)


class ApiToken(BaseModel):
    """One API token. ``write`` implies ``read``. ``name`` is what logs and audit lines show instead of the token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    token: SecretStr
    scopes: tuple[Scope, ...] = ("read",)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("an API token must be at least 16 characters")
        return value

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or (scope == "read" and "write" in self.scopes)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Server configuration (env prefix ``FAULTLINE_``)."""

    model_config = SettingsConfigDict(env_prefix="FAULTLINE_", env_ignore_empty=True, extra="ignore", frozen=True)

    # -- where it listens, what it calls itself ---------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="Base URL people reach the console at (links in PagerDuty notes); default http://host:port"
    )

    # -- data: insight store, and where analyses read topology and metrics from -------------------------------------
    db_path: Path = Path("var/faultline.sqlite3")
    db_url: SecretStr | None = Field(
        default=None, description="postgresql://user:password@host:5432/db: one store shared by N replicas "
                                  "(default: the SQLite file db_path, one process)")
    lease_s: float = Field(default=30.0, ge=2, description="how long a replica holds an insight or a note before "
                                                           "another may take it over (renewed while it works)")
    replica_id: str | None = Field(default=None, description="name of this replica in leases (default host:pid)")
    case_dir: Path | None = Field(default=None, description="Embedded default: a case directory (default: the demo case)")
    store: Literal["memory", "neo4j"] | None = Field(
        default=None, description="Live topology store; unset = neo4j when a Neo4j URI is set, else the graph file")
    graph_file: Path | None = Field(default=None, description="Live topology: a MemoryStore JSON file kept by collectors")
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str = "neo4j"
    neo4j_retry_s: float = Field(default=10.0, gt=0, description="how long a failing Neo4j transaction is retried")
    prometheus_url: str | None = None
    collected_dir: Path | None = Field(default=None, description="Changes/events/series saved by `faultline collect`")
    prometheus_step_s: float = Field(default=30.0, gt=0, description="step of the window and one lookback before it")
    prometheus_deadline_s: float = Field(
        default=20.0, gt=0, description="one deadline for all Prometheus queries of an insight; late ones are "
                                        "cancelled and listed in the insight's `partial`")
    prometheus_concurrency: int = Field(default=8, ge=1, le=64, description="Prometheus queries in flight per insight")
    prometheus_rate_window: str = Field(default="2m", pattern=r"^[0-9]+[smhd]$", description="rate() window")
    baseline: str = Field(default="24h", description="history read before the lookback (and one more lookback) "
                                                     "for the detectors' baseline; 0s = none")
    baseline_step_s: float = Field(default=300.0, gt=0, description="step of that history (coarser than the window)")
    entity_label: str = Field(default="faultline_entity", description="Prometheus label naming the entity of a series")

    # -- spans and logs received over OTLP/HTTP (/v1/traces, /v1/logs) ------------------------------------------------
    telemetry_db: Path | None = Field(default=None, description="SQLite file of recent spans and logs (default: "
                                                                "beside db_path, <db_path stem>-telemetry.sqlite3)")
    telemetry_retention_s: float = Field(default=6 * 3600.0, gt=0, description="spans and logs older than this go")
    telemetry_max_spans: int = Field(default=2_000_000, ge=1000, description="oldest spans go above this count")
    telemetry_max_logs: int = Field(default=5_000_000, ge=1000, description="oldest log records go above this count")
    telemetry_max_bytes: int = Field(default=1 << 30, ge=1 << 20, description="oldest data goes above this file size")
    otlp_max_decompressed_bytes: int = Field(default=64 * 1024 * 1024, ge=1024,
                                             description="an OTLP body inflating past this is refused (413)")
    otlp_max_items: int = Field(default=200_000, ge=1, description="spans or log records one OTLP request may carry")
    loki_url: str | None = Field(default=None, description="Grafana Loki base URL: logs of each insight's window")
    loki_query: str = Field(default='{namespace=~".+"}', description="LogQL log query the Loki source runs")

    # -- analysis ---------------------------------------------------------------------------------------------------
    max_concurrent_insights: int = Field(default=2, ge=1, le=64)
    insight_timeout_s: float = Field(default=120.0, gt=0)
    default_lookback: str = "60m"
    hops: int = Field(default=6, ge=1, le=12)
    insight_retries: int = Field(
        default=10, ge=0, le=100, description="re-runs of an insight whose data source is down (backoff doubling; ~18 min)"
    )
    insight_retry_backoff_s: float = Field(default=2.0, gt=0, description="first wait before a re-run; doubles, max 5 min")

    # -- hostile input ------------------------------------------------------------------------------------------------
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="request bodies above this get 413")
    max_metric_rows: int = Field(default=10_000_000, ge=1, description="samples one case (file or inline) may hold")
    max_json_depth: int = Field(default=128, ge=8, le=190, description="request bodies nesting deeper get 400, "
                                "before any parser runs (190: below every recursive parser's own limit)")
    body_idle_timeout_s: float = Field(default=10.0, gt=0, description="an upload silent this long gets 408")
    body_timeout_s: float = Field(default=120.0, gt=0, description="an upload still unfinished after this gets 408")
    max_alerts_per_incident: int = Field(default=1000, ge=1, description="alerts one incident keeps; later new "
                                         "ones are counted in its details.dropped_alerts, not stored")
    inline_case_memory_bytes: int = Field(default=2 * 1024 ** 3, ge=64 * 1024 ** 2, description="most memory (RSS) "
                                          "the worker process reading or analysing one big inline case may use")

    # -- access -----------------------------------------------------------------------------------------------------
    auth: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto: tokens required unless bound to loopback with no tokens configured"
    )
    api_tokens: tuple[ApiToken, ...] = ()
    allowed_hosts: tuple[str, ...] = Field(default=(), description=(
        "Host names (besides loopback names, IP addresses and public_url's host) requests may be addressed to; "
        "'*.example.com' matches sub-domains; '*' turns the check off (refused in token-less mode)"))

    # -- Alertmanager -----------------------------------------------------------------------------------------------
    alert_entity_rules: tuple[str, ...] = DEFAULT_ALERT_ENTITY_RULES
    alert_metric_label: str = "faultline_metric"

    # -- PagerDuty --------------------------------------------------------------------------------------------------
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None, description="V3 webhook signing secret(s); several comma-separated while rotating"
    )
    pagerduty_api_token: SecretStr | None = None
    pagerduty_from: str | None = None
    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_service_map: dict[str, str] = Field(
        default_factory=dict, description="PagerDuty service id or name, or a title substring, -> symptom entity id"
    )
    outbox_poll_s: float = Field(default=1.0, gt=0)
    outbox_max_backoff_s: float = Field(default=300.0, gt=0)
    outbox_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("alert_entity_rules")
    @classmethod
    def _rules_have_placeholders(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        for rule in rules:
            if "{" not in rule:
                raise ValueError(f"alert entity rule {rule!r} has no {{label}} placeholder")
        return rules

    @model_validator(mode="after")
    def _auth_is_possible(self) -> "Settings":
        if self.auth_required and not self.api_tokens:
            raise ValueError(
                f"API tokens are required when listening on {self.host!r} (not loopback) or with auth=on: "
                "set FAULTLINE_API_TOKENS, or bind to 127.0.0.1 for the token-less demo mode"
            )
        if "*" in self.allowed_hosts and not self.auth_required:
            raise ValueError("allowed_hosts '*' would let any web page reach the token-less API through DNS "
                             "rebinding: name the hosts, or configure API tokens")
        names = [t.name for t in self.api_tokens]
        if len(set(names)) != len(names):
            raise ValueError("API token names must be unique")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_post(self) -> "Settings":
        if self.lease_s < 2 * self.outbox_timeout_s:
            raise ValueError(f"lease_s ({self.lease_s:g}) must be at least twice outbox_timeout_s "
                             f"({self.outbox_timeout_s:g}): a note POST must end well inside the lease that covers it")
        return self

    @model_validator(mode="after")
    def _prometheus_answers_inside_an_insight(self) -> "Settings":
        if self.prometheus_deadline_s >= self.insight_timeout_s:
            raise ValueError(f"prometheus_deadline_s ({self.prometheus_deadline_s:g}) must be shorter than "
                             f"insight_timeout_s ({self.insight_timeout_s:g}): the metrics read is one part of an insight")
        try:
            parse_duration(self.baseline)
        except ValueError as exc:
            raise ValueError(f"baseline: {exc}") from exc
        return self

    @property
    def baseline_delta(self) -> timedelta:
        return parse_duration(self.baseline)

    @property
    def auth_required(self) -> bool:
        if self.auth == "on":
            return True
        if self.auth == "off":
            return False
        return bool(self.api_tokens) or not is_loopback(self.host)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def public_host(self) -> str | None:
        """The host name of ``public_url`` (what browsers put in ``Host`` when they reach faultline through it)."""
        if not self.public_url:
            return None
        return urlsplit(self.public_url).hostname

    @property
    def telemetry_path(self) -> Path:
        return self.telemetry_db or self.db_path.with_name(f"{self.db_path.stem}-telemetry.sqlite3")

    def case_limits(self) -> CaseLimits:
        """Bounds for every case faultline reads (the case directory, inline cases in requests)."""
        return CaseLimits(max_metric_rows=self.max_metric_rows)

    def pagerduty_secrets(self) -> list[bytes]:
        """Every configured webhook signing secret (several during a rotation)."""
        if self.pagerduty_webhook_secret is None:
            return []
        raw = self.pagerduty_webhook_secret.get_secret_value()
        return [part.strip().encode("utf-8") for part in raw.split(",") if part.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once (tests override the dependency instead)."""
    return Settings()
