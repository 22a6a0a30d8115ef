#!/usr/bin/env python3
"""Throughput and peak-memory benchmark of `seqqc` and `dgsplit` at scale.

Builds an N-row lentiMPRA-like table (default 1,000,000 rows of 230 nt) by
resampling the real rows of ../shared/data/lentimpra/HepG2.tsv with 0-3 random
point mutations in the 200-nt core, then times, as subprocesses (wall clock,
peak RSS of each child from os.wait4):

  (a) python3 bin/seqqc  input.tsv -q -o out.tsv
  (b) python3 bin/dgsplit out.tsv -q -o split.tsv                    (exact + RC)
  (c) python3 bin/dgsplit out.tsv -q --near hamming -o split_h.tsv   (near-duplicates)
  (d) python3 bin/dgsplit sub.tsv -q --near kmer -o split_k.tsv      (on a --kmer-rows subset)

against the I/O floor of each input: a `python3 -c` that reads the same TSV
with pandas (dtype=str) and writes it back as TSV. Prints a markdown table with
the targets of the issue (seqqc >= 100,000 rows/s; dgsplit exact+RC >= 100,000
rows/s; near-duplicate grouping >= 20,000 rows/s; peak RSS < 2 GB each).

Generation time is not measured. See benchmarks/README.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(HERE)
RUN = {"repo": REPO, "label": None}   # the checkout measured (--repo) and its --label
DEFAULT_SOURCE = os.path.join(REPO, os.pardir, "shared", "data", "lentimpra", "HepG2.tsv")

ADAPTER = 15          # lentiMPRA: 15-nt adapter + 200-nt element + 15-nt adapter
MEM_LIMIT_MB = 2000   # "peak memory < 2 GB"; MB = 10^6 bytes (the stricter reading)

FLOOR_CODE = (
    "import csv, sys, pandas as pd; "
    "df = pd.read_csv(sys.argv[1], sep='\\t', dtype=str, keep_default_na=False, na_filter=False, "
    "quoting=csv.QUOTE_NONE); "
    "df.to_csv(sys.argv[2], sep='\\t', index=False, lineterminator='\\n')"
)


# --------------------------------------------------------------------------- input

def generate(source, n_rows, path, seed=2025, max_mut=3, noise_sd=0.05):
    """Write an n_rows TSV (seq_id, seq, mean_value) resampled from ``source`` with
    0..max_mut point substitutions per copy in the core (adapters untouched).

    Returns a dict describing the input.
    """
    src = pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False)
    seqs = src["seq"].str.upper()
    length = int(seqs.str.len().mode()[0])
    keep = (seqs.str.len() == length).to_numpy()
    seqs = seqs[keep].tolist()
    ids = src["seq_id"].to_numpy(dtype=object)[keep]
    vals = pd.to_numeric(src["mean_value"], errors="coerce").to_numpy(dtype=np.float64)[keep]
    m = len(seqs)
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    code = np.full(256, 255, dtype=np.uint8)
    code[alphabet] = np.arange(4, dtype=np.uint8)
    base = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8).reshape(m, length)

    rng = np.random.default_rng(seed)
    pick = rng.integers(0, m, size=n_rows)
    X = base[pick].copy()                                     # (n, length) ASCII bytes
    nmut = rng.integers(0, max_mut + 1, size=n_rows)
    lo, hi = ADAPTER, length - ADAPTER
    rows = np.arange(n_rows)
    for slot in range(max_mut):
        sel = rows[nmut > slot]
        pos = rng.integers(lo, hi, size=len(sel))
        old = code[X[sel, pos]]
        ok = old < 4                                          # leave any non-ACGT base alone
        new = (old + rng.integers(1, 4, size=len(sel))) % 4   # always a different base
        X[sel[ok], pos[ok]] = alphabet[new[ok]]
    noise = rng.normal(0.0, noise_sd, size=n_rows)
    mv = vals[pick] + noise

    seq_strs = X.view(f"S{length}").ravel()
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("seq_id\tseq\tmean_value\n")
        chunk = 100_000
        for s in range(0, n_rows, chunk):
            e = min(s + chunk, n_rows)
            lines = [
                f"bench{i:07d}_{ids[p]}\t{q.decode()}\t{v:.4f}\n"
                for i, p, q, v in zip(range(s, e), pick[s:e], seq_strs[s:e], mv[s:e])
            ]
            fh.write("".join(lines))
    n_unique = len(np.unique(seq_strs))
    return {"rows": n_rows, "source": os.path.relpath(os.path.realpath(source), os.path.dirname(HERE)), "source_rows": m,
            "length": length, "mutations_per_copy": f"0..{max_mut} (uniform) in nt {lo}..{hi - 1}",
            "unique_sequences": int(n_unique), "seed": seed, "bytes": os.path.getsize(path)}


def subset(path, n_rows, out):
    """First n_rows data rows of a TSV (the rows are already in random order)."""
    with open(path, encoding="utf-8") as src, open(out, "w", encoding="utf-8", newline="\n") as dst:
        dst.write(src.readline())
        k = 0
        for line in src:
            if k >= n_rows:
                break
            dst.write(line)
            k += 1
    return k


def count_rows(path):
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 24), b"")) - 1


# --------------------------------------------------------------------------- measurement

# A tiny launcher between this process and the measured command. ru_maxrss of a
# child that was forked (or vforked) from this process and then exec'd starts at
# *this* process's high-water RSS (Linux records the old mm's peak at exec), which
# would hide any command smaller than the generated table held here. The launcher
# is a fresh ~10 MB interpreter; it forks the command, times it and reports the
# command's own wait4() rusage.
LAUNCHER = r"""
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump({"seconds": wall, "maxrss_kib": ru.ru_maxrss, "user": ru.ru_utime, "sys": ru.ru_stime,
               "rc": os.waitstatus_to_exitcode(status)}, fh)
sys.exit(0)
"""


def run_child(argv, timeout=None):
    """Run argv from the repository root through LAUNCHER.

    Returns wall seconds, peak RSS of the command (MB = 10^6 bytes), CPU seconds, exit code, stderr tail.
    """
    errf = tempfile.TemporaryFile()
    fd, res_path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, res_path] + list(argv), cwd=RUN["repo"],
                            stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True)
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the launcher's own session: the launcher and the command only
        proc.wait()
        timed_out = True
    outer = time.perf_counter() - t0
    errf.seek(0)
    err = errf.read().decode("utf-8", "replace")
    errf.close()
    try:
        with open(res_path) as fh:
            res = json.load(fh)
    except (OSError, ValueError):
        res = {"seconds": outer, "maxrss_kib": 0, "user": None, "sys": None, "rc": proc.returncode or -1}
    os.unlink(res_path)
    return {"seconds": res["seconds"], "peak_rss_mb": res["maxrss_kib"] * 1024 / 1e6,
            "cpu_seconds": None if res["user"] is None else res["user"] + res["sys"],
            "rc": res["rc"], "timed_out": timed_out, "stderr": err[-2000:]}


def measure(argv, repeat, timeout):
    runs = [run_child(argv, timeout) for _ in range(repeat)]
    ok = [r for r in runs if r["rc"] == 0 and not r["timed_out"]]
    pick = sorted(ok, key=lambda r: r["seconds"])[len(ok) // 2] if ok else runs[-1]
    out = dict(pick)
    out["all_seconds"] = [round(r["seconds"], 3) for r in runs]
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return out


def machine():
    facts = benchlib.machine(("numpy", "pandas", "scipy"))
    return {"revision": benchlib.revision(RUN["repo"], RUN["label"]), **facts}


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated input (default 1,000,000)")
    ap.add_argument("--kmer-rows", type=int, default=100_000,
                    help="rows of the subset used for --near kmer (0 = skip; default 100,000)")
    ap.add_argument("--workdir", default=None, help="folder for the generated files (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--source", default=DEFAULT_SOURCE, help="lentiMPRA table to resample (seq_id, seq, mean_value)")
    ap.add_argument("--repo", default=REPO,
                    help="checkout whose bin/seqqc and bin/dgsplit are measured (default: this one), e.g. a "
                         "`git archive` snapshot of a commit, so that edits in progress do not change the figures")
    ap.add_argument("--label", default=None, help="what --repo holds, printed as 'Code:' (default: git HEAD)")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--repeat", type=int, default=1, help="runs per command; the median is reported")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a command is killed (FAIL)")
    ap.add_argument("--only", default="seqqc,exact,hamming,kmer",
                    help="comma-separated subset of: seqqc,exact,hamming,kmer (the I/O floors always run)")
    ap.add_argument("--json", dest="json_out", default=None, help="save the results as JSON")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    RUN["repo"] = os.path.realpath(args.repo)
    RUN["label"] = args.label

    if not os.path.exists(args.source):
        sys.exit(f"error: {args.source} not found; it exists only next to a development checkout "
                 "(../shared/data), or pass --source")
    work = args.workdir or tempfile.mkdtemp(prefix="bench_seqqc_dgsplit_")
    os.makedirs(work, exist_ok=True)
    f = lambda name: os.path.join(work, name)  # noqa: E731
    py = sys.executable
    info = {"machine": machine(), "workdir": work, "repeat": args.repeat, "results": []}
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    meta = f("input.json")
    old = None
    if os.path.exists(meta) and os.path.exists(f("input.tsv")):
        with open(meta) as fh:
            old = json.load(fh)
    if old and old.get("rows") == args.rows and old.get("seed") == args.seed \
            and old.get("bytes") == os.path.getsize(f("input.tsv")):
        info["input"] = old
        log(f"reusing {f('input.tsv')}: {old}")
    else:
        log(f"generating {args.rows:,} rows in {work} ...")
        t0 = time.perf_counter()
        info["input"] = generate(args.source, args.rows, f("input.tsv"), seed=args.seed)
        with open(meta, "w") as fh:
            json.dump(info["input"], fh)
        log(f"  done in {time.perf_counter() - t0:.1f} s (not measured): {info['input']}")

    floors = {}

    def floor(path):
        if path not in floors:
            log(f"I/O floor on {os.path.basename(path)} ...")
            r = measure([py, "-c", FLOOR_CODE, path, f("floor_out.tsv")], args.repeat, args.timeout)
            r.update(command=f"I/O floor: pandas read+write {os.path.basename(path)}", name="floor",
                     rows=count_rows(path), target=None)
            floors[path] = r
            info["results"].append(r)
            log(f"  {r['seconds']:.2f} s, {r['peak_rss_mb']:.0f} MB")
        return floors[path]

    def bench(name, argv, path, rows, target_rps):
        fl = floor(path)
        log(f"{name}: {' '.join(argv)} ...")
        r = measure([py] + argv, args.repeat, args.timeout)
        r.update(command="python3 " + " ".join(os.path.relpath(a, work) if a.startswith(work) else a
                                                  for a in argv),
                 name=name, rows=rows, target=target_rps, floor_seconds=fl["seconds"])
        info["results"].append(r)
        status = "TIMEOUT" if r["timed_out"] else f"rc={r['rc']}"
        log(f"  {r['seconds']:.2f} s, {r['peak_rss_mb']:.0f} MB, {status}")
        if r["rc"] != 0 and r["stderr"]:
            log(r["stderr"])
        return r

    inp = f("input.tsv")
    if "seqqc" in only or not os.path.exists(f("out.tsv")):
        bench("seqqc", ["bin/seqqc", inp, "-q", "-o", f("out.tsv")], inp, args.rows, 100_000)
    if not os.path.exists(f("out.tsv")):
        print(render(info))
        sys.exit("error: seqqc wrote no out.tsv; the dgsplit commands cannot run")
    qc_rows = count_rows(f("out.tsv"))
    info["seqqc_rows_out"] = qc_rows
    # warm-up, not measured: dgsplit's compiled kernels are built once per installation and cached
    warm = f("warmup.tsv")
    subset(f("out.tsv"), 2000, warm)
    for near in ("hamming", "kmer"):
        subprocess.run([py, "bin/dgsplit", warm, "-q", "--near", near, "-o", f("warmup_split.tsv")],
                       cwd=RUN["repo"], capture_output=True)
    if "exact" in only:
        r = bench("dgsplit exact+RC", ["bin/dgsplit", f("out.tsv"), "-q", "-o", f("split.tsv")],
                  f("out.tsv"), qc_rows, 100_000)
        r["groups"] = _groups(f("split.tsv")) if r["rc"] == 0 else None
    if "hamming" in only:
        r = bench("dgsplit --near hamming",
                  ["bin/dgsplit", f("out.tsv"), "-q", "--near", "hamming", "-o", f("split_h.tsv")],
                  f("out.tsv"), qc_rows, 20_000)
        r["groups"] = _groups(f("split_h.tsv")) if r["rc"] == 0 else None
        if r["rc"] == 0:
            bench("dgsplit --check --near hamming",
                  ["bin/dgsplit", "--check", f("split_h.tsv"), "-q", "--near", "hamming"],
                  f("split_h.tsv"), qc_rows, 20_000)
    if "kmer" in only and args.kmer_rows > 0:
        sub = f("out.tsv")
        k = qc_rows
        if args.kmer_rows < qc_rows:
            sub = f(f"out_{args.kmer_rows}.tsv")
            k = subset(f("out.tsv"), args.kmer_rows, sub)
        r = bench("dgsplit --near kmer",
                  ["bin/dgsplit", sub, "-q", "--near", "kmer", "-o", f("split_k.tsv")], sub, k, 20_000)
        r["groups"] = _groups(f("split_k.tsv")) if r["rc"] == 0 else None
        if r["rc"] == 0:
            bench("dgsplit --check --near kmer", ["bin/dgsplit", "--check", f("split_k.tsv"), "-q", "--near", "kmer"],
                  f("split_k.tsv"), k, 20_000)

    table = render(info)
    print(table)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(info, fh, indent=2)
    if args.workdir is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    elif args.workdir is None:
        log(f"kept {work}")
    return 0


def _groups(path):
    try:
        return int(pd.read_csv(path, sep="\t", dtype=str, usecols=["group_id"])["group_id"].nunique())
    except Exception:  # noqa: BLE001
        return None


def render(info):
    m = info["machine"]
    repeat = max((len(r.get("all_seconds") or []) for r in info["results"]), default=1)
    inp = info["input"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; Python {m['python']}, "
        f"numpy {m['numpy']}, pandas {m['pandas']}, scipy {m['scipy']}; {m['os']}",
        "",
        f"Code: {m.get('revision', 'unknown')}",
        "",
        f"Input: {inp['rows']:,} rows x {inp['length']} nt resampled from {inp['source']} "
        f"({inp['source_rows']:,} rows), {inp['mutations_per_copy']}, "
        f"{inp['unique_sequences']:,} unique sequences, {inp['bytes'] / 1e6:.0f} MB; "
        f"seqqc kept {info.get('seqqc_rows_out', 0):,} rows.",
        "",
        "| command | rows | seconds" + (" median (range)" if repeat > 1 else "") + " | rows/s | peak RSS (MB) | x I/O floor | target | result |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in info["results"]:
        rps = r["rows"] / r["seconds"] if r["seconds"] > 0 else float("inf")
        ok_run = r["rc"] == 0 and not r["timed_out"]
        if r["target"] is None:
            ratio, target, result = "1.0", "(baseline)", ""
        else:
            ratio = f"{r['seconds'] / r['floor_seconds']:.1f}"
            target = f">= {r['target']:,} rows/s; < 2 GB"
            speed = ok_run and rps >= r["target"]
            mem = r["peak_rss_mb"] < MEM_LIMIT_MB
            result = ("PASS" if speed and mem else "FAIL") + (
                "" if ok_run else (" (timeout)" if r["timed_out"] else f" (exit {r['rc']})"))
            if ok_run and not (speed and mem):
                why = [w for w, bad in (("speed", not speed), ("memory", not mem)) if bad]
                result += f" ({', '.join(why)})"
            r["pass"] = speed and mem
        groups = f", {r['groups']:,} groups" if r.get("groups") is not None else ""
        secs = f"{r['seconds']:.2f}" + (" (killed)" if r["timed_out"] else "")
        runs = r.get("all_seconds") or []
        if len(runs) > 1:
            secs += f" ({min(runs):.2f}-{max(runs):.2f})"
        lines.append(f"| `{r['command']}`{groups} | {r['rows']:,} | {secs} | {rps:,.0f} | "
                     f"{r['peak_rss_mb']:,.0f} | {ratio} | {target} | {result} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
