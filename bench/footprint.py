#!/usr/bin/env python3
"""Build time, start-up, memory and image size, in one run on this machine.

1. Cold release builds, each into an empty target directory: the generated shop (13 binaries)
   and bench/baseline, one hand-written axum + sqlx service. Ratio shop / baseline.
2. The shop's release binaries started one by one against a real Postgres and NATS (the local
   images of tests/images): time from exec to `/health/ready` answering 200, then the resident
   memory (VmRSS) of every process after 5 s idle. The baseline is measured the same way.
3. Image size: a service's release binary packaged by its Dockerfile's `prebuilt` stage on a
   distroless-like base made here from the host's glibc (no registry: distroless cannot be
   pulled), next to the binary's own size.

Prints Markdown tables and the goals (ready < 300 ms, idle RSS < 20 MB, image < 40 MB).
Exits non-zero only on an error. Needs cargo and a running Docker (bash tests/setup.sh).

    python3 bench/footprint.py [--warm]   # --warm: keep earlier builds, skip the build timing
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
WORK = os.path.join(TARGET, "bench")
SHOP = os.path.join(WORK, "shop")
SHOP_TARGET = os.path.join(WORK, "shop-target")
BASE_TARGET = os.path.join(WORK, "baseline-target")


def images():
    env = {}
    with open(os.path.join(REPO, "tests", "images", "local-images.env")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                env[k] = os.environ.get(k, v)
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - t


def build(warm):
    msa = os.path.join(TARGET, "release", "msa-gen")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "msa-gen"], cwd=REPO, check=True)
    # A warm run keeps the workspace: new files would make cargo rebuild every local crate.
    if not (warm and os.path.exists(SHOP)):
        if os.path.exists(SHOP):
            shutil.rmtree(SHOP)
        subprocess.run([msa, "new", os.path.join(REPO, "blueprints", "shop.toml"), "--out", SHOP],
                       check=True, capture_output=True)
    shutil.copy(os.path.join(REPO, "generated-example", "Cargo.lock"), os.path.join(SHOP, "Cargo.lock"))
    results = {}
    for name, cwd, target in [("shop", SHOP, SHOP_TARGET),
                              ("baseline", os.path.join(REPO, "bench", "baseline"), BASE_TARGET)]:
        if not warm and os.path.exists(target):
            shutil.rmtree(target)
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        # Sources first (offline afterwards), so the timing is compilation only.
        subprocess.run(["cargo", "fetch", "--quiet"], cwd=cwd, env=env, check=True)
        print(f"building {name} (release{'' if warm else ', cold'})…", flush=True)
        results[name] = timed(["cargo", "build", "--release", "--quiet", "--offline"], cwd=cwd, env=env)
    return results


class Infra:
    def __init__(self):
        img = images()
        self.pg_port, self.nats_port = free_port(), free_port()
        tag = f"msa-bench-{os.getpid()}"
        self.names = [f"{tag}-pg", f"{tag}-nats"]
        subprocess.run(["docker", "run", "-d", "--rm", "--name", self.names[0], "-p",
                        f"127.0.0.1:{self.pg_port}:5432", "-e", "POSTGRES_PASSWORD=postgres",
                        img["MSA_IMAGE_POSTGRES"]], check=True, capture_output=True)
        subprocess.run(["docker", "run", "-d", "--rm", "--name", self.names[1], "-p",
                        f"127.0.0.1:{self.nats_port}:4222", img["MSA_IMAGE_NATS"], "-js"],
                       check=True, capture_output=True)
        for _ in range(120):
            ok = subprocess.run(["docker", "exec", self.names[0], "pg_isready", "-h", "127.0.0.1",
                                 "-U", "postgres"], capture_output=True).returncode == 0
            if ok:
                break
            time.sleep(0.5)
        time.sleep(1)

    def database(self, name):
        subprocess.run(["docker", "exec", "-e", "PGPASSWORD=postgres", self.names[0], "psql", "-h",
                        "127.0.0.1", "-U", "postgres", "-c", f'CREATE DATABASE "{name}"'],
                       check=True, capture_output=True)
        return f"postgres://postgres:postgres@127.0.0.1:{self.pg_port}/{name}"

    def close(self):
        subprocess.run(["docker", "rm", "-f", *self.names], capture_output=True)


def ready(port, deadline):
    url = f"http://127.0.0.1:{port}/health/ready"
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as r:
                if r.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.002)
    return False


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# (process, kind, database, broker), in start order.
SHOP_PROCESSES = [
    ("registry", "registry", None, False),
    ("config-server", "config server", None, False),
    ("auth", "auth", "auth", False),
    ("products", "CRUD service", "products", False),
    ("customers", "CRUD + events + saga", "customers", True),
    ("orders", "CRUD + events + sagas + calls", "orders", True),
    ("payments", "CRUD + events + saga", "payments", True),
    ("carts", "event-sourced", "carts", True),
    ("order-history", "read model", "order_history", True),
    ("notifications", "worker", None, True),
    ("web-bff", "BFF (web)", None, False),
    ("mobile-bff", "BFF", None, False),
    ("gateway", "gateway", None, False),
]


def footprint(infra):
    bin_dir = os.path.join(SHOP_TARGET, "release")
    logs = tempfile.mkdtemp(prefix="msa-bench-logs-")
    ports = {name: free_port() for name, *_ in SHOP_PROCESSES}
    running, rows = [], []
    try:
        for name, kind, db, broker in SHOP_PROCESSES:
            env = dict(os.environ, APP_HOST="127.0.0.1", APP_PORT=str(ports[name]),
                       APP_LOG_LEVEL="warn", REGISTRY_URL=f"http://127.0.0.1:{ports['registry']}",
                       APP_AUTH_URL=f"http://127.0.0.1:{ports['auth']}")
            if name not in ("registry", "config-server"):
                env["CONFIG_URL"] = f"http://127.0.0.1:{ports['config-server']}"
            if name == "registry":
                env.pop("REGISTRY_URL")
            if name == "auth":
                env["APP_ADMIN_PASSWORD"] = "bench-admin-password"
                env.pop("APP_AUTH_URL")
            if db:
                env["DATABASE_URL"] = infra.database(db)
            if broker:
                env["BROKER_URL"] = f"nats://127.0.0.1:{infra.nats_port}"
            log = open(os.path.join(logs, f"{name}.log"), "w")
            t = time.perf_counter()
            p = subprocess.Popen([os.path.join(bin_dir, name)], cwd=SHOP, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
            running.append(p)
            if not ready(ports[name], t + 30):
                raise SystemExit(f"{name} not ready in 30 s; log: {logs}/{name}.log")
            rows.append([name, kind, (time.perf_counter() - t) * 1000, p.pid])
        time.sleep(5)
        for r in rows:
            r.append(rss_mib(r[3]))
        # The baseline, measured the same way.
        port = free_port()
        env = dict(os.environ, DATABASE_URL=infra.database("baseline"), PORT=str(port))
        t = time.perf_counter()
        b = subprocess.Popen([os.path.join(BASE_TARGET, "release", "baseline")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append(b)
        if not ready(port, t + 30):
            raise SystemExit("baseline not ready")
        base_ms = (time.perf_counter() - t) * 1000
        time.sleep(5)
        base = ["baseline (hand-written axum + sqlx)", "yardstick", base_ms, b.pid, rss_mib(b.pid)]
    finally:
        for p in running:
            p.terminate()
        for p in running:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    return rows, base


def distroless_like_base(binary):
    """A base image holding only what the binary loads (glibc, libgcc), CA certificates and a
    nonroot user: what gcr.io/distroless/cc-debian12 holds, built from this host's files."""
    tag = "msa-gen-local/cc-minimal:bench"
    root = tempfile.mkdtemp(prefix="msa-bench-base-")
    libs = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    for line in libs.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            real = os.path.realpath(path)
            for p in {path, real}:
                dest = os.path.join(root, p.lstrip("/"))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copy2(real, dest)
    for d in ["etc/ssl/certs", "tmp", "app"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    if os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", os.path.join(root, "etc/ssl/certs/"))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, check=True, capture_output=True)
    tar.wait()
    shutil.rmtree(root)
    return tag


def image_size(service):
    release = os.path.join(SHOP, "target", "release")
    os.makedirs(release, exist_ok=True)
    binary = os.path.join(release, service)
    shutil.copy(os.path.join(SHOP_TARGET, "release", service), binary)
    subprocess.run(["strip", binary], check=True)
    base = distroless_like_base(binary)
    tag = f"msa-gen-bench/shop-{service}:latest"
    subprocess.run(["docker", "build", "-q", "-f", os.path.join(SHOP, "services", service, "Dockerfile"),
                    "--target", "prebuilt", "--build-arg", f"RUNTIME_IMAGE={base}", "-t", tag, SHOP],
                   check=True, capture_output=True)
    size = lambda t: int(subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", t],
                                        capture_output=True, text=True, check=True).stdout) / 1e6
    return size(tag), size(base), os.path.getsize(binary) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warm", action="store_true")
    args = ap.parse_args()
    builds = build(args.warm)
    print(f"builds: shop {builds['shop']:.0f} s, baseline {builds['baseline']:.0f} s", flush=True)
    infra = Infra()
    try:
        rows, base = footprint(infra)
    finally:
        infra.close()
    image, base_image, binary = image_size("orders")

    print(f"\n## Build, start-up, memory ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)\n")
    label = "warm" if args.warm else "cold"
    print(f"| build ({label}, release) | time |\n|---|---|")
    print(f"| generated shop (13 binaries, 17 crates) | {builds['shop']:.0f} s |")
    print(f"| baseline: one hand-written axum + sqlx service | {builds['baseline']:.0f} s |")
    print(f"| ratio shop / baseline | {builds['shop'] / builds['baseline']:.1f}× |\n")
    print("| process | kind | exec → ready | idle RSS |\n|---|---|---|---|")
    for name, kind, ms, _pid, rss in rows + [base]:
        print(f"| {name} | {kind} | {ms:.0f} ms | {rss:.1f} MiB |")
    worst_ready = max(r[2] for r in rows)
    worst_rss = max(r[4] for r in rows)
    print(f"\nImage of `orders` (stripped release binary, {binary:.1f} MB, on a distroless-like base of "
          f"{base_image:.1f} MB built from this host's glibc): {image:.1f} MB.")
    print(f"Goals: ready < 300 ms: {'met' if worst_ready < 300 else f'missed (slowest {worst_ready:.0f} ms)'}; "
          f"idle RSS < 20 MB: {'met' if worst_rss < 20 else f'missed (largest {worst_rss:.1f} MiB)'}; "
          f"image < 40 MB: {'met' if image < 40 else f'missed ({image:.1f} MB)'}.")


if __name__ == "__main__":
    main()
