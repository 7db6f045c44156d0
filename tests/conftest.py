"""Shared pytest setup.

Server fixtures live in ``tests/servers/<name>.py`` and are registered here as plugins, so any
test package can use them. With ``FAULTLINE_REQUIRE_SERVERS=1`` (set by ``make test``) a server
that cannot be started fails the test instead of skipping it: CI must never go green by skipping.
"""

pytest_plugins: list[str] = [
    "tests.servers.common",
    "tests.servers.neo4j",
    "tests.servers.llm",
    "tests.servers.llm_scripted",
    "tests.servers.prometheus",
    "tests.servers.kubernetes",
    "tests.servers.otlp",
    "tests.servers.loki_api",
    "tests.servers.pagerduty",
    "tests.servers.browser",
    "tests.servers.faultline",
    "tests.servers.postgresql",
]
