#!/usr/bin/env python3
"""Quality of fit-physinformer's CPU preset on real MPRA and STARR-seq sequences.

For each data set the user's pipeline runs as commands, from the repository root:
``seqqc | dgsplit`` (defaults: dgsplit's fixed seed, an element and its reverse
orientation in one group), ``descfeat --cell-type <CELL> -j J -o d.h5`` (every family),
``fit-physinformer d.h5 --preset cpu --activities <COLS>`` (train rows; val picks the
best epoch; test rows never read) and ``predict -m model test.tsv`` on the test rows.
Reported, overall and per descriptor family:

- mean and median per-descriptor validation Pearson r at the best epoch (the model
  directory's val_descriptors.tsv) and test Pearson r (computed here on the test rows,
  with 95% intervals from bootstrap resamples of dgsplit groups);
- the auxiliary heads on the measured activities of the test rows, from the rows'
  sequences and real (descfeat) descriptors (PhysInformerPredictor.predict_activities,
  the heads saved with the best epoch): head A (own sequence encoder + descriptors) and
  head B (descriptors only), and head B fed PhysInformer's *predicted* descriptors (a
  sequence-only model), next to the k-mer (k = 1-6, both strands) ridge regression of
  toolkit.models.kmer_ridge fitted on the same train rows with its penalty chosen on
  the same val rows; test Pearson r with 95% intervals and the paired interval of each
  head minus ridge (the same group resamples);
- with ``--tileformer``, a second model ``fit-physinformer --arch tileformer`` on the 18
  psi_* (electrostatic potential) descriptors of the same file, per descriptor.

Data sets (this benchmark reads the project's data outside the repository,
../shared/data, which exists only next to a development checkout):

- ``HepG2``: ../shared/data/lentimpra/HepG2.tsv (lentiMPRA, Agarwal et al. 2025; 12,292
  rows, 230 nt, ``mean_value``), HepG2 JASPAR motif list. A full run of the CPU preset
  takes about 25 min on 2 cores, so by default a seeded random subset of whole dgsplit
  groups of at least ``--max-rows`` (4,000) rows is used (the split is made on all rows
  first, so each row keeps its split); ``--max-rows 0`` uses every row.
- ``WTC11``: ../shared/data/lentimpra/WTC11.tsv (4,617 rows), HepG2 motif list (the
  human list the toolkit defaults to; WTC11's own is an option of descfeat).
- ``DeepSTARR``: ../shared/data/deepstarr/train.tsv + val.tsv concatenated (2,000
  Drosophila S2 rows, 249 bp, ``Dev_log2_enrichment``, ``Hk_log2_enrichment``; de Almeida
  et al. 2022). Their train/val files are not a real split (all chrX), so dgsplit splits
  the 2,000 rows like the others; descfeat uses the S2 motif list.

    python3 benchmarks/bench_physinformer_quality.py -j 1 --tileformer     # ~1 h on 2 busy cores
    python3 benchmarks/bench_physinformer_quality.py --data WTC11 -j 1 --workdir piq-work

Output: markdown tables on standard output, with the machine, the command and the
code measured; progress and the time of each step on standard error.
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

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from benchlib import machine  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
DATASETS = {
    "HepG2": {"files": [os.path.join(SHARED, "lentimpra", "HepG2.tsv")], "cell": "HepG2",
              "activities": ["mean_value"], "subsample": True},
    "WTC11": {"files": [os.path.join(SHARED, "lentimpra", "WTC11.tsv")], "cell": "HepG2",
              "activities": ["mean_value"], "subsample": False},
    "DeepSTARR": {"files": [os.path.join(SHARED, "deepstarr", f) for f in ("train.tsv", "val.tsv")],
                  "cell": "S2", "activities": ["Dev_log2_enrichment", "Hk_log2_enrichment"], "subsample": False},
}
FAMILY_ORDER = ("pwm", "bend", "stiff", "thermo", "entropy", "advanced", "global", "psi")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, input=None, stdout=None):
    res = subprocess.run([sys.executable, "-m", *[str(c) for c in cmd]], input=input,
                         stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, check=False)
    if res.returncode:
        sys.exit(f"{' '.join(str(c) for c in cmd)} failed:\n{res.stderr.decode()[-3000:]}")
    return res


def read_tsv(path, **kw):
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, **kw)


def concat_tables(files, out):
    """The files' rows under the first file's header (same columns), written to ``out``."""
    with open(out, "w") as fh:
        for i, f in enumerate(files):
            with open(f) as src:
                header = src.readline()
                if i == 0:
                    fh.write(header)
                for line in src:
                    if line.strip():
                        fh.write(line if line.endswith("\n") else line + "\n")


def subsample_groups(df, max_rows, seed):
    """Whole dgsplit groups in a seeded random order until at least ``max_rows`` rows."""
    rng = np.random.default_rng(seed)
    groups = df["group_id"].to_numpy()
    uniq = np.unique(groups)
    sizes = dict(zip(*np.unique(groups, return_counts=True)))
    chosen, total = set(), 0
    for g in rng.permutation(uniq):
        if total >= max_rows:
            break
        chosen.add(g)
        total += sizes[g]
    return df[np.isin(groups, list(chosen))]


def pearson_boot(pred, truth, W):
    """Pearson r of the data (W = None) or of each resample (weights W (B, n))."""
    from toolkit.evaluate.metrics import Regression

    reg = Regression(truth, pred, only=("pearson",))
    return reg.compute(np.ones((1, len(truth))) if W is None else W)["pearson"]


def ci(v):
    v = v[np.isfinite(v)]
    return np.percentile(v, [2.5, 97.5]) if len(v) else (np.nan, np.nan)


def fmt_ci(x, lo_hi, signed=False):
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(x)} [{f.format(lo_hi[0])}, {f.format(lo_hi[1])}]"


def descriptor_table(names, val_r, truth, pred, groups, resamples, seed):
    """Per family and overall: counts, mean/median val r, mean/median test r with intervals."""
    from toolkit.evaluate.descriptors import evaluate_descriptors, family_prefix

    ev = evaluate_descriptors(truth, pred, names, n_boot=resamples, seed=seed, groups=groups,
                              metrics=("pearson",), family=family_prefix)
    test_r = np.array([t["pearson"] for t in ev.table])
    rec = {(r.task, r.subset): r for r in ev.records if r.section == "descriptors"}
    fams = [family_prefix(n) for n in names]
    rows = []
    order = ["all"] + [f for f in FAMILY_ORDER if f in fams] + [f for f in dict.fromkeys(fams) if f not in FAMILY_ORDER]
    for f in order:
        sel = np.ones(len(names), bool) if f == "all" else np.array([x == f for x in fams])
        key = f if (f, "mean") in rec else "all"         # one family only: 'all' holds it
        v = val_r[sel]
        rows.append({"family": f, "n": int(sel.sum()), "val_mean": float(np.nanmean(v)),
                     "val_median": float(np.nanmedian(v)), "test_mean": rec[(key, "mean")],
                     "test_median": rec[(key, "median")], "test_defined": int(np.isfinite(test_r[sel]).sum())})
    return rows, test_r, ev


def reused(a, path):
    """With --reuse, a step whose output exists (from an earlier run in the same --workdir)
    is not run again; its time is then missing from the report, which says so."""
    if a.reuse and os.path.exists(path):
        log(f"reusing {path}")
        a.reused.append(os.path.relpath(path, a.work))
        return True
    return False


def bench_dataset(name, spec, work, a):
    os.makedirs(work, exist_ok=True)
    times = {}
    t0 = time.time()
    src = spec["files"][0]
    if len(spec["files"]) > 1:
        src = os.path.join(work, "input.tsv")
        concat_tables(spec["files"], src)
    split_path = os.path.join(work, "split.tsv")
    full_split = os.path.join(work, "split_all.tsv")
    if not reused(a, full_split):
        qc = run(["toolkit.cli.seqqc", src, "-q"])
        with open(full_split, "wb") as fh:
            run(["toolkit.cli.dgsplit", "-q"], input=qc.stdout, stdout=fh)
    df = read_tsv(full_split)
    n_all = len(df)
    note = ""
    df.to_csv(split_path, sep="\t", index=False)
    if spec["subsample"] and a.max_rows and len(df) > a.max_rows:
        df = subsample_groups(df, a.max_rows, a.seed)
        df.to_csv(split_path, sep="\t", index=False)
        note = (f"seeded random subset of whole dgsplit groups: {len(df):,} of {n_all:,} rows "
                f"(split made on all rows)")
    times["seqqc | dgsplit"] = time.time() - t0

    t0 = time.time()
    h5 = os.path.join(work, "d.h5")
    if not reused(a, h5):
        run(["toolkit.cli.descfeat", split_path, "--cell-type", spec["cell"], "-j", a.threads, "-q", "-o", h5])
    times["descfeat"] = time.time() - t0

    acts = spec["activities"]
    model = os.path.join(work, "pi")
    t0 = time.time()
    if not reused(a, os.path.join(model, "val_descriptors.tsv")):
        run(["toolkit.cli.fit_physinformer", h5, "-o", model, "--preset", "cpu", "--activities", ",".join(acts),
             "-j", a.threads, "--seed", a.seed, "-q", *a.fit_args.split()])
    times["fit-physinformer"] = time.time() - t0

    from toolkit.io.h5 import read_h5

    h = read_h5(h5)
    split = np.array(h["columns"]["split"])
    cfg = json.load(open(os.path.join(model, "config.json")))
    names = list(cfg["descriptors"])
    col = {n: i for i, n in enumerate(h["names"])}
    rows = {k: np.flatnonzero(split == k) for k in ("train", "val", "test")}
    seqs = {k: [h["sequences"][i].strip().upper() for i in r] for k, r in rows.items()}

    def act(k):
        return np.column_stack([np.array([float(h["columns"][c][i]) if h["columns"][c][i] not in ("", "NA") else np.nan
                                          for i in rows[k]]) for c in acts])

    te = rows["test"]
    truth = h["values"][te][:, [col[n] for n in names]].astype(np.float64)
    groups = np.array([h["columns"]["group_id"][i] for i in te], dtype=object)

    # predict the test rows with the command, as a user does; truth columns pass through
    import pandas as pd

    test_tsv = os.path.join(work, "test.tsv")
    pd.DataFrame({"id": [h["ids"][i] for i in te], "sequence": seqs["test"]}).to_csv(test_tsv, sep="\t", index=False)
    t0 = time.time()
    pred_tsv = os.path.join(work, "pred.tsv")
    if not reused(a, pred_tsv):
        with open(pred_tsv, "wb") as fh:
            run(["toolkit.cli.predict", "-m", model, test_tsv, "-q", "-j", a.threads], stdout=fh)
    times["predict (test rows)"] = time.time() - t0
    pred_df = pd.read_csv(pred_tsv, sep="\t")
    pred = pred_df[[f"pred_{n}" for n in names]].to_numpy(dtype=np.float64)

    vd = read_tsv(os.path.join(model, "val_descriptors.tsv")).set_index("descriptor")
    val_r = vd.loc[names, "pearson"].replace("NaN", "nan").astype(float).to_numpy()
    fam_rows, test_r, _ = descriptor_table(names, val_r, truth, pred, groups, a.resamples, a.seed)
    t0 = time.time()
    versus = ridge_comparison(names, cfg, h, col, rows, seqs, truth, pred, groups, model, a)
    times["k-mer ridge on the descriptors (fit + predict + bootstrap)"] = time.time() - t0
    worst = [(names[j], test_r[j]) for j in np.argsort(np.nan_to_num(test_r, nan=np.inf))[:5]]
    best = [(names[j], test_r[j]) for j in np.argsort(-np.nan_to_num(test_r, nan=-np.inf))[:5]]

    # activities: heads A and B (real descriptors), head B on predicted descriptors, k-mer ridge
    from toolkit.evaluate import bootstrap as bs
    from toolkit.evaluate.report import group_codes
    from toolkit.models.kmer_ridge import KmerRidge
    from toolkit.train.serve import load

    import torch

    torch.set_num_threads(int(a.threads))
    p = load(model, torch.device("cpu"))
    pa, pb = p.predict_activities(seqs["test"], truth)
    _, pb_pred = p.predict_activities(seqs["test"], pred)
    t0 = time.time()
    ridge = KmerRidge().fit(seqs["train"], act("train"), seqs["val"], act("val"))
    pr = ridge.predict(seqs["test"])
    times["k-mer ridge (fit + predict)"] = time.time() - t0
    y = act("test")
    tlog = read_tsv(os.path.join(model, "train_log.tsv"))
    best_row = tlog.loc[tlog["val_nll_median"].astype(float).idxmin()]
    act_rows = []
    for j, c in enumerate(acts):
        ok = np.isfinite(y[:, j])
        W = np.concatenate(list(bs.resample_weights(int(ok.sum()), a.resamples, a.seed, groups=group_codes(
            groups[ok])[0])))
        res = {}
        for key, v in (("A", pa[ok, j]), ("B", pb[ok, j]), ("B on predicted descriptors", pb_pred[ok, j]),
                       ("ridge", pr[ok, j])):
            res[key] = (float(pearson_boot(v, y[ok, j], None)[0]), pearson_boot(v, y[ok, j], W))
        act_rows.append({"activity": c, "n": int(ok.sum()), "res": res,
                         "val_a": float(best_row[f"val_aux_a_pearson_{c}"]),
                         "val_b": float(best_row[f"val_aux_b_pearson_{c}"]), "val_ridge": float(ridge.val_r[j])})

    tile = None
    if a.tileformer:
        tf_dir = os.path.join(work, "tf")
        t0 = time.time()
        if not reused(a, os.path.join(tf_dir, "val_descriptors.tsv")):
            run(["toolkit.cli.fit_physinformer", h5, "-o", tf_dir, "--arch", "tileformer", "--preset", "cpu",
                 "-j", a.threads, "--seed", a.seed, "-q", *a.fit_args.split()])
        times["fit-physinformer --arch tileformer"] = time.time() - t0
        tcfg = json.load(open(os.path.join(tf_dir, "config.json")))
        tnames = list(tcfg["descriptors"])
        t0 = time.time()
        if not reused(a, os.path.join(work, "pred_tf.tsv")):
            with open(os.path.join(work, "pred_tf.tsv"), "wb") as fh:
                run(["toolkit.cli.predict", "-m", tf_dir, test_tsv, "-q", "-j", a.threads], stdout=fh)
        times["predict --arch tileformer model (test rows)"] = time.time() - t0
        tp = pd.read_csv(os.path.join(work, "pred_tf.tsv"), sep="\t")[[f"pred_{n}" for n in tnames]].to_numpy(float)
        ttruth = h["values"][te][:, [col[n] for n in tnames]].astype(np.float64)
        tvd = read_tsv(os.path.join(tf_dir, "val_descriptors.tsv")).set_index("descriptor")
        tval = tvd.loc[tnames, "pearson"].replace("NaN", "nan").astype(float).to_numpy()
        tfam, ttest, tev = descriptor_table(tnames, tval, ttruth, tp, groups, a.resamples, a.seed)
        tlog2 = read_tsv(os.path.join(tf_dir, "train_log.tsv"))
        tile = {"names": tnames, "val": tval, "test": ttest, "summary": tfam[0], "epochs": len(tlog2),
                "best_epoch": int(tlog2.loc[tlog2["val_nll_median"].astype(float).idxmin(), "epoch"]),
                "dropped": tcfg["dropped"]["zero_variance"]}

    info = {"rows": {k: len(r) for k, r in rows.items()}, "n_input": n_all, "note": note, "times": times,
            "epochs": len(tlog), "best_epoch": int(best_row["epoch"]), "descriptors": len(names),
            "dropped": cfg["dropped"], "cell": spec["cell"], "activities": acts,
            "epoch_s": float(np.median(tlog["seconds"].astype(float)))}
    return {"name": name, "fam": fam_rows, "best": best, "worst": worst, "acts": act_rows, "tile": tile, "info": info,
            "versus": versus}


def _codes(seqs, L):
    """uint8 codes (n, L) as the model sees sequences: N-padded on the right or centre-cropped."""
    import torch

    out = np.full((len(seqs), L), 4, dtype=np.uint8)
    lut = np.full(256, 4, dtype=np.uint8)
    for i, b in enumerate(b"ACGT"):
        lut[b] = i
    for i, s in enumerate(seqs):
        s = s.upper()
        if len(s) > L:
            s = s[(len(s) - L) // 2:][:L]
        out[i, :len(s)] = lut[np.frombuffer(s.encode(), dtype=np.uint8)]
    return torch.as_tensor(out)


def ridge_comparison(names, cfg, h, col, rows, seqs, truth, pred, groups, model, a):
    """The k-mer (k = 1-5, both strands) ridge regression of every descriptor, fitted on the train
    rows with each descriptor's penalty chosen on val (the baseline fit-physinformer writes to
    baseline.json), against PhysInformer on the same test rows: per family the mean and median of
    per-descriptor Pearson r and the flattened r (all train-standardised predictions against all
    train-standardised values), with group-bootstrap intervals and the paired difference of the
    means; the thermo totals and means; the ΔG identity on the predictions."""
    import torch

    from toolkit.evaluate import bootstrap as bs
    from toolkit.evaluate.descriptors import family_prefix
    from toolkit.evaluate.report import group_codes
    from toolkit.models.physinformer import PhysicsPrior
    from toolkit.models.ridge import FoldSums, ridge_holdout

    norm = json.load(open(os.path.join(model, "normalization.json")))["descriptors"]
    mean = np.array([dict(zip(norm["names"], norm["mean"]))[n] for n in names])
    sd = np.array([dict(zip(norm["names"], norm["sd"]))[n] for n in names])
    feats = PhysicsPrior(len(names), 5)
    L = int(cfg["length"])
    sums = FoldSums(feats.n_features, len(names), 2)
    for f, k in enumerate(("train", "val")):
        y = (h["values"][rows[k]][:, [col[n] for n in names]].astype(np.float64) - mean) / sd
        with torch.no_grad():
            phi = feats.features(_codes(seqs[k], L)).double().numpy()
        sums.add(phi, np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0), np.full(len(y), f))
    res = ridge_holdout(sums, 1)
    with torch.no_grad():
        phi = feats.features(_codes(seqs["test"], L)).double().numpy()
    ridge = ((phi - res["mean"]) / res["sd"] @ res["coef"] + res["intercept"]) * sd + mean

    n = len(truth)
    W = np.concatenate(list(bs.resample_weights(n, a.resamples, a.seed, groups=group_codes(groups)[0])))
    W1 = np.vstack([np.ones((1, n)), W])                             # row 0: the data itself
    d = len(names)
    r_m, r_r = np.full((len(W1), d), np.nan), np.full((len(W1), d), np.nan)
    for j in range(d):
        ok = np.isfinite(truth[:, j]) & np.isfinite(pred[:, j]) & np.isfinite(ridge[:, j])
        if ok.sum() < 3 or np.nanstd(truth[ok, j]) == 0:
            continue
        r_m[:, j] = _wpearson(pred[ok, j], truth[ok, j], W1[:, ok])
        r_r[:, j] = _wpearson(ridge[ok, j], truth[ok, j], W1[:, ok])
    zt = (truth - mean) / sd

    def flat(p):
        z = (p - mean) / sd
        return lambda sel: _wflat(z[:, sel], zt[:, sel], W1)

    fams = np.array([family_prefix(x) for x in names])
    out = []
    for fam in ["all"] + list(dict.fromkeys(fams)):
        sel = np.ones(d, bool) if fam == "all" else fams == fam
        with np.errstate(all="ignore"):
            mm, mr = np.nanmean(r_m[:, sel], axis=1), np.nanmean(r_r[:, sel], axis=1)
            medm, medr = np.nanmedian(r_m[:, sel], axis=1), np.nanmedian(r_r[:, sel], axis=1)
        fm, fr = flat(pred)(sel), flat(ridge)(sel)
        out.append({"family": fam, "n": int(sel.sum()),
                    "model_mean": (mm[0], ci(mm[1:])), "model_median": (medm[0], ci(medm[1:])),
                    "model_flat": (fm[0], ci(fm[1:])), "ridge_mean": (mr[0], ci(mr[1:])),
                    "ridge_median": (medr[0], ci(medr[1:])), "ridge_flat": (fr[0], ci(fr[1:])),
                    "diff_mean": (mm[0] - mr[0], ci(mm[1:] - mr[1:]))})
    linear = [j for j, x in enumerate(names) if x.startswith(("thermo_total_", "thermo_mean_"))]
    ident = []
    for stat in ("total", "mean"):
        trio = [f"thermo_{stat}_{q}" for q in ("dH", "dS", "dG")]
        if all(t in names for t in trio):
            iH, iS, iG = (names.index(t) for t in trio)
            ident.append(float(np.nanmax(np.abs(pred[:, iG] - (pred[:, iH] - 310.15 * pred[:, iS] / 1000.0)))))
    return {"families": out, "linear": [(names[j], float(r_m[0, j]), float(r_r[0, j])) for j in linear],
            "identity_max_residual": max(ident) if ident else float("nan"),
            "ridge_alpha_median": float(np.median(res["alpha"]))}


def _wpearson(p, t, W):
    """Weighted Pearson r of p and t (n,) for each weight row of W (B, n)."""
    s = W.sum(1)
    mp, mt = W @ p / s, W @ t / s
    cov = W @ (p * t) / s - mp * mt
    vp, vt = W @ (p * p) / s - mp * mp, W @ (t * t) / s - mt * mt
    with np.errstate(all="ignore"):
        return cov / np.sqrt(np.clip(vp, 0, None) * np.clip(vt, 0, None))


def _wflat(z, y, W):
    """Flattened Pearson r of z and y (n, k) over their finite entries, per weight row of W (B, n)."""
    ok = np.isfinite(z) & np.isfinite(y)
    z0, y0 = np.where(ok, z, 0.0), np.where(ok, y, 0.0)
    c = W @ ok.sum(1)
    sz, sy = W @ z0.sum(1), W @ y0.sum(1)
    szz, syy, szy = W @ (z0 * z0).sum(1), W @ (y0 * y0).sum(1), W @ (z0 * y0).sum(1)
    cov = szy / c - sz * sy / c ** 2
    with np.errstate(all="ignore"):
        return cov / np.sqrt((szz / c - (sz / c) ** 2) * (syy / c - (sy / c) ** 2))


def sources_hash():
    h = hashlib.sha256()
    for folder in ("toolkit",):
        for dirpath, _, files in sorted(os.walk(os.path.join(ROOT, folder))):
            for f in sorted(files):
                if f.endswith(".py"):
                    with open(os.path.join(dirpath, f), "rb") as fh:
                        h.update(fh.read())
    return h.hexdigest()[:12]


def report(results, a, seconds, argv):
    m = machine(("numpy", "pandas", "scipy", "torch"))
    cmd = " ".join(["python3 benchmarks/bench_physinformer_quality.py", *argv])
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, Python {m['python']}, "
          f"numpy {m['numpy']}, pandas {m['pandas']}, scipy {m['scipy']}, torch {m['torch']}; threads {a.threads}")
    print(f"command: {cmd.strip()} ({seconds / 60:.1f} min); code: sha256 of the toolkit/ sources {sources_hash()}"
          + (f" ({a.label})" if a.label else ""))
    if a.reused:
        print("outputs reused from an earlier run in the same folder (their step times are not shown): "
              + ", ".join(a.reused))
    print(f"test intervals: 95% percentile, {a.resamples} bootstrap resamples of dgsplit groups, seed {a.seed}\n")
    for r in results:
        i = r["info"]
        n = i["rows"]
        print(f"- {r['name']}: {n['train']:,} train / {n['val']:,} val / {n['test']:,} test rows"
              + (f" ({i['note']})" if i["note"] else "") + f"; descfeat --cell-type {i['cell']}; {i['descriptors']} "
              f"descriptors learnt ({len(i['dropped']['zero_variance'])} constant on train dropped, "
              f"{len(i['dropped'].get('duplicate', {}))} duplicating an earlier one, "
              f"{len(i['dropped']['categorical'])} categorical); {i['epochs']} epochs "
              f"(median {i['epoch_s']:.0f} s each), best epoch {i['best_epoch']}; times: "
              + ", ".join(f"{k} {v:.0f} s" for k, v in i["times"].items()))

    print("\n**Descriptors: per-descriptor Pearson r, validation (best epoch) and test**\n")
    print("| data | family | descriptors | val mean | val median | test mean [95% CI] | test median [95% CI] |")
    print("|---|---|---:|---:|---:|---|---|")
    for r in results:
        for f in r["fam"]:
            tm, tmed = f["test_mean"], f["test_median"]
            print(f"| {r['name']} | {f['family']} | {f['n']} | {f['val_mean']:.3f} | {f['val_median']:.3f} | "
                  f"{fmt_ci(tm.value, (tm.ci_low, tm.ci_high))} | {fmt_ci(tmed.value, (tmed.ci_low, tmed.ci_high))} |")
    print()
    for r in results:
        print(f"- {r['name']} test, best: " + ", ".join(f"{n} {v:.3f}" for n, v in r["best"])
              + "; worst: " + ", ".join(f"{n} {v:.3f}" for n, v in r["worst"]))
    print("\n**Descriptors on the test rows: PhysInformer against the k-mer (k = 1-5) ridge on the same rows**\n")
    print("Per family: mean and median of per-descriptor Pearson r, and the flattened r (all train-standardised "
          "predictions against all train-standardised values, the design's summary figure); 95% group-bootstrap "
          "intervals; the difference of the means is paired (the same resamples).\n")
    print("| data | family | descriptors | PhysInformer mean [95% CI] | median | flattened [95% CI] "
          "| ridge mean [95% CI] | ridge median | ridge flattened [95% CI] | PhysInformer − ridge, mean [95% CI] |")
    print("|---|---|---:|---|---:|---|---|---:|---|---|")
    for r in results:
        for f in r["versus"]["families"]:
            print(f"| {r['name']} | {f['family']} | {f['n']} | {fmt_ci(f['model_mean'][0], f['model_mean'][1])} | "
                  f"{f['model_median'][0]:.3f} | {fmt_ci(f['model_flat'][0], f['model_flat'][1])} | "
                  f"{fmt_ci(f['ridge_mean'][0], f['ridge_mean'][1])} | {f['ridge_median'][0]:.3f} | "
                  f"{fmt_ci(f['ridge_flat'][0], f['ridge_flat'][1])} | "
                  f"{fmt_ci(f['diff_mean'][0], f['diff_mean'][1], signed=True)} |")
    print()
    for r in results:
        v = r["versus"]
        lin = ", ".join(f"{n} {m:.4f} (ridge {x:.4f})" for n, m, x in v["linear"])
        print(f"- {r['name']}: thermo totals and means, test r: {lin or 'none learnt'}; ΔG = ΔH − 310.15·ΔS/1000 "
              f"on the predictions: largest residual {v['identity_max_residual']:.2e} kcal/mol")
    reached = {r["name"]: r["fam"][0]["test_mean"].value for r in results}
    print("\ndesign claim, mean per-descriptor test Pearson > 0.91: "
          + "; ".join(f"{k} {v:.3f} ({'reached' if v > 0.91 else 'not reached'})" for k, v in reached.items()))

    print("\n**Measured activity: test Pearson r of the auxiliary heads and the k-mer ridge baseline**\n")
    print("| data | activity | n test | head A [95% CI] | head B [95% CI] | head B on predicted descriptors [95% CI] "
          "| k-mer ridge [95% CI] | A - ridge [95% CI] | B - ridge [95% CI] | val r A / B / ridge |")
    print("|---|---|---:|---|---|---|---|---|---|---|")
    for r in results:
        for x in r["acts"]:
            res = x["res"]
            rid = res["ridge"]

            def d(k):
                return fmt_ci(res[k][0] - rid[0], ci(res[k][1] - rid[1]), signed=True)

            print(f"| {r['name']} | {x['activity']} | {x['n']} | {fmt_ci(res['A'][0], ci(res['A'][1]))} | "
                  f"{fmt_ci(res['B'][0], ci(res['B'][1]))} | "
                  f"{fmt_ci(res['B on predicted descriptors'][0], ci(res['B on predicted descriptors'][1]))} | "
                  f"{fmt_ci(rid[0], ci(rid[1]))} | {d('A')} | {d('B')} | "
                  f"{x['val_a']:.3f} / {x['val_b']:.3f} / {x['val_ridge']:.3f} |")

    tiles = [r for r in results if r["tile"]]
    if tiles:
        print("\n**TileFormer (`--arch tileformer`) on the psi_* descriptors: Pearson r per descriptor**\n")
        names = list(dict.fromkeys(n for r in tiles for n in r["tile"]["names"]))
        print("| descriptor | " + " | ".join(f"{r['name']} val | {r['name']} test" for r in tiles) + " |")
        print("|---|" + "---:|---:|" * len(tiles))
        for n in names:
            cells = []
            for r in tiles:
                t = r["tile"]
                if n in t["names"]:
                    j = t["names"].index(n)
                    cells += [f"{t['val'][j]:.3f}", f"{t['test'][j]:.3f}"]
                else:
                    cells += ["(constant)", ""]
            print(f"| {n} | " + " | ".join(cells) + " |")
        cells = []
        for r in tiles:
            s = r["tile"]["summary"]
            cells += [f"{s['val_mean']:.3f} / {s['val_median']:.3f}",
                      f"{s['test_mean'].value:.3f} / {s['test_median'].value:.3f}"]
        print("| mean / median | " + " | ".join(cells) + " |")
        print("\n" + "; ".join(f"{r['name']}: {r['tile']['epochs']} epochs, best epoch {r['tile']['best_epoch']}"
                               for r in tiles))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="HepG2,WTC11,DeepSTARR", help="comma-separated: HepG2, WTC11, DeepSTARR")
    ap.add_argument("-j", "--threads", type=int, default=1,
                    help="-j of descfeat, fit-physinformer and predict (default 1)")
    ap.add_argument("--seed", type=int, default=2025, help="fit-physinformer seed, subsample and bootstrap seed")
    ap.add_argument("--max-rows", type=int, default=4000,
                    help="HepG2: rows of the group subset (0: every row); default 4000")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--tileformer", action="store_true", help="also fit --arch tileformer on the psi_* descriptors")
    ap.add_argument("--workdir", default=None, help="keep every file here (default: a temporary folder)")
    ap.add_argument("--fit-args", default="", help="extra fit-physinformer flags, e.g. '--epochs 2' (quote them)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --workdir: keep the outputs of steps an earlier (killed) run finished")
    ap.add_argument("--label", default=None, help="a label for the code measured, printed with its hash")
    a = ap.parse_args(argv)
    work = a.workdir or tempfile.mkdtemp(prefix="bench_physinformer_quality.")
    a.work, a.reused = work, []
    t_all = time.time()
    results = []
    for name in a.data.split(","):
        spec = DATASETS[name]
        missing = [f for f in spec["files"] if not os.path.exists(f)]
        if missing:
            sys.exit(f"{name}: missing {', '.join(missing)} (this benchmark needs ../shared/data)")
        t0 = time.time()
        results.append(bench_dataset(name, spec, os.path.join(work, name), a))
        log(f"{name}: done in {(time.time() - t0) / 60:.1f} min ({work}/{name})")
    report(results, a, time.time() - t_all, argv)


if __name__ == "__main__":
    main()
