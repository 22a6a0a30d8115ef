#!/usr/bin/env python3
"""Training throughput and peak memory of fit-cre against the number of rows: does it drop when
the table grows from 10,000 to 1,000,000 rows?

Builds a table of the largest --sizes rows (default 1,000,000; 230 nt, resampled from the bundled
real lentiMPRA HepG2 rows with 0-3 point substitutions per copy, benchlib.resample_lentimpra) and
its first rows for the smaller sizes, with a split column: the first --val-rows rows (default
2,000) are val, the next --test-rows (1,000) test (never read), the rest train, so validation
costs the same at every size. Each size is trained as a subprocess:

  fit-cre input_N.tsv -o model_N --preset cpu --targets mean_value --epochs E --config steps.toml
          --no-baseline --stream-data --device cpu -j J

where steps.toml holds "[train] steps_per_epoch = S" (and "[model] kmer_prior = false" with
--no-kmer-prior)

(--mode memory: --data-in-memory instead; --mode both: each). The cpu preset is used as it comes
(its k-mer ridge branch included, fitted on at most 10,000 train rows), so the steps are the same
work at every size; steps_per_epoch S caps each epoch at S batches of the epoch's shuffled order
over all train rows, so a million-row epoch takes a minute.

Reported per size: training throughput (sequences/s over the optimisation steps only: the
``samples_per_s`` fit-cre logs per epoch, rows of the epoch's batches over the time of its steps,
which includes reading each batch from the cache; the mean of the epochs after the first, whose
first steps warm up), the one-off time to read the table and write the training cache (from
fit-cre's log line), its size, the total wall time and the command's peak RSS (ru_maxrss through
benchlib.run_measured's launcher), and the ratios of the largest size to the smallest.

    python3 benchmarks/bench_train_scaling.py --mode both          # 10k, 100k, 1M: about 40 min on 2 cores
    python3 benchmarks/bench_train_scaling.py --no-kmer-prior --extra "--ensemble 1" --repeat 3
                                                                   # one network: the data path alone, 3 rounds
    python3 benchmarks/bench_train_scaling.py --sizes 10000,100000 --steps 50

On a shared machine the speed of a run moves with the other jobs; --repeat R runs every size
R times in alternating rounds and shows the median round, so a busy spell does not land on one
size only.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402


def with_split(src, rows, out, val, test):
    """The first ``rows`` data rows of ``src`` with a ``split`` column: val, then test, then train."""
    with open(src, encoding="utf-8") as fi, open(out, "w", encoding="utf-8", newline="\n") as fo:
        fo.write(fi.readline().rstrip("\n") + "\tsplit\n")
        for i, line in enumerate(fi):
            if i >= rows:
                break
            fo.write(line.rstrip("\n") + ("\tval\n" if i < val else "\ttest\n" if i < val + test else "\ttrain\n"))


def read_log(path):
    with open(path) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        return [dict(zip(head, line.rstrip("\n").split("\t"))) for line in fh if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="rows of the tables (comma-separated)")
    ap.add_argument("--steps", type=int, default=100, help="fit-cre's train.steps_per_epoch (default 100)")
    ap.add_argument("--no-kmer-prior", action="store_true", help="fit-cre's model.kmer_prior = false")
    ap.add_argument("--epochs", type=int, default=3, help="--epochs (default 3: the first warms up)")
    ap.add_argument("--batch-size", type=int, default=None, help="--batch-size (default: the cpu preset's)")
    ap.add_argument("--mode", choices=["stream", "memory", "both"], default="stream",
                    help="--stream-data, --data-in-memory, or each (default stream)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds over all sizes and modes (alternating, so that a busy spell of a shared machine "
                         "hits every size); the table shows the median round per size (default 1)")
    ap.add_argument("--val-rows", type=int, default=2000)
    ap.add_argument("--test-rows", type=int, default=1000)
    ap.add_argument("-j", "--threads", type=int, default=1, help="fit-cre -j (default 1)")
    ap.add_argument("--extra", default="", help="more fit-cre arguments, e.g. '--ensemble 1'")
    ap.add_argument("--workdir", default=None, help="folder for the generated files (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--repo", default=REPO, help="checkout whose bin/ is measured (default: this one)")
    ap.add_argument("--label", default=None, help="what --repo holds, printed as 'Code:' (default: git HEAD)")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--json", dest="json_out", default=None, help="save the results as JSON")
    args = ap.parse_args(argv)
    sizes = sorted(int(x) for x in args.sizes.split(","))
    repo = os.path.realpath(args.repo)
    work = args.workdir or tempfile.mkdtemp(prefix="bench_train_scaling_")
    os.makedirs(work, exist_ok=True)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rev = f"{args.label} ({repo})" if args.label else benchlib.revision(repo)
    info = {"machine": {"revision": rev, **benchlib.machine(("numpy", "torch", "h5py"))}, "workdir": work,
            "settings": {k: getattr(args, k) for k in ("steps", "epochs", "batch_size", "mode", "val_rows",
                                                        "test_rows", "threads", "extra", "seed", "repeat",
                                                        "no_kmer_prior")},
            "results": []}
    raw = os.path.join(work, f"raw_{sizes[-1]}.tsv")
    if not os.path.exists(raw):
        log(f"generating {sizes[-1]:,} rows in {work} ...")
        t0 = time.perf_counter()
        info["input"] = benchlib.resample_lentimpra(sizes[-1], raw, seed=args.seed)
        log(f"  done in {time.perf_counter() - t0:.1f} s (not measured)")
    modes = ["stream", "memory"] if args.mode == "both" else [args.mode]
    py = sys.executable
    for rnd, n, mode in [(rnd, n, mode) for rnd in range(args.repeat) for n in sizes for mode in modes]:
        table = os.path.join(work, f"input_{n}.tsv")
        if not os.path.exists(table):
            with_split(raw, n, table, args.val_rows, args.test_rows)
        model = os.path.join(work, f"model_{n}_{mode}")
        shutil.rmtree(model, ignore_errors=True)
        errlog = os.path.join(work, f"fit_{n}_{mode}.log")
        settings = os.path.join(work, "steps.toml")
        with open(settings, "w") as fh:
            fh.write(f"[train]\nsteps_per_epoch = {args.steps}\n"
                     + ("\n[model]\nkmer_prior = false\n" if args.no_kmer_prior else ""))
        cmd = ["bin/fit-cre", table, "-o", model, "--preset", "cpu", "--targets", "mean_value",
               "--epochs", str(args.epochs), "--config", settings, "--no-baseline",
               "--stream-data" if mode == "stream" else "--data-in-memory", "--device", "cpu",
               "-j", str(args.threads), "--seed", str(args.seed)]
        if args.batch_size:
            cmd += ["--batch-size", str(args.batch_size)]
        cmd += args.extra.split()
        log(f"{n:,} rows, {mode}: fit-cre {' '.join(os.path.basename(c) if c.startswith(work) else c for c in cmd[1:])}")
        # sh execs the interpreter (same process, so ru_maxrss is fit-cre's) with stderr kept whole in a file
        r = benchlib.run_measured(["sh", "-c", 'exec "$0" "$@" 2>"' + errlog + '"', py, *cmd], repo,
                                  args.timeout)
        with open(errlog) as fh:
            err = fh.read()
        m = re.search(r"training cache \S+ written in ([\d.]+) s \(([\d,.]+) MB\)", err)
        r.update(rows=n, mode=mode, round=rnd + 1, train_rows=n - args.val_rows - args.test_rows,
                 command="fit-cre " + " ".join(os.path.basename(c) if c.startswith(work) else c for c in cmd[1:]),
                 cache_seconds=float(m.group(1)) if m else None,
                 cache_mb=float(m.group(2).replace(",", "")) if m else None)
        if r["rc"] == 0:
            rows = read_log(os.path.join(model, "train_log.tsv"))
            r["epoch_seq_per_s"] = [float(x["samples_per_s"]) for x in rows]
            later = r["epoch_seq_per_s"][1:] or r["epoch_seq_per_s"]
            r["seq_per_s"] = sum(later) / len(later)
            r["epoch_seconds"] = [float(x["seconds"]) for x in rows]
        else:
            r["stderr"] = err[-3000:]
            log(err[-3000:])
        info["results"].append(r)
        log(f"  {r.get('seq_per_s', float('nan')):.0f} seq/s, cache {r['cache_seconds']} s, "
            f"{r['peak_rss_mb']:.0f} MB peak, {r['seconds']:.0f} s in all, rc={r['rc']}")
        if not args.keep and not args.workdir:
            shutil.rmtree(model, ignore_errors=True)
    info["runs"] = info["results"]
    info["results"] = median_runs(info["runs"])
    print(render(info))
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(info, fh, indent=2)
    if not args.workdir and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r["rc"] != 0 for r in info["results"]) else 0


def median_runs(runs):
    """Per size and mode, the round with the median throughput (all rounds when one failed)."""
    out = []
    keys = list(dict.fromkeys((r["rows"], r["mode"]) for r in runs))
    for key in keys:
        rs = [r for r in runs if (r["rows"], r["mode"]) == key]
        ok = sorted((r for r in rs if r["rc"] == 0), key=lambda r: r["seq_per_s"])
        if len(ok) != len(rs):
            out += rs
            continue
        pick = dict(ok[(len(ok) - 1) // 2])
        pick["rounds_seq_per_s"] = [round(r["seq_per_s"], 1) for r in rs]
        pick["rounds_peak_rss_mb"] = [round(r["peak_rss_mb"], 1) for r in rs]
        out.append(pick)
    return out


def render(info):
    m, s = info["machine"], info["settings"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}, "
        f"numpy {m['numpy']}, torch {m['torch']}, h5py {m['h5py']}",
        f"Code: {m['revision']}",
        f"Settings: fit-cre --preset cpu --targets mean_value --epochs {s['epochs']} (train.steps_per_epoch "
        f"{s['steps']}{', model.kmer_prior false' if s.get('no_kmer_prior') else ''})"
        f"{' --batch-size ' + str(s['batch_size']) if s['batch_size'] else ''} --no-baseline --device cpu "
        f"-j {s['threads']} --seed {s['seed']} {s['extra']}; val {s['val_rows']:,} rows, test {s['test_rows']:,} "
        f"(not read); {s['repeat']} round(s), the median shown",
        "",
        "| rows (train) | batches from | training seq/s (per epoch) | cache written (s) | cache (MB) | total (s) "
        "| peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    ok = [r for r in info["results"] if r["rc"] == 0]
    for r in info["results"]:
        if r["rc"] != 0:
            lines.append(f"| {r['rows']:,} | {r['mode']} | failed (exit {r['rc']}) | | | | |")
            continue
        per = ", ".join(f"{x:,.0f}" for x in r["epoch_seq_per_s"])
        if len(r.get("rounds_seq_per_s", [])) > 1:
            per = "rounds: " + ", ".join(f"{x:,.0f}" for x in r["rounds_seq_per_s"])
        lines.append(f"| {r['rows']:,} ({r['train_rows']:,}) | {'cache, by index' if r['mode'] == 'stream' else 'memory'} "
                     f"| {r['seq_per_s']:,.0f} ({per}) | {r['cache_seconds']:.1f} | {r['cache_mb']:,.1f} "
                     f"| {r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} |")
    for mode in dict.fromkeys(r["mode"] for r in ok):
        runs = sorted((r for r in ok if r["mode"] == mode), key=lambda r: r["rows"])
        if len(runs) > 1:
            a, b = runs[0], runs[-1]
            lines.append("")
            lines.append(f"{mode}: {b['rows']:,} / {a['rows']:,} rows: throughput ratio "
                         f"{b['seq_per_s'] / a['seq_per_s']:.2f}, peak RSS ratio "
                         f"{b['peak_rss_mb'] / a['peak_rss_mb']:.2f} ({b['peak_rss_mb'] - a['peak_rss_mb']:+,.0f} MB)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
