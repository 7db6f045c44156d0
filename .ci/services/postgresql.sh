#!/usr/bin/env bash
# Real PostgreSQL for the insight-store tests (tests/servers/postgresql.py): the Debian server binaries. The fixture
# runs initdb into a temporary directory and starts `postgres` on 127.0.0.1 on a free port as a non-root user, so no
# cluster is created or started here. psycopg (the driver) comes from PyPI with faultline's own dependencies.
set -euo pipefail

have() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }

if ! have; then
  # no default cluster: the tests make their own
  mkdir -p /etc/postgresql-common
  if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  fi
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql
fi
have || { echo "postgresql.sh: initdb/postgres not found under /usr/lib/postgresql/*/bin after install" >&2; exit 1; }

# initdb refuses to run as root: the fixture switches to this user when the tests run as root (as CI does)
if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi
echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1) ($("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/postgres" --version))"
