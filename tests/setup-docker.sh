#!/usr/bin/env bash
# Makes this machine able to run containers, idempotently: installs Debian's docker.io and
# starts dockerd when `docker info` fails, then builds the local images named as arguments
# (tests/images/provision.sh: postgres, nats, rabbitmq, redis, prometheus, kafka). What
# `msa-gen dev` needs for a system; tests/setup.sh adds the test tools.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "setup: installing docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  echo "setup: starting dockerd"
  # Published ports forwarded by the kernel (NAT) rather than by a docker-proxy process per
  # port: every round trip from a test or bench to Postgres or a broker is a hop shorter
  # (pgbench, one connection: 0.112 ms a query against 0.191 ms through docker-proxy).
  setsid dockerd --userland-proxy=false >"${HOME:-/root}/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see ~/dockerd.log" >&2; exit 1; }
fi

bash "$here/images/provision.sh" "$@"
