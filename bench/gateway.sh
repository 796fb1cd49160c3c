#!/usr/bin/env bash
# Gateway throughput next to nginx (see bench/gateway.rs). Installs nginx-light and wrk from
# Debian when missing, then runs the benchmark (release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if ((${#missing[@]})); then
    apt-get install -y "${missing[@]}" >/dev/null
fi
exec cargo bench -p msa-gen-tests --bench gateway
