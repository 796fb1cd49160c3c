#!/usr/bin/env python3
"""Generation side by side, in one run on this machine: `msa-gen new` (release build) and
JHipster 8 (`jhipster jdl`, `--skip-install --skip-git`) on the same systems — the shop and a
synthetic 100-service blueprint (bench/synthetic.py), translated to JDL by
bench/blueprint_to_jdl.py — then a regeneration after a one-line blueprint change.

Prints wall time (median of the runs) and peak RSS (the largest process of the run, from
getrusage of the children) of each, the ratios, and the regeneration's time and files touched.
Exits non-zero only on an error. Needs cargo, node and npm (JHipster is installed once into
target/bench/jhipster).

    python3 bench/generation.py [--runs 5] [--skip-jhipster]
"""
import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
JHIPSTER_DIR = os.path.join(TARGET, "bench", "jhipster")


def run_measured(cmd, cwd=None, env=None, quiet=True):
    """Runs cmd in a fresh Python child so getrusage's peak covers only this command's
    processes; returns (seconds, peak RSS in MiB)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL if %r else None,"
        " stderr=subprocess.PIPE)\n"
        "dt = time.perf_counter() - t\n"
        "if r.returncode != 0:\n"
        "    sys.stderr.write(r.stderr.decode(errors='replace')[-4000:])\n"
        "    sys.exit(r.returncode)\n"
        "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n" % quiet
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], cwd=cwd, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    seconds, kib = out.stdout.split()
    return float(seconds), int(kib) / 1024


def msa_gen():
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "msa-gen"], cwd=REPO, check=True
    )
    return os.path.join(TARGET, "release", "msa-gen")


def jhipster():
    cli = os.path.join(JHIPSTER_DIR, "node_modules", ".bin", "jhipster")
    if not os.path.exists(cli):
        os.makedirs(JHIPSTER_DIR, exist_ok=True)
        print("installing generator-jhipster@8 (npm, once)", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "generator-jhipster@8"],
            cwd=JHIPSTER_DIR,
            check=True,
        )
    version = subprocess.run(
        [cli, "--version"], capture_output=True, text=True, cwd=JHIPSTER_DIR
    ).stdout.strip().splitlines()
    return cli, (version[-1] if version else "?")


def files_of(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("target", "node_modules", ".git")]
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def cache_env(cache_dir):
    """msa-gen's environment with its rustfmt cache in `cache_dir`."""
    return dict(os.environ, MSA_GEN_CACHE_DIR=cache_dir)


def bench_msa_gen(binary, blueprint, runs, warm):
    """`msa-gen new`: with `warm`, its rustfmt cache holds the output of an earlier run of the
    same blueprint (a second generation on this machine, or a regeneration); without, every run
    starts with an empty cache (the first generation on a fresh machine)."""
    times, peaks, count = [], [], 0
    with tempfile.TemporaryDirectory() as shared:
        if warm:
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run([binary, "new", blueprint, "--out", os.path.join(tmp, "ws")],
                               check=True, capture_output=True, env=cache_env(shared))
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as empty:
                out = os.path.join(tmp, "ws")
                env = cache_env(shared if warm else empty)
                t, rss = run_measured([binary, "new", blueprint, "--out", out], env=env)
                times.append(t)
                peaks.append(rss)
                count = len(files_of(out))
    return statistics.median(times), max(peaks), count


def phases(binary, blueprint, warm):
    """Each phase's milliseconds (`MSA_GEN_TIMINGS=1`) of one `msa-gen new`."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache:
        env = dict(cache_env(cache), MSA_GEN_TIMINGS="1")
        runs = 2 if warm else 1
        for n in range(runs):
            out = os.path.join(tmp, f"ws{n}")
            r = subprocess.run([binary, "new", blueprint, "--out", out], env=env,
                               capture_output=True, text=True, check=True)
    found = {}
    for line in r.stderr.splitlines():
        if line.startswith("timing: "):
            what, ms, _ = line[len("timing: "):].rsplit(" ", 2)
            found[what] = float(ms)
    return found


def bench_jhipster(cli, blueprint, runs):
    jdl = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "blueprint_to_jdl.py"), blueprint],
        capture_output=True, text=True, check=True,
    ).stdout
    times, peaks, count = [], [], 0
    env = dict(os.environ, JHIPSTER_NO_INSIGHT="1", CI="true")
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "system.jdl")
            with open(path, "w") as f:
                f.write(jdl)
            t, rss = run_measured(
                [cli, "jdl", path, "--skip-install", "--skip-git", "--no-insight", "--force",
                 "--skip-jhipster-dependencies"],
                cwd=tmp, env=env,
            )
            times.append(t)
            peaks.append(rss)
            count = len(files_of(tmp)) - 1
    return statistics.median(times), max(peaks), count


def bench_regeneration(binary, blueprint, runs):
    """A field added to one entity: `msa-gen generate` time, and the files it changed."""
    with open(blueprint) as f:
        text = f.read()
    marker = "  price = \"decimal\"\n"
    if marker not in text:
        raise SystemExit("the shop blueprint lost products' price field")
    times, touched = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            ws = os.path.join(tmp, "ws")
            subprocess.run([binary, "new", blueprint, "--out", ws], check=True,
                           capture_output=True, env=cache_env(os.path.join(tmp, "cache")))
            before = files_of(ws)
            with open(os.path.join(ws, "blueprint.toml"), "w") as f:
                f.write(text.replace(marker, marker + "  sku = \"string?\"\n", 1))
            t, _ = run_measured([binary, "generate", ws],
                                env=cache_env(os.path.join(tmp, "cache")))
            times.append(t)
            after = files_of(ws)
            touched = sum(
                1 for p in set(before) | set(after)
                if before.get(p) != after.get(p) and not p.startswith(".msa-gen/")
            )
    return statistics.median(times), touched


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jhipster-runs", type=int, default=1)
    ap.add_argument("--skip-jhipster", action="store_true")
    ap.add_argument("--full", action="store_true",
                    help="JHipster on the 100-service system too (about 8 s per service here)")
    args = ap.parse_args()
    binary = msa_gen()
    shop = os.path.join(REPO, "blueprints", "shop.toml")

    def synthetic(n):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(subprocess.run(
                [sys.executable, os.path.join(REPO, "bench", "synthetic.py"), str(n)],
                capture_output=True, text=True, check=True,
            ).stdout)
            return f.name

    small, big = synthetic(20), synthetic(100)
    cli, version = (None, None) if args.skip_jhipster else jhipster()
    rows = []
    for name, bp, with_jhipster in [
        ("shop (7 services)", shop, True),
        ("synthetic (20 services)", small, True),
        ("synthetic (100 services)", big, args.full),
    ]:
        t, rss, n = bench_msa_gen(binary, bp, args.runs, warm=False)
        row = {"system": name, "msa": (t, rss, n),
               "warm": bench_msa_gen(binary, bp, args.runs, warm=True)[0]}
        if cli and with_jhipster:
            print(f"JHipster: {name}…", flush=True)
            row["jh"] = bench_jhipster(cli, bp, args.jhipster_runs)
        rows.append(row)
    os.unlink(small)
    os.unlink(big)
    regen_t, touched = bench_regeneration(binary, shop, args.runs)

    print(f"\n## Generation ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)\n")
    if cli:
        print(f"JHipster: generator-jhipster {version}\n")
        print("| system | msa-gen | JHipster 8 | time ratio (JHipster / msa-gen) | msa-gen peak RSS | JHipster peak RSS | files (msa-gen / JHipster) |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            mt, mr, mn = r["msa"]
            if "jh" in r:
                jt, jr, jn = r["jh"]
                print(f"| {r['system']} | {mt * 1000:.0f} ms | {jt:.1f} s | {jt / mt:.0f}× | {mr:.0f} MiB | {jr:.0f} MiB | {mn} / {jn} |")
            else:
                print(f"| {r['system']} | {mt * 1000:.0f} ms | not run (--full) | | {mr:.0f} MiB | | {mn} / |")
    else:
        print("| system | msa-gen | peak RSS | files |\n|---|---|---|---|")
        for r in rows:
            mt, mr, mn = r["msa"]
            print(f"| {r['system']} | {mt * 1000:.0f} ms | {mr:.0f} MiB | {mn} |")
    print("\nThe times above start with an empty rustfmt cache (a first generation on this "
          "machine). With the cache of an earlier run (`~/.cache/msa-gen`):\n")
    print("| system | msa-gen, empty cache | msa-gen, warm cache |\n|---|---|---|")
    for r in rows:
        print(f"| {r['system']} | {r['msa'][0] * 1000:.0f} ms | {r['warm'] * 1000:.0f} ms |")
    print(f"\nRegeneration of the shop after a one-line change (a field added to Product): "
          f"{regen_t * 1000:.0f} ms, {touched} files changed.")
    for label, warm in [("empty cache", False), ("warm cache", True)]:
        p = phases(binary, shop, warm)
        print(f"Phases of the shop, {label}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in p.items()))
    cold, warm = rows[0]["msa"][0] * 1000, rows[0]["warm"] * 1000
    verdict = lambda ms: "met" if ms < 100 else f"missed ({ms:.0f} ms)"
    print(f"Goal: shop generation < 100 ms: {verdict(warm)} with a warm cache, "
          f"{verdict(cold)} with an empty one.")


if __name__ == "__main__":
    main()
