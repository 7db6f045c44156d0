#!/usr/bin/env bash
# Builds the Neo4j 5.26 community launcher (.ci/neo4j) that tests/servers/neo4j.py starts.
# Idempotent: skipped when target/ already holds a build of exactly this pom.xml and launcher source.
# Needs Java 17 and Maven (installed from Debian if missing) and Maven Central; ~/.m2 is reused when present.
set -euo pipefail
cd "$(dirname "$0")/../neo4j"

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "neo4j.sh: installing ${need_apt[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q "${need_apt[@]}"
fi

java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then
  echo "neo4j.sh: Neo4j 5.26 needs Java 17+, found ${java_major:-none}" >&2
  exit 1
fi

stamp_file=target/.faultline-build-stamp
stamp=$( (cat pom.xml; find src -type f -name '*.java' | sort | xargs cat) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] \
   && [ -d target/classes/faultline ] && ls target/lib/neo4j-*.jar >/dev/null 2>&1; then
  echo "neo4j.sh: launcher already built ($stamp)"
  exit 0
fi

echo "neo4j.sh: building the Neo4j launcher with Maven"
rm -rf target
mvn -B -q -DskipTests package
ls target/lib/neo4j-*.jar >/dev/null
echo "$stamp" > "$stamp_file"
echo "neo4j.sh: built $(ls target/lib | wc -l) jars into .ci/neo4j/target/lib"
