"""fit-ep's pair head and energy on perfect motif detectors: which parts of the model learn the
synthetic grammar once the stems are right.

The synthetic enhancer-promoter benchmark's data (share/examples/ep/make_synthetic_ep.py,
``--chroms`` 16, seed 7: the same pairs as bench_ep_synthetic.py) are read as the generator
planted them: each sequence becomes 12 indicators (enhancer motifs a_0..a_3, promoter motifs
b_0..b_3, markers m_0..m_3), which take the place of both stems' max-pooled responses in
toolkit.models.ep.EPModel (its towers replaced by the identity). The rest of the model is
fit-ep's own: the product pair head, the environment stream f_E' (``--env-hidden`` N: an MLP
with N hidden units; 0: one linear layer), the linear energy, LN(z_E). Training, for speed,
is a plain loop: BCE, AdamW at ``--lr`` with cosine decay, 15 epochs, batches of 64 pairs of
one cell line with a support set of 32 of its training pairs; no auxiliary losses, no
curriculum. ``--oracle-env`` replaces z_E by the line's true program indicator (what a
perfect environment stream could say).

Each held-out line's test pairs (on chr1, chr5, chr9) are scored with support sets drawn from
them (labels unused) of 32 and of 256 pairs: AUPR, mean over 10 (32) and 5 (256) draws. Beside
them the ceiling of any model that reads the sequences but not the distance (as these heads do): the
AUPR of the generator's planted probability with the distance factor left out (the pair's
planted motif pairs and the line's programs only).
Training pairs: the other five lines off chr1-3, chr5, chr9, as fit-ep --leave-one-cell-out.
About 10 s per line and seed on one core.

Usage: python3 benchmarks/bench_ep_oracle_features.py [--cells cellC] [--seeds 0,1,2]
       [--env-hidden 0] [--no-environment] [--oracle-env] [--energy interaction]
       [--pair-form conjunction]
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from bench_ep_synthetic import _generator  # noqa: E402
from benchlib import machine  # noqa: E402


def indicators(truth, gen):
    """(n, 12) float arrays of the enhancers' and the promoters' planted motifs."""
    def bits(col):
        return np.array([gen.flags(v) for v in truth[col]], dtype=np.float32)

    a, m, b = bits("enh_a"), bits("enh_marker"), bits("prom_b")
    zero = np.zeros_like(a)
    return np.hstack([a, zero, m]), np.hstack([zero, b, zero])


def run_fold(held, seed, data, args):
    import torch
    from sklearn.metrics import average_precision_score as ap
    from torch.nn import functional as F

    from toolkit.models.ep import PRESETS, EPModel

    E, P, y, cell, chrom, combos, _ = data
    test_ch, val_ch = ("chr1", "chr5", "chr9"), ("chr2", "chr3")
    train = (cell != held) & ~np.isin(chrom, test_ch + val_ch)
    test = (cell == held) & np.isin(chrom, test_ch)
    cells = sorted(set(cell[train]))

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x, x

    torch.manual_seed(seed)
    p = PRESETS["cpu"]                      # the cpu preset's head and energy; 12 indicators for each stem
    m = EPModel(len(cells), channels=12, kernel=p["kernel"], blocks=0, d=p["d"], modules=p["modules"],
                dropout=p["dropout"], energy=args.energy or p["energy"], pair_form=args.pair_form or p["pair_form"],
                env_input=p["env_input"],
                env_filters=12, env_hidden=args.env_hidden)
    m.tower, m.env_tower = Identity(), Identity()

    def oracle(c):
        v = torch.zeros(p["d"])
        v[list(combos[c])] = 1.0
        return v

    def z_E(c, rows):
        return oracle(c) if args.oracle_env else m.environment(Et[rows], Pt[rows])

    env = not args.no_environment
    opt = torch.optim.AdamW(m.parameters(), lr=args.lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    Et, Pt, yt = torch.from_numpy(E), torch.from_numpy(P), torch.from_numpy(y)
    idx = {c: np.flatnonzero(train & (cell == c)) for c in cells}
    total = sum(len(v) // 64 for v in idx.values()) * args.epochs
    step = 0
    for _ in range(args.epochs):
        batches = [(c, r) for c, v in idx.items() for r in np.array_split(rng.permutation(v), len(v) // 64)]
        rng.shuffle(batches)
        for c, r in batches:
            for g in opt.param_groups:
                g["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * step / total))
            step += 1
            z_I, _ = m.features(Et[r], Pt[r])
            loss = F.binary_cross_entropy_with_logits(m.energy(z_I, z_E(c, rng.choice(idx[c], p["support"])), env), yt[r])
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    T = np.flatnonzero(test)
    out = {}
    with torch.no_grad():
        z_I, _ = m.features(Et[T], Pt[T])
        for size, draws in ((32, 10), (256, 5)):
            vals = [ap(y[T], m.energy(z_I, z_E(held, rng.choice(T, min(size, len(T)), replace=False)), env).numpy())
                    for _ in range(draws)]
            out[size] = (float(np.mean(vals)), float(np.std(vals)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chroms", type=int, default=16)
    ap.add_argument("--seed", type=int, default=7, help="generator seed")
    ap.add_argument("--cells", default="cellA,cellB,cellC,cellD,cellE,cellF")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--env-hidden", type=int, default=0, help="f_E' hidden units (0: one linear layer)")
    ap.add_argument("--no-environment", action="store_true", help="the sequence-only model (R_E = 0)")
    ap.add_argument("--oracle-env", action="store_true", help="z_E = the line's true program indicator")
    ap.add_argument("--energy", default=None, help="the energy form (toolkit.models.ep.ENERGIES; default: the cpu "
                                                   "preset's)")
    ap.add_argument("--pair-form", default=None, help="the pair head's form (toolkit.models.ep.PAIR_FORMS; default: "
                                                      "the cpu preset's)")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    gen = _generator()
    t0 = time.time()
    _, pairs, truth, _ = gen.make(seed=args.seed, n_chroms=args.chroms)
    E, P = indicators(truth, gen)
    no_distance = np.array([gen.planted_without_distance(c, gen.flags(a), gen.flags(b))
                            for c, a, b in zip(pairs["cell"], truth["enh_a"], truth["prom_b"])])
    data = (E, P, pairs["label"].to_numpy(np.float32), pairs["cell"].to_numpy().astype(str),
            pairs["enhancer_chrom"].to_numpy().astype(str), gen.CELLS, no_distance)
    seeds = [int(s) for s in args.seeds.split(",")]
    m = machine(("numpy", "torch"))
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, Python {m['python']}, "
          f"numpy {m['numpy']}, torch {m['torch']}")
    print(f"command: python3 benchmarks/{os.path.basename(__file__)} {' '.join(sys.argv[1:] if argv is None else argv)}")
    print()
    from sklearn.metrics import average_precision_score

    print("| held-out cell | AUPR, support 32 (per seed) | AUPR, support 256 (per seed) | mean, 256 | spread, 256 | "
          "ceiling without distance |")
    print("|---|---|---|---:|---:|---:|")
    means, ceilings = [], []
    for held in args.cells.split(","):
        res = [run_fold(held, s, data, args) for s in seeds]
        s32 = " ".join(f"{r[32][0]:.3f}" for r in res)
        s256 = [r[256][0] for r in res]
        means.append(np.mean(s256))
        test = (data[3] == held) & np.isin(data[4], ("chr1", "chr5", "chr9"))
        ceilings.append(average_precision_score(data[2][test], no_distance[test]))
        print(f"| {held} | {s32} | {' '.join(f'{v:.3f}' for v in s256)} | {np.mean(s256):.3f} | "
              f"{max(s256) - min(s256):.3f} | {ceilings[-1]:.3f} |", flush=True)
    print(f"| mean of {len(means)} | | | {np.mean(means):.3f} | | {np.mean(ceilings):.3f} |")
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
