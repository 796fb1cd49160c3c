#!/bin/bash
# Honours RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS like the official image.
set -euo pipefail
if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then
  printf 'default_user = %s\ndefault_pass = %s\n' "$RABBITMQ_DEFAULT_USER" "${RABBITMQ_DEFAULT_PASS:-guest}" >>/etc/rabbitmq/rabbitmq.conf
fi
exec rabbitmq-server
