# faultline: the insight API + console (`faultline serve`) and the collector (`faultline collect --watch`), one image.
#
#   docker build -t faultline:0.1.0 .
#   docker run -p 8080:8080 -e FAULTLINE_API_TOKENS='[{"name":"ci","token":"<16+ chars>","scopes":["read","write"]}]' faultline:0.1.0
#
# Two stages: `build` makes a virtualenv with faultline and its dependencies (all binary wheels from PyPI: no compiler
# is needed, and none is installed); `runtime` copies only that virtualenv onto a fresh base and runs as a non-root
# user. The base is pinned to an exact tag (Debian 12 "bookworm", like the machines the tests run on); pin its digest
# too when your registry can be read at build time: FROM python:3.11.16-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.16-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/faultline
COPY pyproject.toml README.md ./
COPY topology ./topology
COPY detectors ./detectors
COPY correlators ./correlators
COPY rca ./rca
COPY narrator ./narrator
COPY api ./api
RUN /opt/faultline/bin/pip install --no-cache-dir . \
    && /opt/faultline/bin/python -c "import api.cli, api.storage.postgres, psycopg" \
    && find /opt/faultline -name '__pycache__' -type d -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE} AS runtime
# git: GitPython (the commit collector) runs the git binary; ca-certificates: TLS to Neo4j/PostgreSQL/PagerDuty/LLMs
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 faultline \
    && useradd --system --uid 10001 --gid faultline --home-dir /var/lib/faultline --create-home \
       --shell /usr/sbin/nologin faultline
COPY --from=build /opt/faultline /opt/faultline
ENV PATH=/opt/faultline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FAULTLINE_HOST=0.0.0.0 \
    FAULTLINE_PORT=8080 \
    FAULTLINE_DB_PATH=/var/lib/faultline/faultline.sqlite3
WORKDIR /var/lib/faultline
USER 10001:10001
EXPOSE 8080
# /healthz needs no token; 200 while the insight store answers (a degraded data source still reports 200 + detail)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os,sys,urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FAULTLINE_PORT', '8080'), timeout=4).status == 200 else 1)"]
ENTRYPOINT ["faultline"]
CMD ["serve"]
