#!/bin/bash
# The official image's readiness probe, as the compose file calls it: succeeds when the
# broker accepts connections on its port.
exec 3<>/dev/tcp/127.0.0.1/9092
