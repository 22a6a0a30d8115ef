"""How the z_E the task loss reads in training decides what fit-ep does on a cell line it never
saw: the energy head retrained on a finished fold's fixed streams.

For every fold of a finished ``fit-ep --leave-one-cell-out`` run on the synthetic benchmark
(``--workdir`` holds the generator's files and ``loco``, the run's output folder), the fold's
model gives z_I and e of every pair once; then the energy head alone (g_I, Lambda_U, lambda_R,
T and the distance term, as fit-ep's linear energy has them, from a fresh start) is trained
on the fold's train pairs, one cell line per batch of 64, for ``--epochs`` epochs (AdamW, lr
1e-2, weight decay 0.01, IMMAX margins), the best epoch chosen on the validation pairs' AUPR
(z_E from 256 of each line's val pairs), and scored on the held-out line's test pairs (z_E
from 256 of them, labels unused), once per seed (``--seeds``), with the batch's z_E taken
from:

- ``support``: the mean e of a support set of ``--support`` (32) of the line's train pairs
  drawn for each batch, as fit-ep's training batches do (``train.task_env = "support"``);
- ``prototype``: the mean e of all the line's train pairs, a noise-free z_E (what fit-ep's
  ``train.task_env = "prototype"`` approximates with the line's running mean of e);
- ``support-256``: support sets of 256.

The streams are the fold's, fixed, so only the head's training differs between the rows:
seconds per fit. Output: a markdown table, per fold and z_E source, the validation and
held-out test AUPR over the seeds (mean, SD, smallest, largest).

Usage: python3 benchmarks/bench_ep_head.py --workdir DIR [--seeds 8] [--epochs 13]
"""

import argparse
import copy
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

SOURCES = {"support": None, "prototype": "all", "support-256": 256}


def fold_features(model, xe, xp, batch=1024):
    """z_I and e of every pair (float32 tensors (n, d)) from a fold's model."""
    import torch

    from toolkit.train import data as D

    zs, es = [], []
    with torch.no_grad():
        for i in range(0, len(xe), batch):
            z, e = model.features(D.onehot(xe[i:i + batch]), D.onehot(xp[i:i + batch]))
            zs.append(z)
            es.append(e)
    return torch.cat(zs), torch.cat(es)


def build_model(model):
    """An untrained model of the same shape (its freshly initialised head parameters)."""
    from toolkit.models.ep import EPModel

    m = model
    return EPModel(m.prototypes.shape[0], channels=1, kernel=1, blocks=0, d=m.d, env_hidden=0,
                   modules=m.g_I.out_features, energy=m.energy_form, distance=m.distance is not None,
                   distance_span=(m.distance.lo, m.distance.hi) if m.distance is not None else None)


def train_head(model, Z, E, dist, y, cells, rows, source, support, epochs, seed):
    """Val and test AUPR of a fresh linear energy head trained on fixed z_I (Z) and e (E)."""
    import torch

    from toolkit.models.ep import immax_margins, task_loss
    from toolkit.train import ep as T

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = copy.deepcopy(model)             # the model's own energy, its head parameters started afresh
    fresh = build_model(head)
    for name in ("g_I", "distance"):
        if getattr(head, name) is not None:
            getattr(head, name).load_state_dict(getattr(fresh, name).state_dict())
    with torch.no_grad():
        for name in ("lam_U", "lam_R", "t"):
            getattr(head, name).copy_(getattr(fresh, name))
    params = list(head.g_I.parameters()) + [head.lam_U, head.lam_R, head.t] + (
        list(head.distance.parameters()) if head.distance is not None else [])
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)

    def logit(z, z_E, dd):
        return head.energy(z, z_E, distance=dd)

    def score(by_line):
        out = np.zeros(len(y))
        r2 = np.random.default_rng(0)
        with torch.no_grad():
            for r in by_line.values():
                sup = r2.choice(r, min(256, len(r)), replace=False)
                out[r] = logit(Z[r], E[sup].mean(dim=0), dist[r]).numpy()
        return out

    train, val, test = rows
    lines = sorted(set(cells[train].tolist()))
    by = {c: train[cells[train] == c] for c in lines}
    vby = {c: val[cells[val] == c] for c in lines}
    mean_e = {c: E[by[c]].mean(dim=0) for c in lines}
    margins = immax_margins(int(y[train].sum()), int((1 - y[train]).sum()))
    m = support if SOURCES[source] is None else SOURCES[source]
    best, state = -1.0, None
    for _ in range(epochs):
        batches = [(c, r[i:i + 64]) for c in lines for r in [rng.permutation(by[c])] for i in range(0, len(r), 64)]
        for j in rng.permutation(len(batches)):
            c, q = batches[j]
            z_E = mean_e[c] if m == "all" else E[rng.choice(by[c], min(m, len(by[c])), replace=False)].mean(dim=0)
            loss = task_loss(logit(Z[q], z_E, dist[q]), torch.as_tensor(y[q]), "immax", margins)
            opt.zero_grad()
            loss.backward()
            opt.step()
        v = T.binary_metrics(y[val], score(vby)[val])["aupr"]
        if v > best:
            best, state = v, [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, s in zip(params, state):
            p.copy_(s)
    held = sorted(set(cells[test].tolist()))
    te = score({c: test[cells[test] == c] for c in held})
    return best, T.binary_metrics(y[test], te[test])["aupr"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True, help="the generator's files and loco/, a finished --leave-one-cell-out run")
    ap.add_argument("--seeds", type=int, default=8, help="head fits per fold and z_E source")
    ap.add_argument("--epochs", type=int, default=13)
    ap.add_argument("--support", type=int, default=32, help="support set size of the 'support' source")
    ap.add_argument("--sources", default=",".join(SOURCES), help="comma-separated z_E sources")
    args = ap.parse_args(argv)
    import pandas as pd
    import torch

    from toolkit.io import pairs as P
    from toolkit.train import data as D
    from toolkit.train import ep_data as F
    from toolkit.train import modeldir as MD
    from toolkit.train.serve import load

    torch.set_num_threads(1)
    loco = os.path.join(args.workdir, "loco")
    run = MD.read_json(os.path.join(loco, "loco.json"))
    s = run["settings"]
    settings = {"genome": s["genome"], "lengths": s["lengths"], "clip": s["clip"], "columns": s["columns"]}
    table = os.path.join(args.workdir, "synthetic_ep_pairs.csv.gz")
    layout, rows, _ = P.read_pairs(table, F.layout_args(settings, need_split=False), keep=None)
    aux = F.encode_rows(rows["all"], layout, settings, s["lengths"])
    xe = torch.as_tensor(D.encode(aux["seqs"]["enhancer"], s["lengths"]["enhancer"]))
    xp = torch.as_tensor(D.encode(aux["seqs"]["promoter"], s["lengths"]["promoter"]))
    cells, y = np.asarray(aux["cells"]), np.asarray(aux["y"], dtype=np.float32)
    dist = torch.as_tensor(aux["distance"] if aux["distance"] is not None else np.full(len(y), np.nan),
                           dtype=torch.float32)
    chrom = pd.read_csv(table, usecols=["enhancer_chrom"])["enhancer_chrom"].to_numpy()
    on_test, on_val = np.isin(chrom, run["test_chroms"]), np.isin(chrom, run["val_chroms"])
    cmdline = " ".join(["python3 benchmarks/bench_ep_head.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"command: {cmdline}; the energy head retrained on each fold's fixed streams, {args.seeds} seeds\n")
    print("| held-out cell | z_E in training | val AUPR (mean) | test AUPR mean ± SD | smallest | largest |")
    print("|---|---|---|---|---|---|")
    for held in run["held_out"]:
        model = load(os.path.join(loco, f"heldout-{held}"), torch.device("cpu")).model
        Z, E = fold_features(model, xe, xp)
        split = (np.flatnonzero((cells != held) & ~on_test & ~on_val), np.flatnonzero((cells != held) & on_val),
                 np.flatnonzero((cells == held) & on_test))
        for source in args.sources.split(","):
            res = np.array([train_head(model, Z, E, dist, y, cells, split, source, args.support, args.epochs, seed)
                            for seed in range(args.seeds)])
            print(f"| {held} | {source} | {res[:, 0].mean():.3f} | {res[:, 1].mean():.3f} ± {res[:, 1].std():.3f} | "
                  f"{res[:, 1].min():.3f} | {res[:, 1].max():.3f} |", flush=True)


if __name__ == "__main__":
    main()
