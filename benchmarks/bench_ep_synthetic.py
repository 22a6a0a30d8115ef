"""fit-ep against the distance and propensity baselines on the synthetic genome with a
planted, cell-line-specific grammar (share/examples/ep/make_synthetic_ep.py: a known answer).

1. The generator writes a genome (``--chroms`` chromosomes, default 16) and its pair table
   (six cell lines, about 1 interacting pair in 20) into the work folder.
2. ``fit-ep --leave-one-cell-out`` runs as a user runs it: for every cell line, train on the
   other five lines' pairs off the held-out chromosomes (val ``--val-chroms``), test on the
   held-out line's pairs on ``--test-chroms``, its environment from a support set of 256 of
   those test pairs (fit-ep's eval_support; labels unused); the distance and region-propensity baselines are fitted
   on the same train pairs. loco.tsv has AUPR with 95% intervals (1,000 bootstrap resamples
   of the test pairs, the same resamples for all three) and the paired differences.
   Every fold runs for each of ``--seeds`` (default three: 1, 2, 3; fit-ep --seed) and, unless
   ``--no-reference``, a second time with ``fit-ep --no-environment`` (the sequence-only
   reference model: the same command with the environment stream off), so that what the
   environment adds is always visible. Per fold: the mean over seeds and the spread (largest
   minus smallest AUPR).
3. Five references on the same test pairs, from the generator's known answer: the planted
   probability (the ceiling); "own sequence", which knows the motif pairs and reads the
   enhancer's own markers but not the cell line, with the six lines' program combinations
   equally likely; "agnostic", which knows the motif pairs only; and "own sequence, training
   lines' combinations", the same as "own sequence" over the five training lines'
   combinations only: the best a model without the environment can learn from the training
   pairs, which never show the held-out line's combination (docs/decisions/0011); and the planted
   probability without its distance factor, the ceiling of a model that reads the two sequences
   but not the distance (docs/decisions/0014; fit-ep reads the distance too, from the table's
   distance column, so its ceiling is the planted probability: docs/decisions/0015).

Output: markdown tables on stdout with the machine and the command, and the issue's targets
checked (sequence-only >= 0.9 x own sequence, full model >= own sequence, seed spread <= 0.05
per fold, mean over the folds >= 0.60, full model >= distance baseline + 0.15); fit-ep's
progress on stderr. About 5-9 minutes per cell line, seed and model on 2 CPU cores, so the
default (6 lines x 3 seeds x 2 models) takes hours: ``--cells``, ``--seeds`` for fewer.

Usage: python3 benchmarks/bench_ep_synthetic.py [--cells cellA,cellB] [--seeds 1] [--no-reference]
       [--workdir DIR] [--json out.json]
"""

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from benchlib import machine  # noqa: E402

GENERATOR = os.path.join(REPO, "share", "examples", "ep", "make_synthetic_ep.py")
REFERENCES = ("planted", "own_sequence", "agnostic")     # the generator's known-answer columns
TRAINED = "own_sequence_trained"   # own sequence, over the five training lines' program combinations
NO_DISTANCE = "planted_without_distance"   # the planted answer without its distance factor: a sequence-only ceiling
SOURCES_HASHED = ("toolkit/models/ep.py", "toolkit/train/ep.py", "toolkit/cli/fit_ep.py", "toolkit/train/ep_data.py",
                  "toolkit/train/ep_loco.py", "toolkit/io/pairs.py",
                  "toolkit/models/ep_baselines.py", "share/examples/ep/make_synthetic_ep.py")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _generator():
    spec = importlib.util.spec_from_file_location("make_synthetic_ep", GENERATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def aupr_ci(y, p, seed, n_boot):
    from toolkit.evaluate import Task, evaluate

    res = evaluate([Task(name="label", truth=y, pred=p, pred_name="p", kind="binary")], n_boot=n_boot, seed=seed)
    r = next(r for r in res.records if r.section == "metrics" and r.metric == "aupr")
    return {"value": r.value, "ci": [r.ci_low, r.ci_high]}


def fmt(v, lo=None, hi=None):
    if lo is None:
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chroms", type=int, default=16)
    ap.add_argument("--seed", type=int, default=7, help="generator seed")
    ap.add_argument("--cells", default=None, help="held-out cell lines (default: all six)")
    ap.add_argument("--val-chroms", default="chr2,chr3")
    ap.add_argument("--test-chroms", default="chr1,chr5,chr9")
    ap.add_argument("--window", type=int, default=320, help="enhancer and promoter window (bp)")
    ap.add_argument("--fit-args", default="", help="extra fit-ep arguments, e.g. '--config settings.toml'")
    ap.add_argument("--workdir", default=None, help="keep the data and models here (resumes a killed run)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seeds", default="1,2,3", help="fit-ep seeds (default three)")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the sequence-only reference (fit-ep --no-environment)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import tempfile

    work = args.workdir or tempfile.mkdtemp(prefix="bench-ep-syn-")
    os.makedirs(work, exist_ok=True)
    gen = _generator()
    t0 = time.time()
    pairs_path = os.path.join(work, "synthetic_ep_pairs.csv.gz")
    if not os.path.exists(pairs_path):
        log(f"generating {args.chroms} chromosomes into {work}")
        gen.main([work, "--seed", str(args.seed), "--chroms", str(args.chroms)])
    _, pairs, truth, grammar = gen.make(seed=args.seed, n_chroms=args.chroms)
    seeds = [int(x) for x in args.seeds.split(",")]
    variants = [("full", [])] + ([] if args.no_reference else [("sequence-only", ["--no-environment"])])
    runs = {}
    for name, extra in variants:
        for seed in seeds:
            out = os.path.join(work, f"loco-{name}-s{seed}")
            cmd = [sys.executable, "-m", "toolkit.cli.fit_ep", pairs_path, "--genome",
                   os.path.join(work, "synthetic_ep_genome.fa.bgz"), "--leave-one-cell-out", "--val-chroms",
                   args.val_chroms, "--test-chroms", args.test_chroms, "--enhancer-length", str(args.window),
                   "--promoter-length", str(args.window), "-o", out, "-j", "1", "--seed", str(seed), *extra,
                   *args.fit_args.split()]
            if args.cells:
                cmd += ["--cells", args.cells]
            if os.path.exists(os.path.join(out, "loco.json")):
                cmd.append("--resume")
            log(" ".join(cmd))
            t1 = time.time()
            subprocess.run(cmd, cwd=REPO, check=True)
            runs[name, seed] = {"dir": out, "seconds": time.time() - t1}
    seconds = time.time() - t0
    import pandas as pd

    rows = {}
    for (name, seed), run in runs.items():
        loco = pd.read_csv(os.path.join(run["dir"], "loco.tsv"), sep="\t")
        preds = pd.read_csv(os.path.join(run["dir"], "loco_predictions.tsv"), sep="\t", dtype={"id": str})
        for _, r in loco.iterrows():
            cell = r["held_out"]
            sub = preds[preds["cell"] == cell]
            idx = sub["id"].str.removeprefix("row").astype(int).to_numpy() - 1      # row<N>: the N-th input pair
            assert (pairs["cell"].to_numpy()[idx] == cell).all()
            y = sub["label"].to_numpy(dtype=float)
            assert (pairs["label"].to_numpy()[idx] == y).all()
            row = rows.setdefault(cell, {"runs": {}})
            row["runs"][name, seed] = r.to_dict()
            if "refs" not in row:
                row["refs"] = {k: aupr_ci(y, truth[k].to_numpy()[idx], 2025, args.resamples) for k in REFERENCES}
                combos = [v for c, v in gen.CELLS.items() if c != cell]    # what the five training lines show
                trained = [gen.own_sequence_probability(gen.flags(t.enh_a), gen.flags(t.enh_marker),
                                                        gen.flags(t.prom_b), d, combos=combos)
                           for t, d in zip(truth.iloc[idx].itertuples(), pairs["distance"].to_numpy()[idx])]
                row["refs"][TRAINED] = aupr_ci(y, np.asarray(trained), 2025, args.resamples)
                blind = [gen.planted_without_distance(cell, gen.flags(t.enh_a), gen.flags(t.prom_b))
                         for t in truth.iloc[idx].itertuples()]
                row["refs"][NO_DISTANCE] = aupr_ci(y, np.asarray(blind), 2025, args.resamples)
                row["loco"] = r.to_dict()

    m = machine(("numpy", "pandas", "torch"))
    h = hashlib.sha256()
    for rel in SOURCES_HASHED:
        with open(os.path.join(REPO, rel), "rb") as fh:
            h.update(fh.read())
    cmdline = " ".join(["python3 benchmarks/bench_ep_synthetic.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, Python {m['python']}, "
          f"numpy {m['numpy']}, pandas {m['pandas']}, torch {m['torch']}")
    per_fold = np.median([r["seconds"] for r in runs.values()]) / max(1, len(rows))
    print(f"command: {cmdline.strip()} ({seconds / 60:.1f} min; median {per_fold / 60:.1f} min per fold and run); "
          f"code: sha256 of {len(SOURCES_HASHED)} sources {h.hexdigest()[:12]}")
    print(f"data: make_synthetic_ep.py --chroms {args.chroms} --seed {args.seed}: {len(pairs):,} pairs, "
          f"{int(pairs['label'].sum()):,} interacting ({pairs['label'].mean():.3f}); held out: the cell line's pairs "
          f"on {args.test_chroms}; train: the other lines off {args.val_chroms},{args.test_chroms}; windows "
          f"{args.window} bp; fit-ep seeds {args.seeds}; 95% intervals from {args.resamples} bootstrap resamples of "
          f"the test pairs (first seed)\n")

    def stat(row, name):
        v = [row["runs"][name, s]["aupr_fit_ep"] for s in seeds if (name, s) in row["runs"]]
        return (float(np.mean(v)), float(max(v) - min(v)), v) if v else (float("nan"), float("nan"), [])

    names = [n for n, _ in variants]
    head = " | ".join(f"{n} AUPR mean (spread)" for n in names)
    print(f"| held-out cell | test pairs (positives) | prior | {head} | environment's gain | distance AUPR | "
          "propensity AUPR | planted answer (ceiling) | own sequence without the cell line | motif pairs only | "
          "own sequence, training lines' combinations | planted answer without the distance |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|---|---|---|---|---|---|")
    summary = []
    for cell, row in rows.items():
        lo = row["loco"]
        st = {n: stat(row, n) for n in names}
        gain = st["full"][0] - st["sequence-only"][0] if "sequence-only" in st else float("nan")
        cols = " | ".join(f"{st[n][0]:.3f} ({st[n][1]:.3f})" for n in names)
        print(f"| {cell} | {int(lo['n_test']):,} ({int(lo['positives'])}) | {lo['prior']:.3f} | {cols} | "
              f"{gain:+.3f} | {fmt(lo['aupr_distance'], lo['aupr_distance_low'], lo['aupr_distance_high'])} | "
              f"{fmt(lo['aupr_propensity'], lo['aupr_propensity_low'], lo['aupr_propensity_high'])} | "
              f"{' | '.join(fmt(row['refs'][k]['value']) for k in (*REFERENCES, TRAINED, NO_DISTANCE))} |")
        summary.append({"cell": cell, **{n: st[n][0] for n in names}, **{n + "_spread": st[n][1] for n in names},
                        "distance": lo["aupr_distance"],
                        **{k: row["refs"][k]["value"] for k in (*REFERENCES, TRAINED, NO_DISTANCE)}})
    mean = {k: float(np.mean([r[k] for r in summary])) for k in summary[0] if k != "cell"}
    cols = " | ".join(f"{mean[n]:.3f}" for n in names)
    gain = mean["full"] - mean["sequence-only"] if "sequence-only" in mean else float("nan")
    refs = " | ".join(f"{mean[k]:.3f}" for k in (*REFERENCES, TRAINED, NO_DISTANCE))
    print(f"| mean of {len(summary)} | | | {cols} | {gain:+.3f} | {mean['distance']:.3f} | | {refs} |")
    own = REFERENCES[1]
    checks = [("full model: seed spread <= 0.05 AUPR in every fold", all(r["full_spread"] <= 0.05 for r in summary)),
              ("full model >= own-sequence reference in every fold", all(r["full"] >= r[own] for r in summary)),
              ("full model >= distance baseline + 0.15 in every fold",
               all(r["full"] >= r["distance"] + 0.15 for r in summary)),
              (f"full model: mean over the folds >= 0.60 ({mean['full']:.3f})", mean["full"] >= 0.60)]
    if "sequence-only" in mean:
        checks.insert(0, ("sequence-only >= 0.9 x own-sequence reference in every fold",
                          all(r["sequence-only"] >= 0.9 * r[own] for r in summary)))
        checks.insert(1, ("sequence-only >= 0.9 x own-sequence reference over the training lines' combinations "
                          "(what a model trained on the five lines can reach) in every fold",
                          all(r["sequence-only"] >= 0.9 * r[TRAINED] for r in summary)))
    print()
    for what, ok in checks:
        print(f"- {what}: {'met' if ok else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": {c: {"runs": {f"{n}-s{s}": v for (n, s), v in r["runs"].items()}, "refs": r["refs"]}
                                for c, r in rows.items()}, "summary": summary, "seconds": seconds,
                       "command": cmdline, "machine": m}, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
