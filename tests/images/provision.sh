#!/usr/bin/env bash
# Builds, offline and idempotently, the container images the tests need, from Debian packages
# only (no container registry): a Debian base made with debootstrap, then Postgres, NATS,
# RabbitMQ, Redis and Prometheus on it, and a Kafka-protocol broker (tansu, which
# tests/setup.sh installs with cargo) packaged on it. An image that exists is kept unless
# --force is given.
#
#   tests/images/provision.sh [--force] [postgres nats rabbitmq redis prometheus kafka]
#
# Prints, and writes to tests/images/local-images.env, the MSA_IMAGE_* variables that point the
# tests at these local images (the tests default to the official images when they are unset).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base="msa-gen-local/debian:bookworm"
force=0
wanted=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    postgres|nats|rabbitmq|redis|prometheus|kafka) wanted+=("$arg") ;;
    *) echo "provision: unknown argument $arg" >&2; exit 2 ;;
  esac
done
[ ${#wanted[@]} -gt 0 ] || wanted=(postgres nats rabbitmq redis prometheus kafka)

declare -A tags=(
  [postgres]="msa-gen-local/postgres:15"
  [nats]="msa-gen-local/nats:2"
  [rabbitmq]="msa-gen-local/rabbitmq:3"
  [redis]="msa-gen-local/redis:7"
  [prometheus]="msa-gen-local/prometheus:2"
  [kafka]="msa-gen-local/kafka:4"
)
declare -A vars=(
  [postgres]=MSA_IMAGE_POSTGRES [nats]=MSA_IMAGE_NATS [rabbitmq]=MSA_IMAGE_RABBITMQ
  [redis]=MSA_IMAGE_REDIS [prometheus]=MSA_IMAGE_PROMETHEUS [kafka]=MSA_IMAGE_KAFKA
)

present() { docker image inspect "$1" >/dev/null 2>&1; }

phase_start=0
phase() { phase_start=$SECONDS; echo "provision: $1"; }
phase_end() { echo "provision: $1 in $((SECONDS - phase_start))s"; }

if [ "$force" = 1 ] || ! present "$base"; then
  phase "building $base with debootstrap"
  if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
  fi
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  cat >"$rootfs/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  phase_end "$base built"
else
  echo "provision: image $base: present"
fi

for name in "${wanted[@]}"; do
  tag="${tags[$name]}"
  context="$here/$name"
  if [ "$name" = kafka ]; then
    # The broker binary comes from the host (containers cannot reach the crate registry).
    tansu="$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")"
    [ -x "$tansu" ] || { echo "provision: tansu is not installed (tests/setup.sh installs it)" >&2; exit 1; }
    context="$(mktemp -d)"
    cp "$here/kafka"/* "$tansu" "$context/"
  fi
  # An image is current when it was built from the same files (label msa-gen.hash).
  hash="$(cat "$context"/* | sha256sum | cut -c1-16)"
  built="$(docker image inspect -f '{{ index .Config.Labels "msa-gen.hash" }}' "$tag" 2>/dev/null || true)"
  if [ "$force" = 0 ] && [ "$built" = "$hash" ]; then
    echo "provision: image $tag: present"
  else
    phase "building $tag"
    docker build -q --build-arg "BASE=$base" --label "msa-gen.hash=$hash" -t "$tag" "$context" >/dev/null
    phase_end "$tag built"
  fi
  [ "$context" = "$here/$name" ] || rm -rf "$context"
done

env_file="$here/local-images.env"
: >"$env_file"
echo "MSA_IMAGE_BASE=$base" >>"$env_file"
for name in postgres nats rabbitmq redis prometheus kafka; do
  if present "${tags[$name]}"; then
    echo "${vars[$name]}=${tags[$name]}" >>"$env_file"
  fi
done
sed 's/^/export /' "$env_file"
