#!/usr/bin/env bash
# Generates N random blueprints over the whole format (tests/support/random.rs), then checks,
# generates, formats and compiles (clippy -D warnings) each, and prints how many passed.
#
#   bash bench/random-blueprints.sh [N=100] [FIRST_SEED=1000]
#
# Each system compiles on its own (its crates are its own), in the shared target directory;
# on 2 cores a system takes about a minute once dependencies are built. Failing blueprints are
# kept in target/random-failures/.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
n="${1:-100}"
seed="${2:-1000}"
start=$SECONDS
MSA_RANDOM_SYSTEMS="$n" MSA_RANDOM_SEED="$seed" \
  cargo test -q -p msa-gen-tests --test random_blueprints random_workspaces_compile \
  -- --nocapture 2>&1 | tee target/random-blueprints.log | grep -E "^random systems:|^seed |FAILED" || true
echo "took $((SECONDS - start))s; log in target/random-blueprints.log"
