"""Does fit-ep's environment stream do its job? A check on the models of a finished
``bench_ep_synthetic.py --workdir DIR`` run (the synthetic genome with a known grammar).

For every held-out cell line, its fold's model scores the line's test pairs (the pairs of
loco_predictions.tsv) with the cell line's environment z_E taken from:

- nothing (``env off``: the sequence stream alone, R_E = 0 and lambda = 0);
- support sets of the line's own test pairs (``own``: what fit-ep and predict do; mean and
  SD of the AUPR over ``--draws`` random support sets);
- support sets of every other line's pairs, grouped by how many of the held-out line's two
  programs that line runs (one, or none: the grammar's combinations give four lines sharing
  one program and one sharing none).

An environment that has learned the programs scores the held-out line best with its own
z_E, worse with a line sharing one program and worst with the line sharing none; a
collapsed one gives the same AUPR whatever z_E it is given.

A second table says which motifs each fold's stems detect: for each of the grammar's 12
motifs (enhancer motif a_k, promoter motif b_k, marker m_k), planted at the centre of 300
random 320-bp sequences, the largest shift of any stem filter's max-pooled response, in
standard deviations of that response over the same sequences without it; "missed" lists
those of its own motifs that no filter shifts by 2 SD. The shared stem should find the a_k and b_k (the
pairs the task needs), the environment's own stem the markers (what tells lines apart).

A third table says what each line's environment does to each program's motif pair: the
mean logit of 400 random pairs with a_k planted in the enhancer and b_k in the promoter, minus
that of the same pairs without, with z_E from 256 pairs of that line (and with the environment
off), and per line the mean shift of its active programs' pairs minus its inactive ones'. A
model that has learned the grammar raises the active pairs of every line, the held-out one
included, and leaves the inactive ones (the decoys) near 0.

With ``--probes`` a fourth table says what each fold's model holds, by logistic regressions
(scikit-learn) fitted on 12,000 pairs off the test chromosomes and scored (AUPR) on every line's
pairs on them: from the shared stem's max-pooled responses to each planted motif a_k (enhancer)
and b_k (promoter), from z_I to each motif pair (a_k in the enhancer and b_k in the promoter);
and per cell line the model's AUPR on its test-chromosome pairs (z_E from 256 of them) beside a
logistic readout of z_I fitted on that line's own labelled pairs off the test chromosomes (what
z_I holds for the line, told which line it is) and the ceiling: the planted answer for a model with
the distance term, else the planted answer without its distance factor (the ceiling of a model that
reads the sequences only). About a minute per fold.

Usage: python3 benchmarks/bench_ep_environment.py --workdir DIR [--draws 5] [--probes]
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True, help="the --workdir of a finished bench_ep_synthetic.py run")
    ap.add_argument("--draws", type=int, default=5, help="support sets drawn per cell line")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--probes", action="store_true", help="also the table of what each fold's stem and z_I hold")
    args = ap.parse_args(argv)
    import pandas as pd
    import torch

    from toolkit.train import ep_data as F
    from toolkit.io import pairs as P
    from toolkit.train import data as D
    from toolkit.train import ep as T
    from toolkit.train import modeldir as MD
    from toolkit.train.serve import load

    torch.set_num_threads(1)
    loco = os.path.join(args.workdir, "loco")
    run = MD.read_json(os.path.join(loco, "loco.json"))
    grammar = json.load(open(os.path.join(args.workdir, "synthetic_ep_grammar.json")))
    programs = {c: set(v) for c, v in grammar["cells"].items()}
    s = run["settings"]
    settings = {"genome": s["genome"], "lengths": s["lengths"], "clip": s["clip"], "columns": s["columns"]}
    layout, rows, _ = P.read_pairs(os.path.join(args.workdir, "synthetic_ep_pairs.csv.gz"),
                                   F.layout_args(settings, need_split=False), keep=None)
    aux = F.encode_rows(rows["all"], layout, settings, s["lengths"])
    xe = torch.as_tensor(D.encode(aux["seqs"]["enhancer"], s["lengths"]["enhancer"]))
    xp = torch.as_tensor(D.encode(aux["seqs"]["promoter"], s["lengths"]["promoter"]))
    cells, y_all = aux["cells"], aux["y"]
    dist = torch.as_tensor(aux["distance"] if aux["distance"] is not None else np.full(len(y_all), np.nan),
                           dtype=torch.float32)       # read by a model with the distance term
    preds = pd.read_csv(os.path.join(loco, "loco_predictions.tsv"), sep="\t", dtype={"id": str})
    rng = np.random.default_rng(args.seed)
    cmdline = " ".join(["python3 benchmarks/bench_ep_environment.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"command: {cmdline}; test AUPR of each fold's model on its held-out line's test pairs; "
          f"{args.draws} support sets (of the model's support size) per cell line\n")
    print("| held-out cell | fit-ep (loco.tsv) | environment off | own support sets (mean ± SD) | "
          "lines sharing one program | line sharing none |")
    print("|---|---|---|---|---|---|")
    summary = []
    for held in run["held_out"]:
        fold = os.path.join(loco, f"heldout-{held}")
        pred = load(fold, torch.device("cpu"))             # the fold's model as predict serves it
        config, model = pred.config, pred.model
        sub = preds[preds["cell"] == held]
        test = sub["id"].str.removeprefix("row").astype(int).to_numpy() - 1
        y = y_all[test]
        m = int(config["support_size"])
        with torch.no_grad():
            z_I, _ = model.features(D.onehot(xe[test]), D.onehot(xp[test]))

            def aupr(z_E, env=True):
                return T.binary_metrics(y, model.energy(z_I, z_E, env=env, distance=dist[test]).numpy())["aupr"]

            def from_rows(pool):
                pick = rng.choice(pool, m, replace=False)
                return aupr(model.environment(D.onehot(xe[pick]), D.onehot(xp[pick])))

            off = aupr(None, env=False)
            own = [from_rows(test) for _ in range(args.draws)]
            by_shared = {1: [], 0: []}
            for c in sorted(programs):
                if c != held:
                    shared = len(programs[c] & programs[held])
                    by_shared.setdefault(shared, []).append(
                        np.mean([from_rows(np.flatnonzero(cells == c)) for _ in range(args.draws)]))
        table = float(pd.read_csv(os.path.join(loco, "loco.tsv"), sep="\t").set_index("held_out").loc[held,
                                                                                                       "aupr_fit_ep"])
        row = {"held_out": held, "table": table, "off": off, "own": float(np.mean(own)), "own_sd": float(np.std(own)),
               "one": float(np.mean(by_shared[1])), "none": float(np.mean(by_shared[0]))}
        summary.append(row)
        print(f"| {held} | {table:.3f} | {off:.3f} | {row['own']:.3f} ± {row['own_sd']:.3f} | {row['one']:.3f} | "
              f"{row['none']:.3f} |", flush=True)
    mean = {k: np.mean([r[k] for r in summary]) for k in ("table", "off", "own", "one", "none")}
    print(f"| mean of {len(summary)} | {mean['table']:.3f} | {mean['off']:.3f} | {mean['own']:.3f} | "
          f"{mean['one']:.3f} | "
          f"{mean['none']:.3f} |")
    motif_table(loco, run["held_out"], grammar, s["lengths"]["enhancer"], args.seed)
    effect_table(loco, run["held_out"], grammar, (xe, xp, np.asarray(cells)), s["lengths"], args.seed)
    if args.probes:
        chrom = pd.read_csv(os.path.join(args.workdir, "synthetic_ep_pairs.csv.gz"),
                            usecols=["enhancer_chrom"])["enhancer_chrom"].to_numpy()
        probe_table(loco, run["held_out"], grammar, (xe, xp, np.asarray(cells), np.asarray(y_all), chrom, dist),
                    run["test_chroms"], args.seed)


def probe_table(loco, held_out, grammar, data, test_chroms, seed):
    """What each fold's shared stem and z_I hold (see the module text)."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score as aupr

    from toolkit.train import data as D
    from toolkit.train.serve import load

    sys.path.insert(0, HERE)
    from bench_ep_synthetic import _generator

    xe, xp, cells, y_all, chrom, dist = data
    gen = _generator()
    _, pairs, truth, _ = gen.make(seed=grammar["seed"], n_chroms=grammar["sizes"]["chromosomes"])
    assert len(pairs) == len(y_all) and (pairs["label"].to_numpy() == y_all).all()
    a = np.array([gen.flags(v) for v in truth["enh_a"]], dtype=bool)
    b = np.array([gen.flags(v) for v in truth["prom_b"]], dtype=bool)
    ceiling = np.array([gen.planted_without_distance(c, ea, pb) for c, ea, pb in zip(cells, a, b)])
    planted = np.array([gen.planted_probability(c, ea, pb, d) for c, ea, pb, d in zip(cells, a, b,
                                                                                     pairs["distance"].to_numpy())])
    on_test = np.isin(chrom, test_chroms)
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(np.flatnonzero(~on_test), min(12000, int((~on_test).sum())), replace=False)
    test_rows = np.flatnonzero(on_test)
    lines = sorted(set(cells))

    def fit(x, y):
        return LogisticRegression(C=1.0, max_iter=3000).fit(x, y)

    print("\n| held-out cell | stem -> a_k (enhancer) | stem -> b_k (promoter) | z_I -> motif pair k | "
          + " | ".join(f"{c}: model, z_I readout, ceiling" for c in lines) + " |")
    print("|---|---|---|---|" + "---|" * len(lines))
    for held in held_out:
        model = load(os.path.join(loco, f"heldout-{held}"), torch.device("cpu")).model
        best = planted if model.distance is not None else ceiling     # what a model that reads the distance can reach

        def feats(rows):
            out = []
            with torch.no_grad():
                for i in range(0, len(rows), 1024):
                    r = torch.as_tensor(rows[i:i + 1024])
                    z, _ = model.features(D.onehot(xe[r]), D.onehot(xp[r]))
                    out.append((z.numpy(), model.tower(D.onehot(xe[r]))[1].numpy(),
                                model.tower(D.onehot(xp[r]))[1].numpy()))
            return [np.concatenate(part) for part in zip(*out)]

        zf, hef, hpf = feats(fit_rows)
        zt, het, hpt = feats(test_rows)
        k_range = range(a.shape[1])
        stem_a = " ".join(f"{aupr(a[test_rows, k], fit(hef, a[fit_rows, k]).predict_proba(het)[:, 1]):.3f}"
                          for k in k_range)
        stem_b = " ".join(f"{aupr(b[test_rows, k], fit(hpf, b[fit_rows, k]).predict_proba(hpt)[:, 1]):.3f}"
                          for k in k_range)
        pair = a & b
        z_pair = " ".join(f"{aupr(pair[test_rows, k], fit(zf, pair[fit_rows, k]).predict_proba(zt)[:, 1]):.3f}"
                          for k in k_range)
        per_line = []
        for c in lines:
            rows = test_rows[cells[test_rows] == c]
            own = np.flatnonzero((cells == c) & ~on_test)
            with torch.no_grad():
                sup = torch.as_tensor(rng.choice(rows, min(256, len(rows)), replace=False))
                z_E = model.environment(D.onehot(xe[sup]), D.onehot(xp[sup]))
                z_rows = torch.as_tensor(zt[cells[test_rows] == c])
                scored = model.energy(z_rows, z_E, distance=dist[rows]).numpy()
            readout = fit(feats(own)[0], y_all[own]).predict_proba(z_rows.numpy())[:, 1]
            per_line.append(f"{aupr(y_all[rows], scored):.3f}, {aupr(y_all[rows], readout):.3f}, "
                            f"{aupr(y_all[rows], best[rows]):.3f}")
        print(f"| {held} | {stem_a} | {stem_b} | {z_pair} | {' | '.join(per_line)} |", flush=True)


def effect_table(loco, held_out, grammar, data, lengths, seed):
    """What each line's environment does to each motif pair (see the module text)."""
    import torch

    from toolkit.train import data as D
    from toolkit.train.serve import load

    xe, xp, cells = data
    rng = np.random.default_rng(seed)
    n = 400
    le, lp = lengths["enhancer"], lengths["promoter"]
    enh = ["".join(rng.choice(list("ACGT"), le, p=[0.29, 0.21, 0.21, 0.29])) for _ in range(n)]
    prom = ["".join(rng.choice(list("ACGT"), lp, p=[0.29, 0.21, 0.21, 0.29])) for _ in range(n)]

    def plant(seqs, motif, length):
        at = length // 2 - len(motif) // 2
        return D.onehot(torch.as_tensor(D.encode([q[:at] + motif + q[at + len(motif):] for q in seqs], length)))

    programs = {c: set(v) for c, v in grammar["cells"].items()}
    ks = sorted(grammar["programs"], key=int)
    print("\n| held-out cell | z_E of | " + " | ".join(f"pair {k}" for k in ks) + " | active minus inactive |")
    print("|---|---|" + "---|" * (len(ks) + 1))
    nan = torch.full((n,), float("nan"))
    for held in held_out:
        model = load(os.path.join(loco, f"heldout-{held}"), torch.device("cpu")).model
        with torch.no_grad():
            z0, _ = model.features(plant(enh, "", le), plant(prom, "", lp))
            zk = {k: model.features(plant(enh, grammar["programs"][k]["enhancer_motif"], le),
                                    plant(prom, grammar["programs"][k]["promoter_motif"], lp))[0] for k in ks}

            def shifts(z_E, env=True):
                base = model.energy(z0, z_E, env=env, distance=nan).mean()
                return [float(model.energy(zk[k], z_E, env=env, distance=nan).mean() - base) for k in ks]

            for c in sorted(programs):
                pick = rng.choice(np.flatnonzero(cells == c), 256, replace=False)
                v = shifts(model.environment(D.onehot(xe[pick]), D.onehot(xp[pick])))
                on = [x for k, x in zip(ks, v) if int(k) in programs[c]]
                off = [x for k, x in zip(ks, v) if int(k) not in programs[c]]
                cells_v = " | ".join(f"{x:.2f}{' *' if int(k) in programs[c] else ''}" for k, x in zip(ks, v))
                print(f"| {held} | {c}{' (held out)' if c == held else ''} | {cells_v} | "
                      f"{np.mean(on) - np.mean(off):.2f} |")
            print(f"| {held} | environment off | " + " | ".join(f"{x:.2f}" for x in shifts(None, env=False))
                  + " | |", flush=True)


def motif_table(loco, held_out, grammar, length, seed):
    """Which motifs each fold's shared stem and environment stem detect (see the module text)."""
    import torch

    from toolkit.train import data as D
    from toolkit.train.serve import load

    rng = np.random.default_rng(seed)
    base = ["".join(rng.choice(list("ACGT"), length, p=[0.29, 0.21, 0.21, 0.29])) for _ in range(300)]
    at = length // 2 - 5
    motifs = {f"{tag}{k}": p[role] for k, p in grammar["programs"].items()
              for tag, role in (("a", "enhancer_motif"), ("b", "promoter_motif"), ("m", "marker_motif"))}

    def pooled(tower, seqs):
        with torch.no_grad():
            return tower(D.onehot(torch.as_tensor(D.encode(seqs, length))))[1].numpy()

    print("\n| held-out cell | stem | dead filters | program motifs a_k, b_k: best filter (SD) | markers m_k (SD) | "
          "its own motifs missed (< 2 SD) |")
    print("|---|---|---|---|---|---|")
    for held in held_out:
        fold = os.path.join(loco, f"heldout-{held}")
        model = load(fold, torch.device("cpu")).model
        for name, tower in (("shared", model.tower), ("environment", model.env_tower)):
            if tower is None:
                continue
            r0 = pooled(tower, base)
            sd = r0.std(axis=0) + 1e-6
            shift = {t: float(((pooled(tower, [b[:at] + m + b[at + len(m):] for b in base]) - r0).mean(axis=0)
                               / sd).max()) for t, m in motifs.items()}
            prog = " ".join(f"{t} {v:.1f}" for t, v in shift.items() if t[0] in "ab")
            mark = " ".join(f"{t} {v:.1f}" for t, v in shift.items() if t[0] == "m")
            own = "ab" if name == "shared" else "m"           # what each stem is there to find
            missed = ", ".join(t for t, v in shift.items() if t[0] in own and v < 2) or "-"
            print(f"| {held} | {name} | {int((r0.max(axis=0) <= 1e-6).sum())} of {r0.shape[1]} | {prog} | {mark} | "
                  f"{missed} |", flush=True)


if __name__ == "__main__":
    main()
