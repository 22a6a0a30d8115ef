#!/usr/bin/env python3
"""Why the pwm family cannot scan as fast as FIMO: measured lower bounds (issue 3).

The ``pwm`` family reports, per motif, the mean, variance, total weight (sum of 2^s),
entropy and top-5 mean over *every* window, so every window must be scored; memelite's
FIMO abandons a window as soon as a bound shows it cannot reach p < 1e-4. This script
times, on the same sequences and motifs, one thread, in one process:

1. memelite.fimo (p < 1e-4, its defaults, both strands);
2. toolkit.features.pwm.compute (all 8 statistics, both strands);
3. a scoring floor: the cheapest all-window scoring we could build, one 64-bit table
   read per motif piece (up to 6 positions) per window, the forward and reverse-complement
   piece scores packed as two float32, summed, and nothing else;
4. an accumulation floor: the 8 statistics accumulated in single precision over 16 lanes
   on ready-made scores (random N(-10, 4^2) values of the same count).

(3) + (4) is a lower bound for any kernel of this kind; the README quotes it against (1).
Data: the bundled lentiMPRA HepG2 table (share/examples), 230-nt sequences without N;
motifs: the HepG2 JASPAR list. Needs memelite for (1).

Usage: python3 benchmarks/bench_pwm_floor.py [--rows 5000] [--repeat 3]
"""

import argparse
import gzip
import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba.core import types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

from toolkit.features import motifs as motif_lib  # noqa: E402
from toolkit.features import pwm as P  # noqa: E402
from toolkit.features.encode import by_length  # noqa: E402

LANES = P.LANES


def read_sequences(n):
    path = os.path.join(os.path.dirname(HERE), "share", "examples", "lentimpra_HepG2.tsv.gz")
    out = []
    with gzip.open(path, "rt") as fh:
        col = fh.readline().rstrip("\n").split("\t").index("seq")
        for line in fh:
            s = line.rstrip("\n").split("\t")[col].upper()
            if len(s) == 230 and "N" not in s:
                out.append(s)
                if len(out) == n:
                    break
    return out


def packed_tables(lods, q=P.Q):
    """P._piece_tables' pieces, the forward and reverse-complement scores of each code
    packed as two float32 in one int64 (low: forward, high: reverse complement)."""
    tabs, pstart, offset, width, start, size = [], [0], [], [], [], 0
    for w in lods:
        L = w.shape[0]
        n = -(-L // q)
        o = 0
        for wd in [L // n + (j < L % n) for j in range(n)]:
            digits = (np.arange(4 ** wd)[:, None] // 4 ** np.arange(wd - 1, -1, -1)[None, :]) % 4
            cols = o + np.arange(wd)[None, :]
            lo = w[cols, digits].sum(axis=1).astype(np.float32).view(np.uint32).astype(np.uint64)
            hi = w[::-1, ::-1][cols, digits].sum(axis=1).astype(np.float32).view(np.uint32).astype(np.uint64)
            tabs.append((lo | (hi << np.uint64(32))).view(np.int64))
            start.append(size)
            size += lo.size
            offset.append(o)
            width.append(wd)
            o += wd
        pstart.append(len(offset))
    return (np.concatenate(tabs),) + tuple(np.array(a, dtype=np.int64) for a in (pstart, offset, width, start))


@numba.njit(**P._KERNEL)
def scoring_floor(codes, tab, pstart, offset, width, start, lengths):
    """Sum of the packed piece entries of every window of every motif (3)."""
    n, L = codes.shape
    q = width.max()
    cw = np.zeros((q, L * LANES), dtype=np.uint32)
    s = np.empty(L * LANES, dtype=np.int64)
    check = 0
    for i0 in range(0, n, LANES):
        nb = min(LANES, n - i0)
        for p in range(L):
            for i in range(LANES):
                cw[0, p * LANES + i] = codes[i0 + i, p] if i < nb else 0
        for w in range(1, q):
            for u in range((L - w) * LANES):
                cw[w, u] = cw[w - 1, u] * 4 + cw[0, u + w * LANES]
        for k in range(lengths.shape[0]):
            m = (L - lengths[k] + 1) * LANES
            for j in range(pstart[k], pstart[k + 1]):
                idx = cw[width[j] - 1, offset[j] * LANES:]
                t = tab[start[j]:]
                if j == pstart[k]:
                    for u in range(m):
                        s[u] = t[idx[u]]
                else:
                    for u in range(m):
                        s[u] += t[idx[u]]
            check += s[0]
    return check


@intrinsic
def _bits_as_float32(typingctx, x):
    """The float32 whose bit pattern is the int32 ``x``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@numba.njit(inline="always", fastmath=P._FAST)
def _exp2f(x):
    """2**x in single precision, degree-5 polynomial (relative error < 3e-7)."""
    x = max(x, np.float32(-120.0))
    n = np.floor(x + np.float32(0.5))
    f = x - n
    p = np.float32(1.3333558e-3)
    p = p * f + np.float32(9.6181291e-3)
    p = p * f + np.float32(5.5504109e-2)
    p = p * f + np.float32(2.4022651e-1)
    p = p * f + np.float32(6.9314718e-1)
    p = p * f + np.float32(1.0)
    return p * _bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))


@numba.njit(**P._KERNEL)
def _accumulate32(sF, sR, W, thr, top, best, part):
    thr32, top32 = np.float32(thr), np.float32(top)
    one, zero = np.float32(1.0), np.float32(0.0)
    best[:] = -np.inf
    part[:] = 0.0
    s1, s2, high, z, zs = part[0], part[1], part[2], part[3], part[4]
    for t in range(W):
        r = t * LANES
        for i in range(LANES):
            x = sF[r + i]
            y = sR[r + i]
            s1[i] += x + y
            s2[i] += x * x + y * y
            high[i] += (one if x >= thr32 else zero) + (one if y >= thr32 else zero)
            wx = _exp2f(x - top32)
            wy = _exp2f(y - top32)
            z[i] += wx + wy
            zs[i] += wx * x + wy * y
            for j in range(4, 0, -1):
                best[j * LANES + i] = max(best[j * LANES + i], min(best[(j - 1) * LANES + i], x))
            best[i] = max(best[i], x)
            for j in range(4, 0, -1):
                best[j * LANES + i] = max(best[j * LANES + i], min(best[(j - 1) * LANES + i], y))
            best[i] = max(best[i], y)


@numba.njit(**P._KERNEL)
def accumulation_floor(n, L, lengths, thresholds, top, sF, sR):
    """The 8 statistics' accumulation for n sequences of length L and every motif (4)."""
    best = np.empty(5 * LANES, dtype=np.float32)
    part = np.empty((5, LANES), dtype=np.float32)
    check = 0.0
    for _ in range(0, n, LANES):
        for k in range(lengths.shape[0]):
            _accumulate32(sF, sR, L - lengths[k] + 1, thresholds[k], top[k], best, part)
            check += part.sum() + best.sum()
    return check


def best_of(fn, repeat):
    fn()                                   # compile or warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    seqs = read_sequences(args.rows)
    motifs = motif_lib.cell_type_motifs("HepG2")
    sc = P._scorer(motifs, None, P.PSEUDOCOUNT, P.P_THRESHOLD)
    (_, codes), = list(by_length(seqs))
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, L = codes.shape
    work = len(motifs) * n * L
    res = {}
    try:
        from memelite import fimo
        probs = {str(i): (np.exp2(P.log_odds(m.counts)) * 0.25).T.copy() for i, m in enumerate(motifs)}
        X = np.zeros((n, 4, L), dtype=np.int8)
        np.put_along_axis(X, codes[:, None, :].astype(np.int64), 1, axis=1)
        res["memelite FIMO, p < 1e-4"] = best_of(lambda: fimo(probs, X, eps=0.0), args.repeat)
    except ImportError:
        print("memelite not installed: FIMO not timed", file=sys.stderr)
    res["pwm.compute, all 8 statistics"] = best_of(lambda: P.compute(seqs, None, motifs=motifs), args.repeat)
    packed = packed_tables(sc.lods)
    res["floor: scoring every window"] = best_of(lambda: scoring_floor(codes, *packed, sc.lengths), args.repeat)
    rng = np.random.default_rng(0)
    sF = (rng.standard_normal(L * LANES) * 4 - 10).astype(np.float32)
    sR = (rng.standard_normal(L * LANES) * 4 - 10).astype(np.float32)
    res["floor: accumulating 8 statistics"] = best_of(
        lambda: accumulation_floor(n, L, sc.lengths, sc.thresholds, sc.top, sF, sR), args.repeat)
    print(f"{n} sequences x {L} nt x {len(motifs)} motifs, both strands, 1 thread, best of {args.repeat}")
    for k, t in res.items():
        print(f"  {k:36s} {t:7.4f} s  {work / t / 1e6:7.0f} M motif.bp/s")
    floor = res["floor: scoring every window"] + res["floor: accumulating 8 statistics"]
    print(f"  {'sum of the two floors':36s} {floor:7.4f} s")
    if "memelite FIMO, p < 1e-4" in res:
        f = res["memelite FIMO, p < 1e-4"]
        print(f"ratio FIMO time / ours: {f / res['pwm.compute, all 8 statistics']:.2f}; "
              f"FIMO time / floor: {f / floor:.2f} (the most any such kernel could reach)")


if __name__ == "__main__":
    main()
