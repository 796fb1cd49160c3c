#!/usr/bin/env bash
# A longer request fuzz against the running shop (tests/e2e_fuzz.rs): N random requests (default
# 20000) from SEED through the gateway and directly at every process; fails on any 500 or any
# panic in a process log.
#
#   bash bench/fuzz-requests.sh [N=20000] [SEED=1]
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
set -a
. tests/images/local-images.env
set +a
start=$SECONDS
MSA_FUZZ_REQUESTS="${1:-20000}" MSA_FUZZ_SEED="${2:-1}" \
  cargo test -q -p msa-gen-tests --test e2e_fuzz -- --nocapture 2>&1 | grep -E "^fuzz:|^#|panicked|test result" || true
echo "took $((SECONDS - start))s"
