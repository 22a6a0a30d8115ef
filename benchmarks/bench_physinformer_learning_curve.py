#!/usr/bin/env python3
"""How PhysInformer's physics prior grows with the number of training sequences.

The lentiMPRA HepG2 table (../shared/data/lentimpra/HepG2.tsv, 12,292 rows) is split by
``seqqc | dgsplit`` (defaults); its test rows are fixed. For each training size N
(default 3k, 10k, 30k, 100k) the training sequences are:

- N <= the number of train rows: a seeded random subset of the train rows;
- N larger: every train row plus N - n_train sequences made as ``fit-physinformer
  --augment`` makes them (toolkit.train.augment: mutated copies, dinucleotide shuffles
  and windows of the bundled E. coli genome, in fit-physinformer's default mix; any
  candidate that dgsplit's grouping puts with a val or test row is dropped, as in
  training, and the shortfall drawn again).

Every sequence is labelled by descfeat's library (HepG2 motifs, every family but psi),
the prior's features (k-mers to 5, motif site statistics, parameter-track statistics)
are computed by toolkit.models.physinformer.PhysicsPrior and its ridge fitted as
fit-physinformer fits it (5-fold cross-validated penalty per descriptor, train only).
Beside it, on the same rows, the k-mer (1-5) ridge of the same folds. Reported on the
test rows: per-descriptor Pearson r, mean / median / flattened, and the mean per family.

The network on top of the prior is not trained here (on 2 CPU cores 100k sequences take
hours); the quality benchmark (bench_physinformer_quality.py) gives the whole model at
the sizes it trains.

    python3 benchmarks/bench_physinformer_learning_curve.py -j 2            # ~15 min on 2 cores
    python3 benchmarks/bench_physinformer_learning_curve.py --sizes 3000,10000

Output: a markdown table on standard output; progress on standard error.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from benchlib import machine, revision  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
GENOME = os.path.join(ROOT, "share", "examples", "ecoli", "NC_000913.3.fa.bgz")
FAMILIES = ("pwm", "bend", "stiff", "thermo", "entropy", "advanced")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def split_table(work):
    import pandas as pd

    path = os.path.join(work, "split.tsv")
    if not os.path.exists(path):
        qc = subprocess.run([sys.executable, "-m", "toolkit.cli.seqqc", os.path.join(SHARED, "lentimpra", "HepG2.tsv"),
                             "-q"], check=True, capture_output=True, cwd=ROOT).stdout
        with open(path, "wb") as fh:
            subprocess.run([sys.executable, "-m", "toolkit.cli.dgsplit", "-q"], input=qc, stdout=fh, check=True,
                           cwd=ROOT)
    return pd.read_csv(path, sep="\t")


def augmented(train, held, n, seed, length):
    """n augmented sequences (fit-physinformer's kinds and mix), none grouped with ``held``."""
    from toolkit.train import augment as A
    from toolkit.train.presets import PHYSINFORMER_DATA_DEFAULTS as D

    class Sources:
        def __init__(self):
            self.n = len(train)

        def __call__(self, idx):
            return [train[i] for i in idx], [str(i) for i in idx]

    guard = A.LeakGuard(held, near=D["leak_near"], max_mismatch=D["leak_max_mismatch"],
                        kmer_k=D["leak_kmer_k"], kmer_threshold=D["leak_kmer_threshold"])
    out, dropped, attempt = [], 0, 0
    while len(out) < n:
        counts = A.kind_counts(n - len(out), D["augment_mix"], genome=True)
        genome = A.GenomeWindows(GENOME, length) if counts["genome"] else None
        try:
            for seqs, _, _ in A.candidates(counts, Sources(), seed + 1000 * attempt, D["mutate_fraction"], genome,
                                           block=16384):
                leak = guard.leaks(seqs)
                dropped += int(leak.sum())
                out += [s for s, x in zip(seqs, leak) if not x]
        finally:
            if genome is not None:
                genome.close()
        attempt += 1
    return out[:n], dropped


def features(prior, seqs, block=2048):
    import torch

    from toolkit.train.data import encode_left

    out = []
    with torch.no_grad():
        for a in range(0, len(seqs), block):
            codes, _ = encode_left(seqs[a:a + block])
            out.append(prior.features(torch.as_tensor(codes)).double().numpy())
    return np.concatenate(out)


def fit_ridge(X, Y, seed, folds=5):
    from toolkit.models.ridge import FoldSums, ridge_cv

    fold = np.random.default_rng([seed, 7]).permutation(len(X)) % folds
    sums = FoldSums(X.shape[1], Y.shape[1], folds)
    for a in range(0, len(X), 4096):
        sums.add(X[a:a + 4096], Y[a:a + 4096], fold[a:a + 4096])
    return ridge_cv(sums)


def scores(fit, X, Y, fam, mu, sd):
    """Test Pearson r per descriptor (mean, median, per family) and the flattened r of all
    predictions against all targets, both standardised by the train rows' ``mu``, ``sd``
    (descriptors constant on the test rows left out)."""
    pred = (X - fit["mean"]) / fit["sd"] @ fit["coef"] + fit["intercept"]
    var = Y.std(0) > 1e-9 * np.maximum(1, np.abs(Y).max(0))
    r = np.array([np.corrcoef(pred[:, j], Y[:, j])[0, 1] if var[j] else np.nan for j in range(Y.shape[1])])
    zp, zy = (pred[:, var] - mu[var]) / sd[var], (Y[:, var] - mu[var]) / sd[var]
    out = {"mean": np.nanmean(r), "median": np.nanmedian(r), "flat": np.corrcoef(zp.ravel(), zy.ravel())[0, 1]}
    for f in FAMILIES:
        out[f] = np.nanmean(r[fam == f])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3000,10000,30000,100000")
    ap.add_argument("-j", "--threads", type=int, default=2, help="labelling worker processes")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--workdir", default=None, help="keep the split and labels here (reused when present)")
    a = ap.parse_args(argv)
    import tempfile

    import torch

    from toolkit.features.labeller import Labeller
    from toolkit.models.physinformer import PhysicsPrior
    from toolkit.train.physinformer import prior_config

    t_all = time.time()
    work = a.workdir or tempfile.mkdtemp(prefix="pilc-")
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(a.threads)
    df = split_table(work)
    seq = df["sequence"].str.upper().tolist() if "sequence" in df else df["seq"].str.upper().tolist()
    split = df["split"].to_numpy()
    train = [s for s, k in zip(seq, split) if k == "train"]
    held = [s for s, k in zip(seq, split) if k in ("val", "test")]
    test = [s for s, k in zip(seq, split) if k == "test"]
    length = max(map(len, seq))
    sizes = [int(x) for x in a.sizes.split(",")]
    lab = Labeller(("pwm", "bend", "stiff", "thermo", "entropy", "advanced"), "HepG2", jobs=a.threads)
    fam = np.array([n.split("_")[0] for n in lab.names])
    cfg, note = prior_config(lab.names, 5)
    prior = PhysicsPrior.from_config(cfg, 1)
    n_kmer = sum(prior._canon)
    log(f"{len(train):,} train, {len(test):,} test rows; prior: {prior.n_features} features ({note})")
    t0 = time.time()
    Yte = lab.compute(test)
    Xte = features(prior, test)
    log(f"test rows labelled and featurised in {time.time() - t0:.0f} s")
    rng = np.random.default_rng(a.seed)
    extra = max(0, max(sizes) - len(train))
    aug, dropped = [], 0
    if extra:
        t0 = time.time()
        aug, dropped = augmented(train, held, extra, a.seed, length)
        log(f"{len(aug):,} augmented sequences ({dropped:,} candidates dropped as near-copies of val/test) "
            f"in {time.time() - t0:.0f} s")
    pool = train + aug
    t0 = time.time()
    Y_pool = lab.compute(pool)
    log(f"{len(pool):,} sequences labelled in {time.time() - t0:.0f} s ({len(pool) / (time.time() - t0):,.0f}/s)")
    t0 = time.time()
    X_pool = features(prior, pool)
    log(f"prior features in {time.time() - t0:.0f} s")
    order = np.concatenate([rng.permutation(len(train)), len(train) + np.arange(len(aug))])
    keep = np.isfinite(Yte).all(0) & (np.nanstd(Y_pool, 0) > 0)
    rows = []
    for n in sizes:
        idx = order[:n]
        mu, sd = np.nanmean(Y_pool[idx][:, keep], 0), np.nanstd(Y_pool[idx][:, keep], 0)
        sd = np.where(sd > 0, sd, 1.0)
        Y = np.nan_to_num(Y_pool[idx][:, keep] - mu)
        t0 = time.time()
        res = {}
        for what, cols in (("prior", slice(None)), ("k-mer ridge", slice(0, n_kmer))):
            fit = fit_ridge(X_pool[idx][:, cols], Y, a.seed)
            fit["intercept"] = fit["intercept"] + mu
            res[what] = scores(fit, Xte[:, cols], Yte[:, keep], fam[keep], mu, sd)
        log(f"N = {n:,}: fitted in {time.time() - t0:.0f} s; prior mean r {res['prior']['mean']:.3f}, "
            f"k-mer ridge {res['k-mer ridge']['mean']:.3f}")
        rows.append((n, min(n, len(train)), res))
    print(f"## PhysInformer's physics prior: learning curve (lentiMPRA HepG2, {len(test):,} test rows)\n")
    print(f"{machine()}; {revision(ROOT)}; `{' '.join(['python3', 'benchmarks/bench_physinformer_learning_curve.py'] + sys.argv[1:])}`"
          f" ({time.time() - t_all:.0f} s)\n")
    print("| train sequences (original + augmented) | model | mean | median | flattened | "
          + " | ".join(FAMILIES) + " |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(FAMILIES))
    for n, orig, res in rows:
        for what, s in res.items():
            print(f"| {n:,} ({orig:,} + {n - orig:,}) | {what} | {s['mean']:.3f} | {s['median']:.3f} | {s['flat']:.3f} | "
                  + " | ".join(f"{s[f]:.3f}" for f in FAMILIES) + " |")
    if extra:
        print(f"\nAugmented candidates dropped as near-copies of val or test rows: {dropped:,}.")


if __name__ == "__main__":
    main()
