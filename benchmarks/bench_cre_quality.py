#!/usr/bin/env python3
"""Quality of fit-cre's CPU preset on real lentiMPRA tables, against k-mer ridge regression.

For each table: ``seqqc | dgsplit`` (defaults, dgsplit's fixed seed, so unseen elements
are held out whole with their reverse-complement twins), ``fit-cre --preset cpu`` on the
train rows (val only for early stopping), ``predict`` on the test rows, and the k-mer
(k = 1-6, both strands) ridge regression of toolkit.models.kmer_ridge fitted on the same
train rows with its penalty chosen on the same val rows. Reported per task: test Pearson
r of each with a 95% percentile bootstrap interval (1,000 resamples of test rows, numpy),
the bootstrap interval of their difference (the same resamples, so paired), and
fit-cre's validation Pearson at its best epoch (train_log.tsv), to show validation and
test agreeing (no leakage). Output: a markdown table with the machine and revision.

This benchmark reads the project's data outside the repository: ../shared/data/lentimpra/
joint_3cell.csv (3 cell lines, 3,076 rows; the bundled share/examples copy is used when
the shared one is absent) and ../shared/data/lentimpra/HepG2.tsv (one task, ~12,000 rows).

    python3 benchmarks/bench_cre_quality.py -j 2                  # both tables, ~20 min on 2 cores
    python3 benchmarks/bench_cre_quality.py --tables joint -j 2
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from benchlib import machine, revision  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "lentimpra")
TABLES = {
    "joint": [os.path.join(SHARED, "joint_3cell.csv"),
              os.path.join(ROOT, "share", "examples", "lentimpra_joint_3cell.csv.gz")],
    "HepG2": [os.path.join(SHARED, "HepG2.tsv")],
}


def run(cmd, input=None, stdout=None):
    res = subprocess.run([sys.executable, "-m", *cmd], input=input, stdout=stdout or subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, check=False)
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr.decode()[-2000:]}")
    return res


def read_tsv(path):
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def boot_r(pred, truth, idx):
    """Pearson r of each bootstrap resample (rows idx: (B, n))."""
    a, b = pred[idx], truth[idx]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def bench_table(name, path, work, jobs, seed, resamples, fit_args=()):
    os.makedirs(work, exist_ok=True)
    split = os.path.join(work, "split.tsv")
    qc = run(["toolkit.cli.seqqc", path, "-q"])
    with open(split, "wb") as fh:
        run(["toolkit.cli.dgsplit", "-q"], input=qc.stdout, stdout=fh)
    df = read_tsv(split)
    model = os.path.join(work, "model")
    t0 = time.time()
    run(["toolkit.cli.fit_cre", split, "-o", model, "--preset", "cpu", "-j", str(jobs), "--seed", str(seed), "-q", *fit_args])
    fit_s = time.time() - t0
    cfg = json.load(open(os.path.join(model, "config.json")))
    targets = cfg["targets"]
    test = df[df["split"] == "test"]
    test_path = os.path.join(work, "test.tsv")
    test.to_csv(test_path, sep="\t", index=False)
    with open(os.path.join(work, "pred.tsv"), "wb") as fh:
        run(["toolkit.cli.predict", "-m", model, test_path, "-q", "-j", str(jobs)], stdout=fh)
    pred = read_tsv(os.path.join(work, "pred.tsv"))
    log = read_tsv(os.path.join(model, "train_log.tsv"))
    best = log.loc[log["val_mean_pearson"].astype(float).idxmax()]

    from toolkit.models.kmer_ridge import KmerRidge

    seq_col = cfg.get("seq_col") or next(c for c in ("sequence", "seq") if c in df.columns)
    tr, va = df[df["split"] == "train"], df[df["split"] == "val"]

    def y(part):
        return np.column_stack([part[t].replace("", "nan").astype(float) for t in targets])

    ridge = KmerRidge().fit(list(tr[seq_col]), y(tr), list(va[seq_col]), y(va))
    ridge_pred = ridge.predict(list(test[seq_col]))
    truth = y(test)
    rng = np.random.default_rng(seed)
    rows = []
    for j, t in enumerate(targets):
        ok = np.isfinite(truth[:, j])
        cnn, rid, obs = pred["pred_" + t].astype(float).to_numpy()[ok], ridge_pred[ok, j], truth[ok, j]
        idx = rng.integers(0, ok.sum(), size=(resamples, ok.sum()))
        bc, br = boot_r(cnn, obs, idx), boot_r(rid, obs, idx)
        rc, rr = np.corrcoef(cnn, obs)[0, 1], np.corrcoef(rid, obs)[0, 1]
        rows.append({"table": name, "task": t, "n_test": int(ok.sum()), "cnn_test": rc,
                     "cnn_ci": np.percentile(bc, [2.5, 97.5]), "ridge_test": rr,
                     "ridge_ci": np.percentile(br, [2.5, 97.5]),
                     "diff_ci": np.percentile(bc - br, [2.5, 97.5]), "cnn_val": float(best["val_pearson_" + t]),
                     "ridge_val": float(ridge.val_r[j])})
    info = {"rows": {k: int((df["split"] == k).sum()) for k in ("train", "val", "test")}, "fit_s": fit_s,
            "epochs": len(log), "best_epoch": int(best["epoch"])}
    return rows, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", default="joint,HepG2", help="comma-separated: joint, HepG2")
    ap.add_argument("-j", "--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="fit-cre seed and bootstrap seed")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--workdir", default=None, help="keep split, model and predictions here (default: a temp dir)")
    ap.add_argument("--fit-args", default="", help="extra fit-cre flags, e.g. '--ensemble 1' (quote them)")
    ap.add_argument("--label", default=None, help="revision label when not a git checkout")
    a = ap.parse_args(argv)
    work = a.workdir or tempfile.mkdtemp(prefix="bench_cre_quality.")
    rows, infos = [], {}
    for name in a.tables.split(","):
        path = next((p for p in TABLES[name] if os.path.exists(p)), None)
        if path is None:
            sys.exit(f"{name}: none of {TABLES[name]} exists")
        r, infos[name] = bench_table(name, path, os.path.join(work, name), a.threads, a.seed, a.resamples,
                                     a.fit_args.split())
        rows += r
        print(f"{name}: done in {infos[name]['fit_s']:.0f} s fit", file=sys.stderr)
    m = machine(("numpy", "torch"))
    print(f"fit-cre --preset cpu {a.fit_args} against k-mer ridge on unseen elements (seqqc | dgsplit test rows)\n\n"
          f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, Python {m['python']}, "
          f"numpy {m['numpy']}, torch {m['torch']}; threads {a.threads}\nrevision: {revision(ROOT, a.label)}\n")
    for name, i in infos.items():
        print(f"- {name}: {i['rows']['train']:,} train / {i['rows']['val']:,} val / {i['rows']['test']:,} test rows; "
              f"fit {i['fit_s'] / 60:.1f} min, {i['epochs']} epochs, best epoch {i['best_epoch']}")
    print("\n| table | task | n test | fit-cre test r [95% CI] | ridge test r [95% CI] | fit-cre - ridge [95% CI] "
          "| fit-cre val r | val - test | ridge val r |\n|---|---|---:|---|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['table']} | {r['task']} | {r['n_test']} | {r['cnn_test']:.3f} [{r['cnn_ci'][0]:.3f}, "
              f"{r['cnn_ci'][1]:.3f}] | {r['ridge_test']:.3f} [{r['ridge_ci'][0]:.3f}, {r['ridge_ci'][1]:.3f}] | "
              f"{r['cnn_test'] - r['ridge_test']:+.3f} [{r['diff_ci'][0]:+.3f}, {r['diff_ci'][1]:+.3f}] | "
              f"{r['cnn_val']:.3f} | {r['cnn_val'] - r['cnn_test']:+.3f} | {r['ridge_val']:.3f} |")
    for name in infos:
        part = [r for r in rows if r["table"] == name]
        if len(part) > 1:
            mv, mt = np.mean([r["cnn_val"] for r in part]), np.mean([r["cnn_test"] for r in part])
            print(f"\n{name}: mean over tasks (what early stopping watches): fit-cre val r {mv:.3f}, test r {mt:.3f} "
                  f"(val - test {mv - mt:+.3f}); ridge test r {np.mean([r['ridge_test'] for r in part]):.3f}")
    beat = all(r["cnn_test"] > r["ridge_test"] for r in rows)
    agree = all(abs(r["cnn_val"] - r["cnn_test"]) <= 0.05 for r in rows)
    print(f"\ntarget: fit-cre beats ridge on every task: {'yes' if beat else 'no'}; "
          f"|val - test| <= 0.05 on every task: {'yes' if agree else 'no'}")


if __name__ == "__main__":
    main()
