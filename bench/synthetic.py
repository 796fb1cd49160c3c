#!/usr/bin/env python3
"""Writes a synthetic blueprint of N CRUD services to stdout (bench/generation.py uses 100).

Each service owns one exposed entity of six fields (every common type), publishes one event
consumed by the next service, and calls the previous one, so the generator plans events,
outboxes, consumers, typed clients and gateway routes at scale.

    python3 bench/synthetic.py 100 > /tmp/big.toml
"""
import sys


def blueprint(n: int) -> str:
    out = [
        '[system]\nname = "synthetic"\nversion = "0.1.0"\n',
        '[platform]\nbroker = "nats"\ndeploy = ["compose", "kubernetes"]\n',
        '[auth]\nroles = ["user", "admin"]\n',
    ]
    for i in range(n):
        out.append(
            f'[[events]]\nname = "Thing{i}Created"\n[events.fields]\n'
            f'thing{i}-id = "uuid"\namount = "decimal"\n'
        )
    for i in range(n):
        svc = [f'[[services]]\nname = "svc{i}"']
        svc.append(f'publishes = ["Thing{i}Created"]')
        if i > 0:
            svc.append(f'consumes = ["Thing{i - 1}Created"]')
        svc.append(
            f'  [[services.entities]]\n  name = "Thing{i}"\n'
            f'  expose = {{ path = "/things{i}", read = ["user", "admin"], write = ["admin"] }}\n'
            f'  [services.entities.fields]\n  title = "string"\n  body = "text?"\n'
            f'  amount = "decimal"\n  count = "i32"\n  active = "bool"\n'
            f'  kind = "enum(small, large)"'
        )
        if i > 0:
            svc.append(
                f'  [[services.calls]]\n  service = "svc{i - 1}"\n  timeout = "2s"\n  retries = 1'
            )
        out.append("\n".join(svc) + "\n")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(blueprint(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
