#!/usr/bin/env python3
"""Training throughput of fit-physinformer's loop against a bare PyTorch loop.

Both train the same network in one process, one after the other (interleaved pairs in
ABBA order: bare, toolkit, toolkit, bare, ...; ratios are taken within each pair, so the
load of other jobs cancels out as far as it can): the model fit-physinformer builds
(toolkit.models.physinformer.build of a configuration resolved by
toolkit.train.physinformer_data.resolve_config, physics prior included), the same batch
size, threads and device, on real sequences (the bundled lentiMPRA HepG2 rows, resampled
to --rows with 0-3 point substitutions per copy) and their descfeat descriptors (every
family but psi, HepG2 motifs, computed here with toolkit.features.compute.DescriptorSet),
chosen and standardised as fit-physinformer does (category codes, descriptors with fewer
than 3 values, constant ones and duplicates of an earlier one dropped; train mean and SD;
the ΔG triples whose identity holds on the train rows); 10% of the rows are the val split.

- toolkit: toolkit.train.physinformer.train for --epochs epochs into a temporary directory
  (validation, train_log.tsv, model.pt, the best-k and last checkpoints included), with
  ``train.baseline`` false. The two one-offs are timed apart and left out of its
  sequences/s: the fit of the physics prior's ridge (trainer.fit_prior, timed once before
  the pairs; every train() here then gets that fit's ridge through a wrapper instead of
  fitting again: fit_prior is deterministic, and model.pt is checked to be the same in
  every run) and the end-of-training k-mer ridge baseline (trainer.kmer_baseline, run once
  after the pairs, as train runs it). Its epoch is split, by wrappers put
  around the trainer's functions here, into the optimisation steps
  (PhysInformerFamily.steps: batches, forward, NLL, backward, clipping, AdamW and the
  running sums), validation (PhysInformerFamily.validate) and file writing (best epoch's
  model.pt and val_descriptors.tsv, best-k checkpoints, train_log.tsv,
  checkpoint-last.pt); the rest (model and optimiser set-up) is "other".
- bare: the network's forward on pre-built uint8 code tensors (contiguous slices of a
  shuffled copy), model_lib.gaussian_nll, backward, clip_grad_norm_ at the same clip,
  torch AdamW with the same betas and weight decay, torch's OneCycleLR with the same
  settings, over the same number of steps and rows, with the same fitted prior.

Target: toolkit >= 0.9 x the bare loop's sequences/s, judged on the training steps and,
more strictly, on the whole epoch (validation and files included).

    python3 benchmarks/bench_physinformer_throughput.py --rows 4096 --repeat 4
    python3 benchmarks/bench_physinformer_throughput.py --profile 60      # cProfile of 60 steps each
    python3 benchmarks/bench_physinformer_throughput.py --full-run        # the real command, 12,292 rows

``--full-run`` runs the user's pipeline on the whole bundled file instead: ``seqqc |
dgsplit`` and ``descfeat -o d.h5`` (timed), then ``python3 -m toolkit.cli.fit_physinformer
d.h5 --preset cpu -j THREADS`` (wall time, peak RSS and the per-epoch times of its
train_log.tsv); target: within 15 minutes.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import benchlib  # noqa: E402

TARGET = 0.9
RIDGE = ("feat_mean", "feat_sd", "coef", "bias")
FULL_RUN_LIMIT_S = 15 * 60


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- inputs

def descriptor_inputs(rows, seed, work, val_fraction=0.1):
    """Real sequences (resampled to ``rows``) and their descriptors, chosen and standardised
    as fit-physinformer does. Returns a dict: codes (n, L) uint8, y (n, d) float32 (NaN
    missing), is_val (n,) bool, the ``data`` dict resolve_config reads, the scaler (mean,
    SD in original units), seconds spent computing descriptors."""
    import pandas as pd

    from toolkit.features import FAMILIES
    from toolkit.features.compute import DescriptorSet
    from toolkit.features.motifs import cell_type_motifs
    from toolkit.features.params import default_params
    from toolkit.features.prune import ColumnPruner
    from toolkit.models.physinformer import ENTROPY_FACTOR, TEMPERATURE_K, family_of, thermo_triples
    from toolkit.train import data as D
    from toolkit.train.physinformer_data import CATEGORICAL, varying_columns

    path = os.path.join(work, "input.tsv")
    benchlib.resample_lentimpra(rows, path, seed=seed)
    seqs = pd.read_csv(path, sep="\t", dtype=str)["seq"].str.upper().tolist()
    n = len(seqs)
    is_val = np.zeros(n, bool)
    is_val[np.random.default_rng(seed).permutation(n)[:max(2, int(round(val_fraction * n)))]] = True

    fams = tuple(f for f in FAMILIES if f != "psi")      # descfeat's families, psi (TileFormer's) left out
    dset = DescriptorSet(fams, default_params(), motifs=cell_type_motifs("HepG2"))
    t = time.perf_counter()
    values = dset.compute(seqs).astype(np.float32).astype(np.float64)   # descfeat's HDF5 holds float32
    desc_s = time.perf_counter() - t
    values[~np.isfinite(values)] = np.nan
    cand = [c for c in dset.names if c not in CATEGORICAL]
    values = values[:, [dset.names.index(c) for c in cand]]
    tr = values[~is_val]
    finite = np.isfinite(tr).sum(0)
    with warnings.catch_warnings():                     # a column without values: NaN, dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        sd_all = np.nanstd(tr, axis=0)
    dropped = {"categorical": [c for c in dset.names if c in CATEGORICAL], "no_values": [], "zero_variance": [],
               "duplicate": {}}
    keep = varying_columns(cand, finite, sd_all, dropped)     # fit-physinformer's own rule
    pruner = ColumnPruner([cand[j] for j in keep])      # data.prune (fit-physinformer's default)
    pruner.update(tr[:, keep])
    for dr in pruner.dropped():
        if dr["reason"] == "duplicate":
            dropped["duplicate"][dr["column"]] = dr["of"]
    keep = [keep[i] for i in pruner.keep()]
    names = [cand[j] for j in keep]
    v = values[:, keep]
    mean, sd = np.nanmean(v[~is_val], axis=0), np.nanstd(v[~is_val], axis=0)
    triples, residual = [], {}
    for tri in thermo_triples(names):                   # the identity's check of physinformer_data._finish
        h, s, g = (v[~is_val][:, i] for i in tri)
        r = np.abs(g - (h - TEMPERATURE_K * ENTROPY_FACTOR * s))
        scale = np.abs(h) + TEMPERATURE_K * ENTROPY_FACTOR * np.abs(s) + np.abs(g) + 1e-12
        ok = np.isfinite(r)
        if ok.any() and float((r[ok] - (2e-5 * scale[ok] + 1e-6)).max()) <= 0:
            triples.append(tri)
            residual[names[tri[2]]] = float(r[ok].max())
    y = ((v - mean) / sd).astype(np.float32)
    codes = D.encode(seqs, 230)
    data = {"names": names, "families": [family_of(c) for c in names], "triples": triples, "residual": residual,
            "activities": [], "length": 230, "dropped": dropped, "input": path, "format": "table",
            "data_sha1": "", "n_train": int((~is_val).sum()), "n_val": int(is_val.sum()), "n_test": 0}
    return {"codes": codes, "y": y, "is_val": is_val, "data": data, "scaler": (mean.tolist(), sd.tolist()),
            "descriptor_s": desc_s, "n_candidates": len(cand)}


# ----------------------------------------------------------------------------- timers around the trainer

class Timers:
    """Wrap the trainer's functions (in this process only) to add up the seconds spent in each."""

    def __init__(self):
        self.t = {}
        self._undo = []

    def add(self, key, s):
        self.t[key] = self.t.get(key, 0.0) + s

    def wrap(self, owner, name, key, generator=False):
        orig = getattr(owner, name)
        timers = self

        if generator:
            def wrapped(*a, **k):
                it = orig(*a, **k)
                while True:
                    t = time.perf_counter()
                    try:
                        x = next(it)
                    except StopIteration:
                        timers.add(key, time.perf_counter() - t)
                        return
                    timers.add(key, time.perf_counter() - t)
                    yield x
        else:
            def wrapped(*a, **k):
                t = time.perf_counter()
                try:
                    return orig(*a, **k)
                finally:
                    timers.add(key, time.perf_counter() - t)
        setattr(owner, name, wrapped)
        self._undo.append((owner, name, orig))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for owner, name, orig in reversed(self._undo):
            setattr(owner, name, orig)
        self._undo.clear()


# ----------------------------------------------------------------------------- the two loops

def make_runs(inp, config, dev, epochs):
    import torch

    from toolkit.models import physinformer as model_lib
    from toolkit.train import loop as L
    from toolkit.train import physinformer as trainer

    codes, y, is_val = inp["codes"], inp["y"], inp["is_val"]
    tr = trainer.Split(codes[~is_val], y[~is_val])
    va = trainer.Split(codes[is_val], y[is_val])
    cfg = {**trainer.TRAIN_DEFAULTS, **config["train"]}
    bs = int(cfg["batch_size"])
    n = len(tr)
    steps = L.steps_per_epoch(n, bs, cfg.get("steps_per_epoch") or 0)
    rows = min(n, steps * bs) * epochs
    ridge = {}                      # the prior's fitted ridge: train()'s first fit, reused after

    def fit_prior(prior, *a, **k):
        """trainer.fit_prior on the first call; later calls set the ridge it fitted (fit_prior is
        deterministic: the same seed and rows give the same ridge, model.pt shows it)."""
        t = time.perf_counter()
        out = None
        if ridge:
            prior.set_ridge(*(ridge[x] for x in RIDGE))
        else:
            out = real_fit_prior(prior, *a, **k)
            ridge.update({x: getattr(prior, x).detach().cpu().numpy() for x in RIDGE})
        prior_s.append(time.perf_counter() - t)
        return out

    real_fit_prior = trainer.fit_prior
    prior_s = []

    def prime():
        """The one-off fit of the prior's ridge, as train() makes it (seconds); every train()
        below, and the bare loop, then set that ridge instead of fitting it again."""
        model = model_lib.build(config).to(dev)
        if model.prior is None:
            return 0.0
        t = time.perf_counter()
        fit_prior(model.prior, tr, dev, int(config["seed"]), int(cfg.get("prior_folds", 5)))
        return time.perf_counter() - t

    def toolkit():
        """One train() call: seconds per part, whether the prior was fitted, the model.pt bytes."""
        with Timers() as T, tempfile.TemporaryDirectory() as d:
            fitted = not ridge
            trainer.fit_prior = fit_prior
            prior_s.clear()
            T.wrap(trainer.PhysInformerFamily, "steps", "steps", generator=True)
            T.wrap(trainer.PhysInformerFamily, "validate", "validation")
            T.wrap(trainer.PhysInformerFamily, "save_best", "files")
            T.wrap(trainer.PhysInformerFamily, "select", "files")
            T.wrap(trainer.PhysInformerFamily, "write_log", "files")
            T.wrap(L.Checkpoints, "save_last", "files")
            try:
                t = time.perf_counter()
                trainer.train(config, tr, va, d, dev, inp["scaler"])
                T.t["wall"] = time.perf_counter() - t
            finally:
                trainer.fit_prior = real_fit_prior
            T.t["prior fitted"] = fitted
            T.t["prior fit"] = sum(prior_s)
            with open(os.path.join(d, "model.pt"), "rb") as fh:
                T.t["model_pt"] = fh.read()
        return T.t

    def baseline():
        t = time.perf_counter()
        trainer.kmer_baseline(tr, va, config["descriptors"], config["families"], dev)
        return time.perf_counter() - t

    def bare():
        torch.manual_seed(int(config["seed"]))
        model = model_lib.build(config)
        model.set_scalers(*inp["scaler"])
        if model.prior is not None:
            model.prior.set_ridge(*(ridge[x] for x in RIDGE))
        model.to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]),
                                weight_decay=cfg["weight_decay"])
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"] * cfg["lr_mult"], total_steps=steps * epochs,
                                                    pct_start=cfg["pct_start"], div_factor=cfg["div_factor"],
                                                    final_div_factor=cfg["final_div_factor"], cycle_momentum=False)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
        X = tr.codes[perm].to(dev)                      # pre-built uint8 codes
        Y = tr.y[perm].to(dev)
        model.train()
        t = time.perf_counter()
        for _ in range(epochs):
            for b in range(steps):
                sl = slice(b * bs, (b + 1) * bs)
                mu, lv = model(X[sl])
                loss = model_lib.gaussian_nll(mu, lv, Y[sl])[0]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
                opt.step()
                sched.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    return {"prime": prime, "toolkit": toolkit, "bare": bare, "baseline": baseline, "steps": steps, "rows": rows,
            "bs": bs, "n_train": n, "n_val": len(va)}


def profile(runs, config, steps, top):
    """cProfile of ``steps`` steps of each loop; the functions by own time (tottime)."""
    import cProfile
    import io
    import pstats

    out = []
    for what in ("bare", "toolkit"):
        pr = cProfile.Profile()
        pr.enable()
        runs[what]()
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(top)
        out.append(f"### cProfile: {what}, {steps} steps (by own time)\n\n```\n"
                   + buf.getvalue().split("\n", 4)[-1].strip() + "\n```\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- --full-run

def full_run(a):
    """The user's pipeline on every bundled row, then fit-physinformer --preset cpu (wall time)."""
    import csv

    py = sys.executable
    work = a.workdir or tempfile.mkdtemp(prefix="pi-full-")
    os.makedirs(work, exist_ok=True)
    split, h5, model = (os.path.join(work, x) for x in ("split.tsv", "d.h5", "model"))
    t = time.perf_counter()
    qc = subprocess.run([py, "-m", "toolkit.cli.seqqc", benchlib.BUNDLED_LENTIMPRA, "-q"], cwd=ROOT,
                        capture_output=True, check=True)
    with open(split, "wb") as fh:
        subprocess.run([py, "-m", "toolkit.cli.dgsplit", "-q"], input=qc.stdout, stdout=fh, cwd=ROOT, check=True)
    prep_s = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([py, "-m", "toolkit.cli.descfeat", split, "--cell-type", "HepG2", "-j", str(a.desc_jobs), "-q",
                    "-o", h5], cwd=ROOT, check=True)
    desc_s = time.perf_counter() - t
    with open(split) as fh:
        split_col = [r["split"] for r in csv.DictReader(fh, delimiter="\t")]
    counts = {k: split_col.count(k) for k in ("train", "val", "test")}
    argv = [py, "-m", "toolkit.cli.fit_physinformer", h5, "--preset", "cpu", "-j", str(a.threads), "-o", model]
    log("running: " + " ".join(argv))
    r = benchlib.run_measured(argv, ROOT, timeout=a.timeout)
    epochs = []
    logp = os.path.join(model, "train_log.tsv")
    if os.path.exists(logp):
        with open(logp) as fh:
            epochs = list(csv.DictReader(fh, delimiter="\t"))
    return {"work": work, "rows": len(split_col), "counts": counts, "prep_s": prep_s, "desc_s": desc_s, "run": r,
            "epochs": epochs, "argv": argv}


def print_full_run(res):
    r = res["run"]
    c = res["counts"]
    print(f"Input: share/examples/lentimpra_HepG2.tsv.gz, {res['rows']:,} rows after seqqc | dgsplit "
          f"(train {c['train']:,}, val {c['val']:,}, test {c['test']:,}); seqqc | dgsplit {res['prep_s']:.1f} s, "
          f"descfeat {res['desc_s']:.1f} s; work directory {res['work']}\n")
    ok = r["rc"] == 0 and not r["timed_out"]
    print("| command | wall | peak RSS | CPU s | exit | target |")
    print("|---|---|---|---|---|---|")
    print(f"| `{' '.join(os.path.basename(x) if i == 0 else x for i, x in enumerate(res['argv']))}` | "
          f"{r['seconds'] / 60:.1f} min | {r['peak_rss_mb']:,.0f} MB | "
          f"{r['cpu_seconds'] or float('nan'):,.0f} | {r['rc']}{' (timed out)' if r['timed_out'] else ''} | "
          f"<= 15 min: {'met' if ok and r['seconds'] <= FULL_RUN_LIMIT_S else 'NOT met'} |")
    if res["epochs"]:
        secs = [float(e["seconds"]) for e in res["epochs"]]
        sps = [float(e["samples_per_s"]) for e in res["epochs"]]
        rest = r["seconds"] - sum(secs)
        print(f"\n{len(secs)} epochs in train_log.tsv: {sum(secs):.0f} s in all, median {np.median(secs):.1f} s an "
              f"epoch (steps {np.median(sps):,.0f} seq/s); the rest of the wall time ({rest:.0f} s) is start-up, "
              "the training cache, the prior fit and the k-mer baseline")
    if not ok:
        print("\nstderr tail:\n```\n" + r["stderr"] + "\n```")


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=4096, help="sequences (resampled from the bundled rows)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (fit-physinformer's -j; default 1 as its)")
    ap.add_argument("--repeat", type=int, default=4, help="interleaved pairs (bare, toolkit / toolkit, bare)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="instead of timing: cProfile STEPS steps of each loop")
    ap.add_argument("--top", type=int, default=25, help="functions listed per profile")
    ap.add_argument("--full-run", action="store_true",
                    help="run seqqc | dgsplit | descfeat and fit-physinformer --preset cpu on all 12,292 rows")
    ap.add_argument("--desc-jobs", type=int, default=2, help="descfeat -j of --full-run")
    ap.add_argument("--workdir", default=None, help="--full-run's files (default: a new temporary directory)")
    ap.add_argument("--timeout", type=float, default=3600, help="--full-run's limit for fit-physinformer (s)")
    a = ap.parse_args()

    import torch

    from toolkit.models.physinformer import build
    from toolkit.train.cre import resolve_device
    from toolkit.train.physinformer_data import resolve_config

    torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    facts = benchlib.machine(("numpy", "torch"))
    print(f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['ram_gib']} GiB; torch {facts['torch']}; "
          f"device {dev}, {a.threads} thread(s); load average at start {os.getloadavg()[0]:.2f}, "
          f"{os.getloadavg()[1]:.2f}, {os.getloadavg()[2]:.2f} (1, 5, 15 min)")
    print(f"Code: {benchlib.revision(ROOT)}")
    if a.full_run:
        res = full_run(a)
        print_full_run(res)
        print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return

    with tempfile.TemporaryDirectory() as work:
        inp = descriptor_inputs(a.rows, a.seed, work)
    flags = {"epochs": a.epochs, "baseline": False}
    if a.profile:
        flags["steps_per_epoch"] = a.profile
    config = resolve_config(inp["data"], "cpu", dev, a.seed, flags, False)
    runs = make_runs(inp, config, dev, a.epochs)
    d = len(config["descriptors"])
    pr = config["model"]["prior"]
    nparam = sum(p.numel() for p in build(config).parameters())
    print(f"Input: {a.rows:,} resampled lentiMPRA HepG2 sequences (230 nt), {runs['n_train']:,} train / "
          f"{runs['n_val']:,} val; {d} descriptors of {inp['n_candidates']} (descfeat families but psi, HepG2 "
          f"motifs; computed in {inp['descriptor_s']:.1f} s), {len(config['thermo_triples'])} ΔG triples; "
          f"preset cpu ({nparam:,} parameters), physics prior k <= {pr['kmax']} + {len(pr['motifs'])} motifs"
          f"{' + parameter tracks' if pr.get('tracks') else ''}; "
          f"batch {runs['bs']}, {runs['steps']} steps an epoch, {a.epochs} epoch(s)\n")
    if a.profile:
        runs["prime"]()
        print(profile(runs, config, a.profile, a.top))
        return

    prior_s = runs["prime"]()
    res = {"bare": [], "toolkit": [], "parts": []}
    for i in range(a.repeat):                           # ABBA: bare, toolkit, toolkit, bare, ...
        for what in ("bare", "toolkit") if i % 2 == 0 else ("toolkit", "bare"):
            log(f"pair {i + 1}/{a.repeat}: {what}")
            if what == "bare":
                res["bare"].append(runs["bare"]())
            else:
                t = runs["toolkit"]()
                t["epoch"] = t["wall"] - t["prior fit"]
                t["other"] = t["epoch"] - t["steps"] - t.get("validation", 0.0) - t.get("files", 0.0)
                res["parts"].append(t)
    log("k-mer ridge baseline")
    base_s = runs["baseline"]()
    rows = runs["rows"]
    same = len({p["model_pt"] for p in res["parts"]}) == 1
    bare_sps = [rows / s for s in res["bare"]]
    tk_sps = [rows / p["epoch"] for p in res["parts"]]
    st_sps = [rows / p["steps"] for p in res["parts"]]
    print(f"{a.repeat} interleaved pairs (bare then toolkit, toolkit then bare, ...); per pair, seq/s: bare "
          + ", ".join(f"{x:,.0f}" for x in bare_sps) + "; toolkit epoch " + ", ".join(f"{x:,.0f}" for x in tk_sps)
          + "; toolkit steps " + ", ".join(f"{x:,.0f}" for x in st_sps)
          + f". model.pt identical in every toolkit run: {'yes' if same else 'NO'}\n")
    print("| measurement (median over pairs) | toolkit seq/s | bare PyTorch seq/s | ratio (each pair's) | target |")
    print("|---|---|---|---|---|")
    for what, tk in (("training steps (PhysInformerFamily.steps)", st_sps),
                     (f"whole epoch{'s' if a.epochs > 1 else ''} (steps + validation + files + set-up; prior fit "
                      "left out)", tk_sps)):
        pairs = [t / b for t, b in zip(tk, bare_sps)]
        r = float(np.median(pairs))
        print(f"| {what} | {np.median(tk):,.0f} | {np.median(bare_sps):,.0f} | {r:.3f} "
              f"({', '.join(f'{x:.3f}' for x in pairs)}) | >= {TARGET}: {'met' if r >= TARGET else 'NOT met'} |")
    print("\n| toolkit's train() (median over runs) | seconds | share of the epoch(s) |")
    print("|---|---|---|")
    for k, what in (("steps", "steps"), ("validation", "validation"),
                    ("files", "files (model.pt, val_descriptors.tsv, checkpoints, train_log.tsv)"),
                    ("other", "other (model build, optimiser, loop set-up)"), ("epoch", "epoch(s) in all")):
        v = [p.get(k, 0.0) for p in res["parts"]]
        share = [x / p["epoch"] for x, p in zip(v, res["parts"])]
        print(f"| {what} | {np.median(v):.2f} | {100 * np.median(share):.1f}% |")
    print(f"| one-off: physics prior fit (fit_prior, before training; left out) | {prior_s:.2f} | |")
    print(f"| one-off: k-mer ridge baseline (kmer_baseline, after training; left out) | {base_s:.2f} | |")
    print(f"| bare loop, same steps | {np.median(res['bare']):.2f} | |")
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
