"""Enhancer-promoter baselines on the real TargetFinder pairs, leave one cell line out.

For each of the six cell lines (GM12878, HeLa-S3, HUVEC, IMR90, K562, NHEK) of
../shared/data/ep/targetfinder_pairs.csv.gz (Whalen et al. 2016; 207,399 pairs, hg19):

1. ``dgsplit --holdout cell=<CELL> --holdout-chrom --test-chroms chr8,chr9 --val-chroms chr7``
   (the command, run as a user runs it): train = the other five lines' pairs off chr7,
   chr8 and chr9; test = the held-out line's pairs on chr8 and chr9; the rest excluded.
2. ``DistanceBaseline`` (logistic regression on log10 distance) and ``PropensityBaseline``
   (smoothed per-enhancer and per-promoter positive rates, 5-kb centre bins from
   ``region_keys``, so that overlapping windows of another line count) are fitted on the
   train pairs and scored on the test pairs.
3. AUPR and AUROC with 95% percentile intervals from 1,000 bootstrap resamples of
   dgsplit's groups (pairs that share an element are resampled together), next to the
   positive fraction of the test pairs (the AUPR of a random score).

The same test pairs are also scored after a cell-line-only hold-out (``dgsplit --holdout
cell=<CELL>``: the other lines' pairs on every chromosome, chr8 and chr9 included, are
train), which shows how much a score gains from remembering loci that the cell lines
share (Xi & Beer 2018). Output: markdown tables on stdout, with the machine and the
command; progress on stderr. About a minute on 2 cores.

Usage: python3 benchmarks/bench_ep_baselines.py [--source CSV] [--json out.json]
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from benchlib import machine  # noqa: E402

SOURCE = os.path.join(REPO, os.pardir, "shared", "data", "ep", "targetfinder_pairs.csv.gz")
CELLS = ("GM12878", "HeLa-S3", "HUVEC", "IMR90", "K562", "NHEK")
SOURCES_HASHED = ("toolkit/models/ep_baselines.py", "toolkit/cli/dgsplit.py", "toolkit/split/allocate.py",
                  "toolkit/split/group.py", "toolkit/io/tables.py", "toolkit/evaluate/metrics.py",
                  "toolkit/evaluate/bootstrap.py")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def dgsplit(source, out, args):
    cmd = [sys.executable, "-m", "toolkit.cli.dgsplit", source, "-q", "-o", out, *args]
    subprocess.run(cmd, cwd=REPO, check=True)
    import pandas as pd

    return pd.read_csv(out, sep="\t", dtype={"cell": str, "split": str, "group_id": str, "enhancer_chrom": str,
                                             "promoter_chrom": str}, keep_default_na=False)


def boot(y, scores, groups, n_boot, seed):
    """AUPR and AUROC of each score, with 95% intervals from one set of group resamples."""
    from toolkit.evaluate.bootstrap import percentile_interval, resample_weights
    from toolkit.evaluate.metrics import Binary

    codes = np.unique(groups, return_inverse=True)[1]
    out = {}
    models = {k: Binary(y, p) for k, p in scores.items()}
    draws = {k: {"aupr": [], "auroc": []} for k in scores}
    for W in resample_weights(len(y), n_boot, seed, groups=codes):
        for k, m in models.items():
            r = m.compute(W)
            draws[k]["aupr"].append(r["aupr"])
            draws[k]["auroc"].append(r["auroc"])
    ones = np.ones((1, len(y)), dtype=np.uint8)
    for k, m in models.items():
        point = m.compute(ones)
        out[k] = {}
        for metric in ("aupr", "auroc"):
            lo, hi = percentile_interval(np.concatenate(draws[k][metric]))
            out[k][metric] = {"value": float(point[metric][0]), "ci": [lo, hi]}
    return out


def fit_and_score(train, test, bin_bp, prior_strength):
    from toolkit.models.ep_baselines import DistanceBaseline, PropensityBaseline, region_keys

    def keys(df, el):
        return region_keys(df[f"{el}_chrom"].to_numpy(), df[f"{el}_start"].to_numpy(),
                           df[f"{el}_end"].to_numpy(), bin=bin_bp)

    ytr = train["label"].to_numpy(dtype=int)
    dist = DistanceBaseline().fit(train["distance"].to_numpy(dtype=float), ytr)
    prop = PropensityBaseline(prior_strength=prior_strength).fit(keys(train, "enhancer"), keys(train, "promoter"),
                                                                  ytr)
    te_e, te_p = keys(test, "enhancer"), keys(test, "promoter")
    seen_e = np.isin(te_e, keys(train, "enhancer"))
    seen_p = np.isin(te_p, keys(train, "promoter"))
    scores = {"distance": dist.predict_proba(test["distance"].to_numpy(dtype=float)),
              "propensity": prop.predict_proba(te_e, te_p)}
    facts = {"distance_coef": dist.coef_, "distance_intercept": dist.intercept_,
             "test_enhancer_bins_seen_in_train": float(seen_e.mean()),
             "test_promoter_bins_seen_in_train": float(seen_p.mean())}
    return scores, facts


def fmt(m):
    lo, hi = m["ci"]
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=SOURCE, help="TargetFinder pairs (CSV, gzip)")
    ap.add_argument("--test-chroms", default="chr8,chr9")
    ap.add_argument("--val-chroms", default="chr7")
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--bin", type=int, default=5000, help="region_keys bin (bp) for the propensity baseline")
    ap.add_argument("--prior-strength", type=float, default=10.0)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--json", default=None, help="also write every number as JSON")
    args = ap.parse_args(argv)
    if not os.path.exists(args.source):
        sys.exit(f"Error: {args.source} not found; this benchmark needs ../shared/data (see benchmarks/README.md) "
                 "or --source")
    source = os.path.abspath(args.source)
    test_chroms = [c.strip() for c in args.test_chroms.split(",")]
    t0 = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-ep-") as work:
        for cell in args.cells.split(","):
            log(f"{cell}: dgsplit (cell + chromosomes, cell only), fit, bootstrap")
            both = dgsplit(source, os.path.join(work, "both.tsv"),
                           ["--holdout", f"cell={cell}", "--holdout-chrom", "--test-chroms", args.test_chroms,
                            "--val-chroms", args.val_chroms])
            only = dgsplit(source, os.path.join(work, "only.tsv"), ["--holdout", f"cell={cell}"])
            test = both[both["split"] == "test"]
            # the same pairs from the cell-only split: the held-out line on the test chromosomes
            norm = {c.lower().removeprefix("chr") for c in test_chroms}
            on_test = (only["enhancer_chrom"].str.lower().str.removeprefix("chr").isin(norm)
                       | only["promoter_chrom"].str.lower().str.removeprefix("chr").isin(norm))
            test_only = only[(only["split"] == "test") & (only["cell"] == cell) & on_test]
            assert test_only["id"].tolist() == test["id"].tolist(), "the two settings test different pairs"
            assert (test["cell"] == cell).all()
            y = test["label"].to_numpy(dtype=int)
            row = {"cell": cell, "test_pairs": int(len(test)), "test_positives": int(y.sum()),
                   "prior": float(y.mean()), "settings": {}}
            for name, df in (("cell+chrom", both), ("cell only", only)):
                train = df[df["split"] == "train"]
                assert not (train["cell"] == cell).any()
                scores, facts = fit_and_score(train, test, args.bin, args.prior_strength)
                row["settings"][name] = {"train_pairs": int(len(train)),
                                         "train_positives": int(train["label"].astype(int).sum()), **facts,
                                         **boot(y, scores, test["group_id"].to_numpy(), args.resamples, args.seed)}
            results.append(row)
    seconds = time.time() - t0

    m = machine(("numpy", "pandas", "scipy"))
    h = hashlib.sha256()
    for rel in SOURCES_HASHED:
        with open(os.path.join(REPO, rel), "rb") as fh:
            h.update(fh.read())
    cmd = " ".join(["python3 benchmarks/bench_ep_baselines.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, Python {m['python']}, "
          f"numpy {m['numpy']}, pandas {m['pandas']}, scipy {m['scipy']}")
    print(f"command: {cmd.strip()} ({seconds:.0f} s); code: sha256 of {len(SOURCES_HASHED)} toolkit sources "
          f"{h.hexdigest()[:12]}")
    print(f"split: dgsplit --holdout cell=<CELL> --holdout-chrom --test-chroms {args.test_chroms} "
          f"--val-chroms {args.val_chroms}; baselines fitted on train, scored on the held-out line's "
          f"{args.test_chroms} pairs; propensity on {args.bin // 1000}-kb centre bins, prior strength "
          f"{args.prior_strength:g}; 95% intervals from {args.resamples} bootstrap resamples of dgsplit groups\n")
    hdr = ("| held-out cell | test pairs (positives) | prior (random AUPR) | distance AUPR [95% CI] | distance AUROC "
           "| propensity AUPR [95% CI] | propensity AUROC |")
    sep = "|---|---|---|---|---|---|---|"
    for name, title in (("cell+chrom", "Leave one cell line out, chromosomes held out too (train: other lines off "
                                       f"{args.val_chroms},{args.test_chroms})"),
                        ("cell only", "The same test pairs after a cell-line-only hold-out (train: other lines on "
                                      "every chromosome; leaks loci)")):
        print(f"**{title}**\n")
        print(hdr)
        print(sep)
        for r in results:
            s = r["settings"][name]
            print(f"| {r['cell']} | {r['test_pairs']:,} ({r['test_positives']}) | {r['prior']:.3f} | "
                  f"{fmt(s['distance']['aupr'])} | {s['distance']['auroc']['value']:.3f} | "
                  f"{fmt(s['propensity']['aupr'])} | {s['propensity']['auroc']['value']:.3f} |")
        def mean(model, metric):
            return np.mean([r["settings"][name][model][metric]["value"] for r in results])

        prior = np.mean([r["prior"] for r in results])
        print(f"| mean of {len(results)} | | {prior:.3f} | {mean('distance', 'aupr'):.3f} | "
              f"{mean('distance', 'auroc'):.3f} | {mean('propensity', 'aupr'):.3f} | "
              f"{mean('propensity', 'auroc'):.3f} |")
        seen = np.mean([r["settings"][name]["test_promoter_bins_seen_in_train"] for r in results])
        seen_e = np.mean([r["settings"][name]["test_enhancer_bins_seen_in_train"] for r in results])
        print(f"\ntest pairs whose promoter bin / enhancer bin occurs in train (mean over cells): "
              f"{seen:.1%} / {seen_e:.1%}\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": m, "command": cmd.strip(), "seconds": seconds, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
