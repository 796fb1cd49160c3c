#!/usr/bin/env bash
# Runs every test of msa-gen: generator unit and snapshot tests, invalid blueprints, the CLI,
# the staleness of generated-example/, the runtime crate, generated workspaces (fmt, clippy,
# tests) and the end-to-end tests against real containers, after fmt and clippy on the repository
# itself. Works on a fresh machine.
set -euo pipefail
# One-shot builds: incremental caches would only cost time and tens of GB of disk (every
# generated system's crates are built once per run).
export CARGO_INCREMENTAL=0
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash tests/setup.sh postgres nats rabbitmq redis prometheus kafka
set -a
# shellcheck disable=SC1091
. tests/images/local-images.env
set +a
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked -- --test-threads=2
