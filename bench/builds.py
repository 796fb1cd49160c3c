#!/usr/bin/env python3
"""Build times of the generated shop, in one run on this machine, next to bench/baseline (one
hand-written axum + sqlx service):

1. cold release build of the shop (`cargo build --release --timings`, empty target directory);
2. cold release build of the baseline, same way: the ratio shop / baseline;
3. cold debug build of the shop (`cargo build`, empty target directory);
4. incremental debug rebuild after editing one service's `logic/` file (a comment added to
   `services/orders/src/logic/order.rs`).

Every build is offline after a `cargo fetch`, so the times are compilation only. From each
`--timings` report: the slowest units, the time in build scripts, proc macros and binaries
(codegen + link of each process), and crates built twice (with two feature sets).

Prints Markdown for bench/README.md. Exits non-zero only on an error.

    python3 bench/builds.py [--skip-release]
"""
import argparse
import collections
import glob
import json
import os
import shutil
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
WORK = os.path.join(TARGET, "bench", "builds")
SHOP = os.path.join(WORK, "shop")
LOGIC_FILE = os.path.join("services", "orders", "src", "logic", "order.rs")


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - t


def units(target):
    """The units of the newest `--timings` report in `target`."""
    reports = sorted(glob.glob(os.path.join(target, "cargo-timings", "cargo-timing-*.html")))
    text = open(reports[-1]).read()
    at = text.index("const UNIT_DATA = ") + len("const UNIT_DATA = ")
    data, _ = json.JSONDecoder().raw_decode(text[at:])
    return data


def describe(label, data, elapsed):
    print(f"\n#### {label}: {elapsed:.0f} s wall, {len(data)} units\n")
    total = sum(u["duration"] for u in data)
    builds = sum(u["duration"] for u in data if u["mode"] == "run-custom-build")
    binaries = [u for u in data if '"bin"' in u.get("target", "")]
    bins = sum(u["duration"] for u in binaries)
    macros = sum(u["duration"] for u in data
                 if "proc-macro" in u.get("target", "") or u["name"].endswith(("-macros", "_macros", "-derive", "_derive")))
    print(f"- unit time {total:.0f} s (on 2 cores); build scripts run {builds:.0f} s; proc-macro crates {macros:.0f} s;")
    print(f"- the {len(binaries)} binaries (each process's crate, codegen and link) {bins:.0f} s, "
          f"slowest {max((u['duration'] for u in binaries), default=0):.0f} s;")
    libs = [u for u in data if u.get("target", "").strip() == ""]
    twice = collections.Counter((u["name"], u["version"]) for u in libs)
    cost = collections.Counter()
    for u in libs:
        if twice[(u["name"], u["version"])] > 1:
            cost[(u["name"], u["version"])] += u["duration"]
    largest = ", ".join(f"{n} {v} ({c:.0f} s)" for (n, v), c in cost.most_common(6))
    print(f"- {len(cost)} library crates built twice (for build scripts and proc macros on the "
          f"host and for the binaries, or with two feature sets), {sum(cost.values()) / 2:.0f} s of "
          f"unit time for the second builds; the largest: {largest or 'none'}.")
    print("\n| slowest units | s |\n|---|---|")
    for u in sorted(data, key=lambda u: -u["duration"])[:12]:
        print(f"| {u['name']} {u['version']}{u.get('target', '')} | {u['duration']:.1f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-release", action="store_true", help="debug builds only")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "msa-gen"], cwd=REPO, check=True)
    msa = os.path.join(TARGET, "release", "msa-gen")
    if os.path.exists(SHOP):
        shutil.rmtree(SHOP)
    os.makedirs(WORK, exist_ok=True)
    subprocess.run([msa, "new", os.path.join(REPO, "blueprints", "shop.toml"), "--out", SHOP],
                   check=True, capture_output=True)
    shutil.copy(os.path.join(REPO, "generated-example", "Cargo.lock"), os.path.join(SHOP, "Cargo.lock"))
    baseline = os.path.join(REPO, "bench", "baseline")
    results = {}

    def cold(name, cwd, profile):
        target = os.path.join(WORK, f"{name}-{profile}-target")
        if os.path.exists(target):
            shutil.rmtree(target)
        env = dict(os.environ, CARGO_TARGET_DIR=target, CARGO_INCREMENTAL="0")
        subprocess.run(["cargo", "fetch", "--quiet"], cwd=cwd, env=env, check=True)
        flags = ["--release"] if profile == "release" else []
        print(f"building {name} ({profile}, cold)…", flush=True)
        t = timed(["cargo", "build", "--quiet", "--offline", "--timings", *flags], cwd=cwd, env=env)
        results[(name, profile)] = (t, units(target))
        return target, env

    if not args.skip_release:
        cold("shop", SHOP, "release")
        cold("baseline", baseline, "release")
    target, env = cold("shop", SHOP, "debug")
    # Incremental: as a developer works (incremental compilation on, cargo's default in dev).
    env = dict(env, CARGO_INCREMENTAL="1")
    subprocess.run(["cargo", "build", "--quiet", "--offline"], cwd=SHOP, env=env, check=True)
    path = os.path.join(SHOP, LOGIC_FILE)
    with open(path, "a") as f:
        f.write("\n// an edit\n")
    print("rebuilding after an edit of orders' logic…", flush=True)
    t = timed(["cargo", "build", "--quiet", "--offline", "--timings"], cwd=SHOP, env=env)
    results[("shop", "incremental")] = (t, units(target))

    print(f"\n### Builds ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)\n")
    print("| build | time | goal |\n|---|---|---|")
    if not args.skip_release:
        shop_r, base_r = results[("shop", "release")][0], results[("baseline", "release")][0]
        ratio = shop_r / base_r
        print(f"| shop, cold release (14 processes) | {shop_r:.0f} s | |")
        print(f"| baseline, cold release (1 service) | {base_r:.0f} s | |")
        print(f"| ratio shop / baseline | {ratio:.1f}× | ≤ 4×: {'met' if ratio <= 4 else 'missed'} |")
    print(f"| shop, cold debug | {results[('shop', 'debug')][0]:.0f} s | reported |")
    inc = results[("shop", "incremental")][0]
    print(f"| shop, debug rebuild after editing `{LOGIC_FILE}` | {inc:.1f} s | ≤ 20 s: {'met' if inc <= 20 else 'missed'} |")
    for (name, profile), (t, data) in results.items():
        describe(f"{name}, {profile}", data, t)


if __name__ == "__main__":
    main()
