#!/usr/bin/env python3
"""Peak memory of the streaming commands at two input sizes: does it grow with the rows?

Builds a lentiMPRA-like table of --rows-large rows (default 1,000,000; 230 nt, resampled
from the bundled share/examples/lentimpra_HepG2.tsv.gz with 0-3 point mutations per copy,
as bench_seqqc_dgsplit.py does) and its first --rows-small rows (default 100,000), then runs
each command on both as a subprocess and reports its peak RSS (ru_maxrss of the command,
from os.wait4 in a small launcher process, see bench_seqqc_dgsplit.py), wall time and rows/s:

  seqqc     input.tsv -q -o out.tsv
  descfeat  input.tsv -q --families thermo -o out.tsv      (TSV output)
  descfeat  input.tsv -q --families thermo -o out.h5       (HDF5 output)
  descfeat  input.tsv -q -o out.h5                         (every family; --full-rows, default 10,000 and 100,000)
  predict   input.tsv -q -m MODEL --no-rc-average -o out.tsv

The predict model is trained here first (not measured): fit-cre --preset cpu --epochs 1
--ensemble 1 --length 64 (model.kmer_prior false) on 2,000 rows of the table, a small network that
reads the 230-nt rows centre-cropped to 64 nt, so a million rows take minutes on a CPU.

For each command the table gives the growth from the small to the large input, in MB and
as a fraction of the small input's peak. A streaming command holds a few chunks at a time,
so its peak should not grow with the row count. See benchmarks/README.md.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import bench_seqqc_dgsplit as base  # noqa: E402  (input generation and the measuring launcher)

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(HERE)
SOURCE = os.path.join(REPO, "share", "examples", "lentimpra_HepG2.tsv.gz")
GROWTH_LIMIT = 0.15  # "does not grow": the large input's peak within 15% (or 50 MB) of the small one's
GROWTH_SLACK_MB = 50


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows-small", type=int, default=100_000)
    ap.add_argument("--rows-large", type=int, default=1_000_000)
    ap.add_argument("--full-rows", default="10000,100000",
                    help="the two sizes for descfeat with every family (default 10000,100000)")
    ap.add_argument("--predict-rows", default=None,
                    help="the two sizes for predict (default: --rows-small,--rows-large)")
    ap.add_argument("--only", default="seqqc,thermo,thermo-h5,full,predict",
                    help="comma-separated subset of: seqqc,thermo,thermo-h5,full,predict")
    ap.add_argument("-j", "--threads", type=int, default=1, help="-j of descfeat and predict (default 1)")
    ap.add_argument("--workdir", default=None, help="folder for the generated files (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--source", default=SOURCE, help="lentiMPRA table to resample (seq_id, seq, mean_value)")
    ap.add_argument("--repo", default=REPO, help="checkout whose bin/ is measured (default: this one)")
    ap.add_argument("--label", default=None, help="what --repo holds, printed as 'Code:' (default: git HEAD)")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a command is killed")
    ap.add_argument("--json", dest="json_out", default=None, help="save the results as JSON")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    base.RUN["repo"] = os.path.realpath(args.repo)
    base.RUN["label"] = args.label
    work = args.workdir or tempfile.mkdtemp(prefix="bench_streaming_memory_")
    os.makedirs(work, exist_ok=True)
    f = lambda name: os.path.join(work, name)  # noqa: E731
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    py = sys.executable
    rev = f"{args.label} ({base.RUN['repo']})" if args.label else benchlib.revision(base.RUN["repo"])
    info = {"machine": {"revision": rev,
                        **benchlib.machine(("numpy", "pandas", "torch", "h5py"))},
            "workdir": work, "results": []}

    full_sizes = [int(x) for x in args.full_rows.split(",")]
    pred_sizes = [int(x) for x in (args.predict_rows or f"{args.rows_small},{args.rows_large}").split(",")]
    largest = max([args.rows_large, *full_sizes, *pred_sizes])
    big = f(f"input_{largest}.tsv")
    if not os.path.exists(big):
        log(f"generating {largest:,} rows in {work} ...")
        t0 = time.perf_counter()
        info["input"] = base.generate(args.source, largest, big, seed=args.seed)
        log(f"  done in {time.perf_counter() - t0:.1f} s (not measured)")
    else:
        info["input"] = {"rows": largest, "reused": big}

    def table(rows):
        path = f(f"input_{rows}.tsv")
        if not os.path.exists(path):
            base.subset(big, rows, path)
        return path

    def bench(group, argv, rows):
        log(f"{group} at {rows:,} rows: {' '.join(argv)} ...")
        r = base.run_child([py] + argv, args.timeout)
        r.update(group=group, rows=rows,
                 command="python3 " + " ".join(os.path.basename(a) if a.startswith(work) else a for a in argv))
        info["results"].append(r)
        status = "TIMEOUT" if r["timed_out"] else f"rc={r['rc']}"
        log(f"  {r['seconds']:.1f} s, {r['peak_rss_mb']:.0f} MB, {status}")
        if r["rc"] != 0:
            log(r["stderr"])
        return r

    j = ["-j", str(args.threads)]
    sizes = (args.rows_small, args.rows_large)
    if "seqqc" in only:
        for n in sizes:
            bench("seqqc", ["bin/seqqc", table(n), "-q", "-o", f("qc.tsv")], n)
    if "thermo" in only:
        for n in sizes:
            bench("descfeat thermo, TSV", ["bin/descfeat", table(n), "-q", "--families", "thermo", *j,
                                           "-o", f("thermo.tsv")], n)
    if "thermo-h5" in only:
        for n in sizes:
            bench("descfeat thermo, HDF5", ["bin/descfeat", table(n), "-q", "--families", "thermo", *j,
                                            "-o", f("thermo.h5")], n)
    if "full" in only:
        for n in full_sizes:
            bench("descfeat all families, HDF5", ["bin/descfeat", table(n), "-q", *j, "-o", f("full.h5")], n)
    if "predict" in only:
        model = f("model")
        if not os.path.exists(os.path.join(model, "model.pt")):
            log("training the predict model (not measured) ...")
            shutil.rmtree(model, ignore_errors=True)
            train = f("train_2000.tsv")
            base.subset(big, 2000, train)
            import subprocess

            qc = subprocess.run([py, "bin/seqqc", train, "-q"], cwd=base.RUN["repo"], capture_output=True, check=True)
            sp = subprocess.run([py, "bin/dgsplit", "-q"], input=qc.stdout, cwd=base.RUN["repo"],
                                capture_output=True, check=True)
            settings = f("no_kmer_prior.toml")
            with open(settings, "w") as fh:
                fh.write("[model]\nkmer_prior = false\n")
            subprocess.run([py, "bin/fit-cre", "-o", model, "--preset", "cpu", "--epochs", "1", "--ensemble", "1",
                            "--config", settings, "--length", "64", "--no-baseline", "--targets", "mean_value", "-q",
                            "--device", "cpu", *j], input=sp.stdout, cwd=base.RUN["repo"], check=True)
        for n in pred_sizes:
            bench("predict", ["bin/predict", table(n), "-q", "-m", model, "--no-rc-average", "--device", "cpu", *j,
                              "-o", f("pred.tsv")], n)

    print(render(info))
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(info, fh, indent=2)
    if not args.workdir and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in info["results"] if r["rc"] != 0 or r["timed_out"]]
    return 1 if failed else 0


def render(info):
    m = info["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}, "
        f"numpy {m['numpy']}, pandas {m['pandas']}, torch {m['torch']}, h5py {m['h5py']}",
        f"Code: {m['revision']}",
        "",
        "| command | rows | peak RSS (MB) | seconds | rows/s | growth of the peak |",
        "|---|---:|---:|---:|---:|---|",
    ]
    groups = {}
    for r in info["results"]:
        groups.setdefault(r["group"], []).append(r)
    for group, runs in groups.items():
        runs = sorted(runs, key=lambda r: r["rows"])
        for k, r in enumerate(runs):
            ok = r["rc"] == 0 and not r["timed_out"]
            growth = ""
            if k and ok and runs[0]["rc"] == 0:
                d = r["peak_rss_mb"] - runs[0]["peak_rss_mb"]
                frac = d / runs[0]["peak_rss_mb"]
                flat = frac <= GROWTH_LIMIT or d <= GROWTH_SLACK_MB
                r["flat"] = flat
                growth = (f"{d:+,.0f} MB ({frac:+.0%}) for {r['rows'] / runs[0]['rows']:.0f}x the rows: "
                          + ("flat" if flat else "GROWS"))
            rps = f"{r['rows'] / r['seconds']:,.0f}" if ok and r["seconds"] > 0 else "-"
            secs = f"{r['seconds']:.1f}" if ok else ("killed" if r["timed_out"] else f"exit {r['rc']}")
            lines.append(f"| `{r['command']}` | {r['rows']:,} | {r['peak_rss_mb']:,.0f} | {secs} | {rps} | {growth} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
