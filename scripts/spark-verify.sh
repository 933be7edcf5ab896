#!/usr/bin/env bash
# Spark verification tier (not part of `cargo test`): the exported PySpark job, run in local mode
# in one JVM, must reproduce `pulse metrics --json` exactly for three parameter sets.
# Needs Java 17 (Debian: apt-get install openjdk-17-jre-headless); installs pyspark from pip.
# usage: scripts/spark-verify.sh [--events N] [--seed S] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v java >/dev/null; then
  echo "spark-verify: java not found (apt-get install openjdk-17-jre-headless)" >&2
  exit 2
fi
python3 -c "import pyspark" 2>/dev/null || python3 -m pip install --quiet pyspark
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --bin pulse
exec python3 tests/spark/verify.py --pulse "$CARGO_TARGET_DIR/debug/pulse" "$@"
