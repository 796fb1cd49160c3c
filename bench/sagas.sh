#!/usr/bin/env bash
# Completed sagas per second on release builds: the 200 concurrent place-order sagas of
# tests/e2e_sagas.rs (choreography: orders and customers on a real Postgres and NATS, 10
# customers, every saga ending approved or rejected with the credit balancing exactly), run on
# binaries of `cargo build --release` instead of debug ones. Prints the suite's own line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
set -a
# shellcheck disable=SC1091
. tests/images/local-images.env
set +a
MSA_TEST_PROFILE=release cargo test -q -p msa-gen-tests --test e2e_sagas place_order_saga -- --nocapture 2>&1 \
  | grep -E "sagas/s|test result|panicked"
