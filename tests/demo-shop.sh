#!/usr/bin/env bash
# Generates the shop from blueprints/shop.toml into ./shop (or $1), starts Postgres in a
# container, and runs the generated `orders` service against it on http://localhost:8103
# (API docs at /docs). Ctrl-C stops the service; the database container is removed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$PWD/shop}")"
bash "$repo/tests/setup.sh" postgres
set -a
# shellcheck disable=SC1091
. "$repo/tests/images/local-images.env"
set +a
image="${MSA_IMAGE_POSTGRES:-postgres:16-alpine}"

if [ ! -f "$out/blueprint.toml" ]; then
  cargo run -q --manifest-path "$repo/Cargo.toml" -p msa-gen -- new "$repo/blueprints/shop.toml" --out "$out"
fi
cp -n "$repo/Cargo.lock" "$out/Cargo.lock" 2>/dev/null || true

docker rm -f shop-db >/dev/null 2>&1 || true
docker run -d --name shop-db -p 127.0.0.1:55432:5432 -e POSTGRES_PASSWORD=postgres -e POSTGRES_DB=orders "$image" >/dev/null
trap 'docker rm -f shop-db >/dev/null 2>&1 || true' EXIT
echo "demo: waiting for Postgres"
for _ in $(seq 1 60); do
  docker exec shop-db pg_isready -h 127.0.0.1 -U postgres >/dev/null 2>&1 && break
  sleep 1
done

echo "demo: building and starting orders on http://localhost:8103 (docs: /docs, Ctrl-C to stop)"
echo "demo: token checks are off for this one-service demo (APP_AUTH_URL=none); behind the"
echo "      gateway and auth service they are on (docs/gateway-and-registry.md)"
cd "$out"
APP_AUTH_URL=none DATABASE_URL="postgres://postgres:postgres@127.0.0.1:55432/orders" cargo run -p shop-orders
