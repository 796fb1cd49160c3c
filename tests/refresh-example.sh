#!/usr/bin/env bash
# Rewrites generated-example/ as `msa-gen new blueprints/shop.toml` makes it today, keeping its
# Cargo.lock (which msa-gen does not write). Run after changing the generator or templates.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
lock="$(mktemp)"
cp generated-example/Cargo.lock "$lock" 2>/dev/null || cp Cargo.lock "$lock"
rm -rf generated-example
cargo run -q -p msa-gen -- new blueprints/shop.toml --out generated-example 2>/dev/null >/dev/null
cp "$lock" generated-example/Cargo.lock
rm -f "$lock"
echo "generated-example/ refreshed"
