#!/usr/bin/env bash
# Generates, builds and verifies (`msa-gen verify`: the generated end-to-end suite on real
# containers and processes) the reference systems written from public documentation:
# blueprints/petclinic.toml, teastore.toml and hotel-reservation.toml. Prints each system's
# passed and failed checks. Needs Docker and the local images (bash tests/setup.sh).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
set -a
# shellcheck disable=SC1091
[ -f tests/images/local-images.env ] && . tests/images/local-images.env
set +a
start=$SECONDS
cargo test -q -p msa-gen-tests --test e2e_verify the_reference_systems_verify -- --ignored --nocapture 2>&1 \
  | tee target/verify-examples.log | grep -E "passed, .* failed|^test result|panicked" || true
echo "took $((SECONDS - start))s; log in target/verify-examples.log"
