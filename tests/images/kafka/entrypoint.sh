#!/bin/sh
# Starts tansu like the official image starts Kafka: listening on 9092, advertising the first
# address of KAFKA_ADVERTISED_LISTENERS (PLAINTEXT://host:port).
set -eu
advertised="${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}"
advertised="${advertised%%,*}"
advertised="tcp://${advertised#*://}"
exec /usr/local/bin/tansu broker \
  --listener-url tcp://0.0.0.0:9092 \
  --advertised-listener-url "$advertised" \
  --storage-engine "${TANSU_STORAGE:-sqlite://tansu.db}"
