#!/usr/bin/env bash
# README command 1 (`bash tests/demo-shop.sh`) timed as from a fresh machine, as far as this
# one allows: an empty cargo registry (every crate downloaded), an empty target directory
# (msa-gen and the shop built from nothing), and every msa-gen-local image removed (rebuilt
# from Debian packages). Docker and Rust stay installed. Prints when the images are ready, the
# workspace is built and the gateway answers `/health/ready`, then stops the shop.
#
#   bash bench/fresh-demo.sh [SCRATCH_DIR]     (default /tmp/msa-gen-fresh; it is emptied)
#
# It removes the local images the tests use: the next `tests/setup.sh` rebuilds them.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="${1:-/tmp/msa-gen-fresh}"
rm -rf "$scratch"
mkdir -p "$scratch/cargo-home"
export CARGO_HOME="$scratch/cargo-home" CARGO_TARGET_DIR="$scratch/target"
# rustup's proxies stay reachable with the new CARGO_HOME.
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
docker images --format '{{.Repository}}:{{.Tag}}' | grep '^msa-gen-local/' | xargs -r docker rmi -f >/dev/null
log="$scratch/demo.log"
start=$SECONDS
at() { echo "$((SECONDS - start)) s: $*"; }
bash "$repo/tests/demo-shop.sh" "$scratch/shop" >"$log" 2>&1 &
pid=$!
images=0 built=0
while kill -0 "$pid" 2>/dev/null; do
  if [ "$images" = 0 ] && grep -q "Docker and images ready" "$log"; then at "images ready"; images=1; fi
  if [ "$built" = 0 ] && grep -q "built the workspace" "$log"; then
    at "$(grep -o 'built the workspace.*' "$log")"; built=1
  fi
  gateway="$(grep -o 'gateway   http://[0-9.:]*' "$log" | head -1 | awk '{print $2}')"
  if [ -n "$gateway" ] && curl -sf "$gateway/health/ready" >/dev/null; then
    at "the gateway answers ($gateway)"
    break
  fi
  sleep 1
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
at "stopped; the output is in $log"
