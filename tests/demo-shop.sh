#!/usr/bin/env bash
# Generates the shop from blueprints/shop.toml into ./shop (or $1) and runs the whole system
# with `msa-gen dev`: Postgres and NATS in containers, then the registry, config server, auth,
# every service, both BFFs and the gateway, each log line prefixed with its process. It prints
# the gateway, API docs and BFF URLs and the admin's sign-in once everything is ready. Ctrl-C
# stops every process and removes the containers. Installs only Docker and the two images.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$PWD/shop}")"
start=$SECONDS
bash "$repo/tests/setup-docker.sh" postgres nats
set -a
# shellcheck disable=SC1091
. "$repo/tests/images/local-images.env"
set +a
echo "demo: Docker and images ready after $((SECONDS - start))s"

cargo build -q --manifest-path "$repo/Cargo.toml" -p msa-gen
msa_gen="${CARGO_TARGET_DIR:-$repo/target}/debug/msa-gen"
if [ ! -f "$out/blueprint.toml" ]; then
  "$msa_gen" new "$repo/blueprints/shop.toml" --out "$out"
fi
# The shop's dependency versions, as the repository tests them.
cp -n "$repo/generated-example/Cargo.lock" "$out/Cargo.lock" 2>/dev/null || true
echo "demo: building and starting the shop (msa-gen dev); Ctrl-C stops it"
# msa-gen builds the workspace, then becomes the shop's dev binary: Ctrl-C and SIGTERM reach it.
exec "$msa_gen" dev "$out"
