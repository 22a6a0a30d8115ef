#!/usr/bin/env python3
"""Throughput benchmark of `descfeat`: the full descriptor set, PWM scanning against
memelite's FIMO, and the vectorised families against per-sequence Python baselines.

(0) The bundled table as users run it: the 12,292 sequences of
    share/examples/lentimpra_HepG2.tsv.gz, HepG2 motifs, TSV to standard output (a
    regular file standing for it), whole process, -j 1 and -j 2, interleaved and
    repeated (median), each output checked byte for byte against the others; with
    --baseline-tree OLD (a checkout of earlier code, e.g. a git worktree) the same runs
    of that code too, in the same rounds. Prints sequences/s, the -j 2 / -j 1 ratio and
    the speed-up over the baseline. Targets: >= 2,000 sequences/s with -j 1, ratio >= 1.8.
    Needs nothing outside the repository.

Builds a table of 77,157 real lentiMPRA sequences (200-230 nt) by resampling, with
replacement and a fixed seed, the rows of ../shared/data/lentimpra/HepG2.tsv and
../shared/data/lentimpra/joint_3cell.csv (about a third trimmed to their central
200 nt), then measures in one run:

  (1) python3 -m toolkit.cli.descfeat input.tsv --cell-type HepG2 -q -j 2 -o out.h5   (and -j 1)
      as a subprocess: sequences/s, peak RSS of the command (wait4), peak PSS of its
      process tree; plus -j 2 with BLAS/OpenMP threads set to 1, for reference.
      Target: >= 2,000 sequences/s.
  (2) the pwm family's compute() (8 statistics per motif, both strands) against
      memelite.fimo on the same HepG2 motifs and the same sequences: motif x bp per
      second and the ratio ours / FIMO, per core and on all cores. Target: >= 1.
  (3) per-sequence Python baselines of the thermo and entropy families, written here
      as the PhysInformer design document writes them (dict lookup per step,
      collections.Counter per window), in two styles (design: numpy calls per sequence
      as the document's code; lean: plain Python), for the design's loops and for all
      the family's descriptors, checked against our values and timed against the
      vectorised family compute() on the same sequences. Target: >= 100x.

Needs `pip install memelite` for (2). See benchmarks/README.md.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(HERE)
RUN = {"repo": REPO, "label": None}   # the checkout measured (--repo) and its --label
SHARED = os.path.join(REPO, os.pardir, "shared", "data", "lentimpra")
DEFAULT_SOURCES = (os.path.join(SHARED, "HepG2.tsv"), os.path.join(SHARED, "joint_3cell.csv"))

ADAPTER = 15                 # lentiMPRA: 15-nt adapter + 200-nt element + 15-nt adapter
TARGET_SEQS_PER_S = 2000     # (0) with -j 1, (1)
TARGET_J2_RATIO = 1.8        # (0): -j 2 against -j 1
HEPG2_TABLE = os.path.join(REPO, "share", "examples", "lentimpra_HepG2.tsv.gz")
TARGET_PWM_RATIO = 1.0       # (2)
TARGET_SPEEDUP = 100.0       # (3)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- input

def generate(sources, n_rows, path, seed=2025, trim_fraction=1 / 3):
    """Write an n_rows TSV (seq_id, seq, activity) of real lentiMPRA sequences.

    Rows are drawn uniformly, with replacement, from the pooled rows of the HepG2
    table (``seq_id, seq, mean_value``) and the joint 3-cell table (``name, sequence,
    HepG2_l2fc``); a ``trim_fraction`` of them is cut to its central 200 nt (the
    element without its 15-nt adapters), so lengths are 200 or 230.

    Returns a dict describing the input.
    """
    import pandas as pd

    hep, joint = sources
    a = pd.read_csv(hep, sep="\t", dtype=str, keep_default_na=False)
    b = pd.read_csv(joint, dtype=str, keep_default_na=False)
    ids = a["seq_id"].tolist() + b["name"].tolist()
    seqs = a["seq"].str.upper().tolist() + b["sequence"].str.upper().tolist()
    acts = a["mean_value"].tolist() + b["HepG2_l2fc"].tolist()
    m = len(seqs)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, m, size=n_rows)
    trim = rng.random(n_rows) < trim_fraction
    lengths = np.zeros(n_rows, dtype=np.int64)
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("seq_id\tseq\tactivity\n")
        lines = []
        for i, (p, t) in enumerate(zip(pick.tolist(), trim.tolist())):
            s = seqs[p]
            if t and len(s) > 200:
                c = (len(s) - 200) // 2
                s = s[c:c + 200]
            lengths[i] = len(s)
            lines.append(f"bench{i:06d}_{ids[p]}\t{s}\t{acts[p]}\n")
            if len(lines) >= 50_000:
                fh.write("".join(lines))
                lines = []
        fh.write("".join(lines))
    vals, counts = np.unique(lengths, return_counts=True)
    return {"rows": n_rows, "sources": [os.path.relpath(os.path.realpath(s), REPO) for s in sources],
            "source_rows": m, "lengths": {int(v): int(c) for v, c in zip(vals, counts)},
            "bp": int(lengths.sum()), "trim_fraction": trim_fraction, "seed": seed,
            "bytes": os.path.getsize(path)}


def read_seqs(path, n=None):
    """The first n sequences (column ``seq``) of a generated input."""
    out = []
    with open(path, encoding="ascii") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        col = header.index("seq")
        for line in fh:
            if n is not None and len(out) >= n:
                break
            out.append(line.rstrip("\n").split("\t")[col])
    return out


# --------------------------------------------------------------------------- (1) the command

# A tiny launcher between this process and the measured command. ru_maxrss of a
# child forked from this process and then exec'd starts at *this* process's
# high-water RSS, which would hide a command smaller than this process. The
# launcher is a fresh small interpreter; it forks the command, times it, and
# reports the command's own wait4() rusage: ru_maxrss is the largest RSS of the
# command or of any process it waited for (its -j workers), not their sum. So it
# also samples, every 0.25 s, the summed PSS (shared pages split between the
# processes that share them) of the command's whole process tree.
LAUNCHER = r"""
import json, os, sys, time
def tree_pss(root):
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as fh:
                    st = fh.read()
                ppid = int(st[st.rindex(')') + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError):
                pass
    todo, total = [root], 0
    while todo:
        p = todo.pop()
        todo.extend(kids.get(p, ()))
        try:
            with open('/proc/%d/smaps_rollup' % p) as fh:
                for line in fh:
                    if line.startswith('Pss:'):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
peak = 0
while True:
    got, status, ru = os.wait4(pid, os.WNOHANG)
    if got:
        break
    peak = max(peak, tree_pss(pid))
    time.sleep(0.25)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump({"seconds": wall, "maxrss_kib": ru.ru_maxrss, "tree_pss_kib": peak, "user": ru.ru_utime,
               "sys": ru.ru_stime, "rc": os.waitstatus_to_exitcode(status)}, fh)
sys.exit(0)
"""


def run_child(argv, timeout=None, env=None, cwd=None, stdout=None):
    """Run argv from the measured checkout (or ``cwd``) through LAUNCHER, its standard
    output to the file ``stdout`` (a path; default: discarded).

    Returns wall seconds, peak RSS of the command (MB = 10^6 bytes), peak PSS of its
    process tree, CPU seconds, exit code, stderr tail.
    """
    load = os.getloadavg()[0]
    errf = tempfile.TemporaryFile()
    fd, res_path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    outf = open(stdout, "wb") if stdout else None
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, res_path] + list(argv), cwd=cwd or RUN["repo"],
                            stdout=outf or subprocess.DEVNULL, stderr=errf, start_new_session=True,
                            env=None if env is None else {**os.environ, **env})
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the launcher's own session: the launcher and the command only
        proc.wait()
        timed_out = True
    outer = time.perf_counter() - t0
    if outf is not None:
        outf.close()
    errf.seek(0)
    err = errf.read().decode("utf-8", "replace")
    errf.close()
    try:
        with open(res_path) as fh:
            res = json.load(fh)
    except (OSError, ValueError):
        res = {"seconds": outer, "maxrss_kib": 0, "tree_pss_kib": 0, "user": None, "sys": None,
               "rc": proc.returncode or -1}
    os.unlink(res_path)
    return {"seconds": res["seconds"], "peak_rss_mb": res["maxrss_kib"] * 1024 / 1e6,
            "peak_tree_pss_mb": res["tree_pss_kib"] * 1024 / 1e6,
            "cpu_seconds": None if res["user"] is None else res["user"] + res["sys"],
            "rc": res["rc"], "timed_out": timed_out, "stderr": err[-3000:], "load_average_before": load}


def check_h5(path, n_rows):
    """Shape and NaN count of a descfeat HDF5 output (a sanity check, not timed)."""
    import h5py

    with h5py.File(path, "r") as h5:
        ds = h5["descriptors"]
        n, d = ds.shape
        nan = 0
        for s in range(0, n, 20000):
            nan += int(np.isnan(ds[s:s + 20000]).sum())
    return {"rows": int(n), "descriptors": int(d), "nan_values": nan, "rows_ok": int(n) == n_rows}


# --------------------------------------------------------------------------- (0) the bundled table, TSV

def table_rows(path):
    """Data rows of a (gzipped) TSV with one header line."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return sum(1 for _ in fh) - 1


def measure_hepg2(table, trees, jobs, repeat, timeout, work):
    """(0): ``python3 -m toolkit.cli.descfeat TABLE --cell-type HepG2 -q -j J`` with standard
    output to a file, whole process, for every (tree, J) in ``trees`` x ``jobs``.

    The runs go round by round, every (tree, J) once per round, the order of the trees
    alternating, so that a machine busy with other work slows them alike; the median of
    ``repeat`` rounds is reported. Every output is compared byte for byte (SHA-256) with
    the first run's.

    Parameters
    ----------
    trees : list of (label, checkout folder)

    Returns
    -------
    dict: ``rows``, ``runs`` {"label -j J": run dict with all_seconds, sequences_per_second},
    ``identical`` (bool), ``differs`` (labels of runs whose output was not the first's).
    """
    import hashlib

    n = table_rows(table)
    runs = {f"{label} -j {j}": [] for label, _ in trees for j in jobs}
    first, differs = None, []
    out = os.path.join(work, "hepg2_out.tsv")
    for r in range(repeat):
        order = trees if r % 2 == 0 else trees[::-1]
        for label, tree in order:
            for j in jobs:
                key = f"{label} -j {j}"
                argv = [sys.executable, "-m", "toolkit.cli.descfeat", table, "--cell-type", "HepG2", "-q", "-j",
                        str(j)]
                res = run_child(argv, timeout=timeout, cwd=tree, stdout=out)
                ok = res["rc"] == 0 and not res["timed_out"]
                if ok:
                    h = hashlib.sha256()
                    with open(out, "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 22), b""):
                            h.update(block)
                    res["sha256"] = h.hexdigest()
                    if first is None:
                        first = res["sha256"]
                    elif res["sha256"] != first and key not in differs:
                        differs.append(key)
                else:
                    log(res["stderr"])
                os.unlink(out)
                log(f"(0) round {r + 1}: {key}: {res['seconds']:.2f} s, {fmt_rate(n / res['seconds'])} seq/s, "
                    f"CPU {res['cpu_seconds'] or 0:.2f} s, rc={res['rc']}, load before "
                    f"{res['load_average_before']:.2f}")
                runs[key].append(res)
    summary = {}
    for key, reps in runs.items():
        ok = [x for x in reps if x["rc"] == 0 and not x["timed_out"]]
        med = sorted(ok, key=lambda x: x["seconds"])[len(ok) // 2] if ok else None
        summary[key] = {"all_seconds": [round(x["seconds"], 3) for x in ok],
                        "cpu_seconds": [round(x["cpu_seconds"] or 0, 2) for x in ok],
                        "failed": [("timed out" if x["timed_out"] else f"exit {x['rc']}") for x in reps if x not in ok],
                        "seconds": med["seconds"] if med else None,
                        "sequences_per_second": n / med["seconds"] if med else None,
                        "peak_rss_mb": max(x["peak_rss_mb"] for x in reps)}
    return {"rows": n, "table": os.path.relpath(table, REPO) if table.startswith(REPO) else table,
            "runs": summary, "identical": not differs and first is not None, "differs": differs}


def hepg2_rows(res, labels, jobs):
    """Report rows of (0): sequences/s of each run, the -j ratio of each tree, the speed-up
    of this checkout over the baseline."""
    n, runs = res["rows"], res["runs"]
    rows = []
    cmd = f"descfeat {os.path.basename(res['table'])} --cell-type HepG2 -q -j J > out.tsv"
    for label in labels:
        for j in jobs:
            r = runs[f"{label} -j {j}"]
            sps = r["sequences_per_second"]
            fig = "failed" if sps is None else (
                f"{fmt_rate(sps)} seq/s ({n:,} seq; median of {', '.join(f'{x:.2f}' for x in r['all_seconds'])} s; "
                f"CPU {', '.join(f'{x:.1f}' for x in r['cpu_seconds'])} s)")
            if r["failed"]:
                fig += f"; {len(r['failed'])} run(s) failed: {', '.join(r['failed'])}"
            gated = label == labels[0] and j == 1
            rows.append({"what": f"(0) `{cmd}`, J = {j}, {label}", "figure": fig,
                         "target": f">= {TARGET_SEQS_PER_S:,} seq/s" if gated else "(reference)",
                         "result": _verdict(sps is not None and sps >= TARGET_SEQS_PER_S, sps) if gated else ""})
        if 1 in jobs and 2 in jobs:
            a, b = runs[f"{label} -j 1"]["seconds"], runs[f"{label} -j 2"]["seconds"]
            ratio = a / b if a and b else None
            gated = label == labels[0]
            rows.append({"what": f"(0) -j 2 / -j 1, {label}",
                         "figure": "n/a" if ratio is None else f"{ratio:.2f}x",
                         "target": f">= {TARGET_J2_RATIO:g}x" if gated else "(reference)",
                         "result": _verdict(ratio is not None and ratio >= TARGET_J2_RATIO, ratio) if gated else ""})
    if len(labels) > 1:
        for j in jobs:
            a, b = runs[f"{labels[1]} -j {j}"]["seconds"], runs[f"{labels[0]} -j {j}"]["seconds"]
            rows.append({"what": f"(0) speed-up of {labels[0]} over {labels[1]}, -j {j}",
                         "figure": "n/a" if not (a and b) else f"{a / b:.2f}x", "target": "(reference)",
                         "result": ""})
    rows.append({"what": "(0) outputs of all runs byte-identical", "figure": "yes" if res["identical"] else
                 "NO: " + ", ".join(res["differs"]), "target": "identical",
                 "result": "PASS" if res["identical"] else "FAIL"})
    return rows


# --------------------------------------------------------------------------- workers (child processes)

def _load_motifs():
    sys.path.insert(0, RUN["repo"])
    from toolkit.features import motifs as motif_lib

    return motif_lib.cell_type_motifs("HepG2")


def motif_probabilities(motif):
    """A motif of toolkit.features.motifs as the (4, width) probability matrix, rows A C G T,
    whose log-odds the pwm family scores with: p = 2**W * 0.25 with W = pwm.log_odds(counts)
    (the family's pseudocount 0.8, uniform background). memelite takes probabilities and
    applies log2(p + eps) - log2(0.25); it is called with eps=0, so its scores are W (p > 0 everywhere)."""
    from toolkit.features import pwm

    return (np.exp2(pwm.log_odds(motif.counts)) * 0.25).T.copy()


def motif_name(motif, i):
    for attr in ("name", "id", "matrix_id"):
        v = getattr(motif, attr, None)
        if v:
            return str(v)
    return f"motif{i}"


def worker_ours_pwm(inp, rows, cores, repeat=3):
    """Time the pwm family's compute() on the first ``rows`` sequences; ``cores`` processes."""
    sys.path.insert(0, RUN["repo"])
    from toolkit.features import pwm
    from toolkit.features.params import default_params

    seqs = read_seqs(inp, rows)
    motifs = _load_motifs()
    params = default_params()
    names = [d.name for d in pwm.descriptors(params, motifs=motifs)]
    pwm.compute(seqs[:200], params, motifs=motifs)          # warm-up: imports, caches
    times, cpus = [], []
    pool = None
    if cores > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(cores, initializer=_pool_init, initargs=(motifs,))
        pool.map(_pool_pwm, [seqs[:200]] * cores, chunksize=1)  # workers started and warm
    try:
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            if pool is None:
                vals = pwm.compute(seqs, params, motifs=motifs)
            else:
                # chunks as descfeat -j hands them out; the workers send back float64 arrays
                step = 2000
                parts = [seqs[s:s + step] for s in range(0, len(seqs), step)]
                vals = np.concatenate(pool.map(_pool_pwm, parts, chunksize=1))
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    finally:
        if pool is not None:
            pool.terminate()
    assert vals.shape == (len(seqs), len(names)), vals.shape
    k = int(np.argsort(times)[len(times) // 2])
    high = [i for i, nm in enumerate(names[:8 * len(motifs)]) if nm.endswith("_num_high_affinity")]
    return {"seconds": times[k], "all_seconds": [round(t, 4) for t in times],
            "cpu_seconds": cpus[k] if pool is None else None, "sequences": len(seqs), "bp": sum(map(len, seqs)),
            "motifs": len(motifs), "descriptors": len(names), "cores": cores,
            "nan_values": int(np.isnan(vals).sum()), "high_affinity_sites": int(np.nansum(vals[:, high]))}


_POOL = {}


def _pool_init(motifs):
    from toolkit.features.params import default_params

    _POOL["motifs"] = motifs
    _POOL["params"] = default_params()


def _pool_pwm(seqs):
    from toolkit.features import pwm

    return pwm.compute(seqs, _POOL["params"], motifs=_POOL["motifs"])


def one_hot_groups(seqs):
    """{length: (indices, int8 one-hot array (m, 4, length))}: memelite.fimo takes one
    array of equal-length sequences, so each length is one call."""
    code = np.full(256, 4, dtype=np.uint8)
    for i, b in enumerate(b"ACGT"):
        code[b] = i
    lengths = np.array([len(s) for s in seqs])
    out = {}
    for L in np.unique(lengths):
        idx = np.flatnonzero(lengths == L)
        c = code[np.frombuffer("".join(seqs[i] for i in idx).encode(), dtype=np.uint8)].reshape(len(idx), L)
        X = np.zeros((len(idx), 5, L), dtype=np.int8)
        np.put_along_axis(X, c[:, None, :].astype(np.int64), 1, axis=1)
        out[int(L)] = (idx, np.ascontiguousarray(X[:, :4]))
    return out


def worker_fimo(inp, rows, cores, repeat=3):
    """Time memelite.fimo (both strands, p < 1e-4, its defaults) on the same sequences and
    motifs; numba threads = ``cores`` (set through NUMBA_NUM_THREADS by the parent)."""
    import numba
    from memelite import fimo

    seqs = read_seqs(inp, rows)
    motifs = _load_motifs()
    pwms = {f"{i}_{motif_name(m, i)}": motif_probabilities(m) for i, m in enumerate(motifs)}
    groups = one_hot_groups(seqs)
    # Warm-up: numba JIT compilation (or loading its on-disk cache) on a small batch of each length.
    t0 = time.perf_counter()
    for L, (_, X) in groups.items():
        fimo(pwms, X[:50], eps=0.0)
    warm = time.perf_counter() - t0
    times, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        n_hits = 0
        for L, (_, X) in groups.items():
            hits = fimo(pwms, X, eps=0.0)
            n_hits += sum(len(h) for h in hits)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    k = int(np.argsort(times)[len(times) // 2])
    return {"seconds": times[k], "all_seconds": [round(t, 4) for t in times], "cpu_seconds": cpus[k],
            "sequences": len(seqs), "bp": sum(map(len, seqs)),
            "motifs": len(pwms), "cores": cores, "numba_threads": numba.get_num_threads(),
            "calls": len(groups), "hits": n_hits, "warmup_seconds": warm}


def worker_pwm_agreement(inp, rows):
    """Our pwm max score against FIMO's best window score (threshold 1: every window
    reported) on a few sequences: largest absolute difference, and Pearson r per motif.
    A check that both scan the same motifs, with the same log-odds, on the same sequences."""
    sys.path.insert(0, RUN["repo"])
    from memelite import fimo

    from toolkit.features import pwm
    from toolkit.features.params import default_params

    seqs = [s for s in read_seqs(inp, rows * 3) if len(s) == 230][:rows]
    motifs = _load_motifs()
    params = default_params()
    names = [d.name for d in pwm.descriptors(params, motifs=motifs)]
    ours = pwm.compute(seqs, params, motifs=motifs)
    pwms = {f"{i}": motif_probabilities(m) for i, m in enumerate(motifs)}
    (_, X), = one_hot_groups(seqs).values()
    hits = fimo(pwms, X, threshold=1.0, eps=0.0)
    best = np.full((len(seqs), len(motifs)), -np.inf)
    for k, h in enumerate(hits):
        if len(h):
            g = h.groupby("sequence_name")["score"].max()
            best[g.index.to_numpy(dtype=np.int64), k] = g.to_numpy()
    max_cols = [i for i, n in enumerate(names) if n.endswith("_max_score")][:len(motifs)]
    rs = []
    diff = 0.0
    for k, c in enumerate(max_cols):
        a, b = ours[:, c], best[:, k]
        ok = np.isfinite(a) & np.isfinite(b)
        diff = max(diff, float(np.max(np.abs(a[ok] - b[ok]))))
        if ok.sum() > 2 and a[ok].std() > 0 and b[ok].std() > 0:
            rs.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
    return {"sequences": len(seqs), "motifs_compared": len(rs), "max_score_columns": len(max_cols),
            "max_abs_diff_bits": diff,
            "median_r": float(np.median(rs)) if rs else None, "min_r": float(np.min(rs)) if rs else None}


# --------------------------------------------------------------------------- (3) baselines

# BASELINE: straightforward per-sequence Python, as the PhysInformer design document
# (sections 4.1-4.3, 5.2.2, 8) writes its processors: one nested-dict lookup per step, one
# dict / collections.Counter of k-mers per sequence and per window, then statistics. They
# compute a subset of our descriptors with the same definitions, so the values can be
# compared. Two styles of the same loops:
#   "design": as the document's code does it: np.log2 on each probability inside the
#             generator (section 4.3.1), np.mean/np.var/np.percentile/... on each
#             sequence's list (section 8.1.1);
#   "lean":   the same loops in plain Python: math.log2 and statistics computed in Python
#             (no numpy call per sequence), the fastest way to write them per sequence.

class _Lean:
    """Statistics of a per-sequence list, plain Python."""

    log2 = staticmethod(math.log2)

    @staticmethod
    def mean(xs):
        return sum(xs) / len(xs)

    @staticmethod
    def var(xs):
        """Population variance (ddof 0)."""
        m = sum(xs) / len(xs)
        return sum((x - m) ** 2 for x in xs) / len(xs)

    @classmethod
    def std(cls, xs):
        return math.sqrt(cls.var(xs))

    min = staticmethod(min)
    max = staticmethod(max)
    total = staticmethod(sum)

    @staticmethod
    def percentile(xs, q):
        """numpy.percentile's default ('linear')."""
        s = sorted(xs)
        pos = (len(s) - 1) * q / 100.0
        lo = int(math.floor(pos))
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)


class _Design:
    """Statistics of a per-sequence list as the design document's code computes them."""

    log2 = staticmethod(np.log2)
    mean = staticmethod(np.mean)
    var = staticmethod(np.var)
    std = staticmethod(np.std)
    min = staticmethod(np.min)
    max = staticmethod(np.max)
    total = staticmethod(np.sum)
    percentile = staticmethod(np.percentile)


STYLES = {"design": _Design, "lean": _Lean}


class BaselineThermo:
    """BASELINE thermo: nearest-neighbour dH/dS/dG per dinucleotide step, one dict lookup per
    step (design 5.2.2: ``dG[i] = nn_params[dinuc]['dH'] - T * (nn_params[dinuc]['dS'] / 1000)``)."""

    def __init__(self, params, style="lean", temperature=310.15, full=False):
        self.full = full
        t = params.table("nn_thermo")
        self.nn_params = {str(row.iloc[0]): {"dH": float(row["SL1998_dH"]), "dS": float(row["SL1998_dS"])}
                          for _, row in t.iterrows()}
        self.T = temperature
        self.st = STYLES[style]

    def features(self, seq):
        st = self.st
        dH, dS, dG = [], [], []
        for i in range(len(seq) - 1):
            dinuc = seq[i:i + 2]
            if dinuc not in self.nn_params:          # a step with N
                continue
            dH.append(self.nn_params[dinuc]["dH"])
            dS.append(self.nn_params[dinuc]["dS"])
            dG.append(self.nn_params[dinuc]["dH"] - self.T * (self.nn_params[dinuc]["dS"] / 1000))
        f = {}
        for name, xs in (("dH", dH), ("dS", dS), ("dG", dG)):
            f[f"thermo_total_{name}"] = st.total(xs)
            f[f"thermo_mean_{name}"] = st.mean(xs)
            f[f"thermo_var_{name}"] = st.var(xs)
            if name != "dH":                          # the family has no min/max of dH
                f[f"thermo_min_{name}"] = st.min(xs)
                f[f"thermo_max_{name}"] = st.max(xs)
            for q in (5, 10, 25, 50, 75, 90, 95):
                f[f"thermo_{name}_p{q}"] = st.percentile(xs, q)
            f[f"thermo_{name}_iqr"] = st.percentile(xs, 75) - st.percentile(xs, 25)
        gc = seq.count("G") + seq.count("C")
        at = seq.count("A") + seq.count("T")
        # design 5.2.2: Wallace Tm = 2*(A+T) + 4*(G+C); Tm = 81.5 + 16.6*log10([Na+]) + 0.41*(%GC) - 675/length
        f["thermo_melting_temp_wallace"] = 2 * at + 4 * gc
        f["thermo_melting_temp_gc_adjusted"] = (81.5 + 16.6 * math.log10(0.05) + 0.41 * (100.0 * gc / (gc + at))
                                                - 675.0 / (gc + at))
        if self.full:
            f.update(self._profile_features(seq, dG))
        return f

    def _profile_features(self, seq, dG):
        """The 4 descriptors of the order of the dG profile (N-free sequences only): strict local
        minima / maxima (a plateau counts once, the ends never), and runs of >= 3 consecutive
        steps from the most / least stable quartile of the 16-step table."""
        flat = [dG[0]]
        for x in dG[1:]:
            if x != flat[-1]:
                flat.append(x)
        minima = sum(1 for i in range(1, len(flat) - 1) if flat[i - 1] > flat[i] < flat[i + 1])
        maxima = sum(1 for i in range(1, len(flat) - 1) if flat[i - 1] < flat[i] > flat[i + 1])
        table = {d: p["dH"] - self.T * (p["dS"] / 1000) for d, p in self.nn_params.items()}
        lo, hi = _Lean.percentile(list(table.values()), 25), _Lean.percentile(list(table.values()), 75)
        f = {"thermo_local_min_count": minima, "thermo_local_max_count": maxima}
        for name, member in (("low", lambda v: v <= lo), ("high", lambda v: v >= hi)):
            runs, length = 0, 0
            for i in range(len(seq) - 1):
                if member(table[seq[i:i + 2]]):
                    length += 1
                else:
                    runs += length >= 3
                    length = 0
            runs += length >= 3
            f[f"thermo_{name}_energy_runs"] = runs
        return f


class BaselineEntropy:
    """BASELINE entropy: k-mer counts in a dict (design 4.3.1), Shannon entropy of every
    sliding window with collections.Counter, GC entropy of every sliding window, conditional
    and Rényi entropy, mutual information at a distance."""

    def __init__(self, params=None, style="lean", full=False):
        self.st = STYLES[style]
        self.full = full

    def _shannon(self, counts):
        """design 4.3.1: probabilities from counts, -sum p log2 p."""
        log2 = self.st.log2
        total = sum(counts.values())
        probs = [count / total for count in counts.values()]
        return -sum(p * log2(p) for p in probs if p > 0)

    def features(self, seq):
        st, log2 = self.st, self.st.log2
        f = {"entropy_shannon_global": self._shannon(Counter(seq))}
        for w in (5, 10, 15, 20):
            hs = [self._shannon(Counter(seq[i:i + w])) for i in range(len(seq) - w + 1)]
            f[f"entropy_shannon_w{w}_mean"] = st.mean(hs)
            f[f"entropy_shannon_w{w}_max"] = st.max(hs)
            f[f"entropy_shannon_w{w}_min"] = st.min(hs)
            f[f"entropy_shannon_w{w}_std"] = st.std(hs)
        for k in range(1, 7):                        # design 4.3.1, compute_shannon_entropy(sequence, k)
            kmer_counts = {}
            for i in range(len(seq) - k + 1):
                kmer = seq[i:i + k]
                kmer_counts[kmer] = kmer_counts.get(kmer, 0) + 1
            f[f"entropy_kmer_{k}mer"] = self._shannon(kmer_counts)
        # design 5.2.2: H(X_n | X_{n-1}..X_1) = H(X_n..X_1) - H(X_{n-1}..X_1), the context
        # being the first o bases of each (o+1)-mer
        for o in (1, 2, 3):
            joint = Counter(seq[i:i + o + 1] for i in range(len(seq) - o))
            ctx = Counter()
            for kmer, c in joint.items():
                ctx[kmer[:o]] += c
            f[f"entropy_conditional_order{o}"] = max(self._shannon(joint) - self._shannon(ctx), 0.0)
        # design 5.2.2: Renyi H_a = log2(sum p^a) / (1 - a); a=0 log2 #symbols present; a=inf -log2 max p
        comp = Counter(seq)
        ps = [c / len(seq) for c in comp.values()]
        f["entropy_renyi_entropy_alpha0.0"] = log2(len(ps))
        f["entropy_renyi_entropy_alpha0.5"] = log2(sum(p ** 0.5 for p in ps)) / 0.5
        f["entropy_renyi_entropy_alpha2.0"] = -log2(sum(p * p for p in ps))
        f["entropy_renyi_entropy_alphainf"] = -log2(max(ps))
        # mutual information between the bases d apart
        for d in (1, 2, 3, 5, 10):
            pairs = Counter(zip(seq[:-d], seq[d:]))
            n = len(seq) - d
            left, right = Counter(), Counter()
            for (x, y), c in pairs.items():
                left[x] += c
                right[y] += c
            mi = sum(c / n * log2((c / n) / ((left[x] / n) * (right[y] / n))) for (x, y), c in pairs.items())
            f[f"entropy_mutual_info_dist{d}"] = max(mi, 0.0)
        # GC entropy of every w-bp window (binary entropy of the GC fraction)
        for w in (5, 10):
            hs = []
            for i in range(len(seq) - w + 1):
                win = seq[i:i + w]
                p = (win.count("G") + win.count("C")) / w
                hs.append(0.0 if p in (0.0, 1.0) else -(p * log2(p) + (1 - p) * log2(1 - p)))
            f[f"entropy_gc_entropy_w{w}_mean"] = st.mean(hs)
            f[f"entropy_gc_entropy_w{w}_max"] = st.max(hs)
        if self.full:
            f.update(self._complexity_features(seq))
        return f

    def _complexity_features(self, seq):
        """The other 7 entropy descriptors (N-free sequences only), written directly."""
        log2 = self.st.log2
        L = len(seq)
        f = {}
        # Lempel-Ziv (1976) exhaustive parse: each phrase is the longest previous factor + 1 symbol
        i = c = 0
        while i < L:
            k = 0
            while i + k < L and seq.find(seq[i:i + k + 1], 0, i + k) != -1:
                k += 1
            c += 1
            i += k + 1
        f["entropy_lempel_ziv_complexity"] = c * (math.log(L) / math.log(4)) / L
        # linguistic complexity: distinct k-mers over the most possible, summed over k = 1..L
        num = den = 0
        for k in range(1, L + 1):
            n_k = L - k + 1
            distinct = len({seq[j:j + k] for j in range(n_k)})
            if distinct == n_k and 4 ** k >= n_k:    # every longer k-mer is distinct too
                rest = sum(L - kk + 1 for kk in range(k, L + 1))
                num += rest
                den += rest
                break
            num += distinct
            den += min(4 ** k, n_k)
        f["entropy_linguistic_complexity"] = num / den
        # adaptive order-2 model, Krichevsky-Trofimov estimator, coded sequentially
        counts = {}
        bits = 0.0
        for j in range(2, L):
            ctx = counts.setdefault(seq[j - 2:j], {"A": 0, "C": 0, "G": 0, "T": 0})
            bits -= log2((ctx[seq[j]] + 0.5) / (sum(ctx.values()) + 2))
            ctx[seq[j]] += 1
        f["entropy_compression_ratio"] = bits / (2.0 * (L - 2))
        # homopolymer run lengths
        runs = Counter()
        start = 0
        for j in range(1, L + 1):
            if j == L or seq[j] != seq[start]:
                runs[j - start] += 1
                start = j
        f["entropy_run_length_entropy"] = max(self._shannon(runs), 0.0)
        comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
        six = [seq[j:j + 6] for j in range(L - 5)]
        f["entropy_palindrome_density"] = sum(1 for w in six if w == "".join(comp[b] for b in reversed(w))) / len(six)
        eight = Counter(seq[j:j + 8] for j in range(L - 7))
        f["entropy_repeat_density"] = sum(c for c in eight.values() if c > 1) / (L - 7)
        # bases inside a perfect tandem repeat of unit 1-6 bp spanning >= 12 bp
        covered = [False] * L
        for per in range(1, 7):
            for x in range(L - 12 + 1):
                if all(seq[j] == seq[j + per] for j in range(x, x + 12 - per)):
                    for j in range(x, x + 12):
                        covered[j] = True
        f["entropy_tandem_repeat_fraction"] = sum(covered) / L
        return f


BASELINES = {"thermo": BaselineThermo, "entropy": BaselineEntropy}


def worker_baseline(inp, rows, family, check_rows=50, repeat=3):
    """Time BASELINES[family] (both styles) against toolkit.features.<family>.compute() on the
    first ``rows`` sequences, one process, one thread; compare their values on ``check_rows``."""
    sys.path.insert(0, RUN["repo"])
    import importlib

    from toolkit.features.params import default_params

    params = default_params()
    mod = importlib.import_module(f"toolkit.features.{family}")
    seqs = read_seqs(inp, rows)
    names = [d.name for d in mod.descriptors(params)]
    col = {n: i for i, n in enumerate(names)}
    mod.compute(seqs[:20], params)                              # warm-up
    ours_times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        vals = mod.compute(seqs, params)
        ours_times.append(time.perf_counter() - t0)
    ours = sorted(ours_times)[len(ours_times) // 2]
    out = {"family": family, "sequences": len(seqs), "ours_seconds": ours,
           "ours_all_seconds": [round(t, 4) for t in ours_times], "family_descriptors": len(names),
           "check_rows": check_rows, "styles": {}}
    for style in STYLES:
        for scope in ("full", "loops"):
            base = BASELINES[family](params, style=style, full=scope == "full")
            t0 = time.perf_counter()
            bvals = [base.features(s) for s in seqs]
            base_seconds = time.perf_counter() - t0
            subset = [n for n in bvals[0] if n in col]
            worst = {}
            for n in subset:
                x = np.array([float(bvals[r][n]) for r in range(check_rows)], dtype=np.float64)
                y = vals[:check_rows, col[n]]
                worst[n] = float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(x))))
            out["styles"][f"{style}/{scope}"] = {
                "style": style, "scope": scope, "baseline_seconds": base_seconds, "speedup": base_seconds / ours,
                "baseline_descriptors": len(bvals[0]), "compared": len(subset),
                "not_in_family": [n for n in bvals[0] if n not in col],
                "disagree": {n: e for n, e in worst.items() if not e <= 1e-6},
                "max_rel_err": max(worst.values()) if worst else None}
    return out


WORKERS = {"ours-pwm": worker_ours_pwm, "fimo": worker_fimo}


def run_worker(kind, argv_extra, env, timeout):
    """Run this file as ``--worker kind`` in a fresh interpreter with ``env``; returns its JSON."""
    cmd = [sys.executable, os.path.realpath(__file__), "--worker", kind, "--repo", RUN["repo"]] + argv_extra
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=RUN["repo"],
                             env={**os.environ, **env})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if res.returncode != 0:
        return {"error": res.stderr[-3000:] or f"exit {res.returncode}"}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - t0
    out["load_average_before"] = load
    return out


# --------------------------------------------------------------------------- report

def machine():
    facts = benchlib.machine(("numpy", "pandas", "scipy", "h5py", "numba", "memelite"))
    rev = benchlib.revision(RUN["repo"], RUN["label"], paths=("toolkit",))
    return {"revision": f"{rev[:-1]}; toolkit/ source hash {source_hash()})", **facts,
            "load_average_at_start": os.getloadavg()[0]}


def source_hash():
    """SHA-256 (12 hex digits) of every .py file under the measured toolkit/, to tie the
    figures to the code while it is being edited."""
    import hashlib

    h = hashlib.sha256()
    root = os.path.join(RUN["repo"], "toolkit")
    for dirpath, dirnames, files in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                h.update(os.path.relpath(path, root).encode())
                with open(path, "rb") as fh:
                    h.update(fh.read())
    return h.hexdigest()[:12]


def _verdict(ok, figure):
    if figure is None:
        return "FAIL (did not run)"
    return "PASS" if ok else "FAIL"


def render(info):
    m = info["machine"]
    inp = info.get("input")
    vers = ", ".join(f"{k} {m[k]}" for k in ("python", "numpy", "pandas", "scipy", "h5py", "numba", "memelite")
                     if m.get(k))
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {vers}; {m['os']}",
        "",
        f"Code: {m.get('revision', 'unknown')}; 1-minute load average before the run "
        f"{m['load_average_at_start']:.2f}, after {info.get('load_average_at_end', float('nan')):.2f}",
        "",
    ]
    if "hepg2" in info["raw"]:
        h = info["raw"]["hepg2"]
        lines += [f"Input of (0): {h['table']}, {h['rows']:,} sequences, as bundled.", ""]
    if inp:
        lens = ", ".join(f"{c:,} x {L} nt" for L, c in sorted(inp["lengths"].items(), key=lambda kv: int(kv[0])))
        lines += [f"Input of (1)-(3): {inp['rows']:,} sequences ({lens}; {inp['bp']:,} bp) resampled with "
                  f"replacement (seed {inp['seed']}) from {' + '.join(inp['sources'])} ({inp['source_rows']:,} "
                  f"rows), {inp['bytes'] / 1e6:.0f} MB TSV.", ""]
    lines += ["| measurement | figure | target | result |", "|---|---|---|---|"]
    for r in info["rows"]:
        lines.append(f"| {r['what']} | {r['figure']} | {r['target']} | {r['result']} |")
    if info.get("notes"):
        lines.append("")
        lines.extend(f"* {n}" for n in info["notes"])
    return "\n".join(lines)


def fmt_rate(x):
    return "n/a" if x is None else (f"{x / 1e6:,.1f} M" if x >= 1e6 else f"{x:,.0f}")


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=77157, help="sequences of the generated input (default 77,157)")
    ap.add_argument("--trim-fraction", type=float, default=1 / 3,
                    help="fraction of sequences cut to their central 200 nt (default 1/3)")
    ap.add_argument("--pwm-rows", type=int, default=20000, help="sequences for the FIMO comparison (default 20,000)")
    ap.add_argument("--baseline-rows", type=int, default=2000,
                    help="sequences for the pure-Python baselines (default 2,000)")
    ap.add_argument("--jobs", default="2,1", help="descfeat -j values to time (default 2,1; the first is gated)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each command in (1); the median is reported")
    ap.add_argument("--no-blas1", dest="blas1", action="store_false",
                    help="skip the reference run of (1) with BLAS/OpenMP threads set to 1")
    ap.add_argument("--families", default="all",
                    help="descfeat --families for (1) (default all; use a list when a family is missing)")
    ap.add_argument("--only", default="hepg2,full,pwm,baseline",
                    help="comma-separated subset of: hepg2,full,pwm,baseline")
    ap.add_argument("--baseline-tree", default=None, metavar="DIR",
                    help="(0): also run the descfeat of this checkout (earlier code, e.g. a git worktree), "
                         "in the same rounds")
    ap.add_argument("--hepg2-table", default=HEPG2_TABLE, metavar="FILE",
                    help="(0): the input (default share/examples/lentimpra_HepG2.tsv.gz, 12,292 rows)")
    ap.add_argument("--hepg2-repeat", type=int, default=3, help="(0): rounds; the median is reported (default 3)")
    ap.add_argument("--hepg2-timeout", type=float, default=300,
                    help="(0): seconds before a run is killed and counted as failed (default 300; code before "
                         "this benchmark's version could hang at exit with -j 2)")
    ap.add_argument("--workdir", default=None, help="folder for the generated files (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--sources", nargs=2, default=DEFAULT_SOURCES, metavar=("HEPG2_TSV", "JOINT_CSV"),
                    help="the lentiMPRA tables to resample (default ../shared/data/lentimpra/...)")
    ap.add_argument("--repo", default=REPO, help="checkout whose toolkit/ is measured (default: this one)")
    ap.add_argument("--label", default=None, help="what --repo holds, printed as 'Code:' (default: git HEAD)")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a measured process is killed")
    ap.add_argument("--json", dest="json_out", default=None, help="save the results as JSON")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--input", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cores", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--family", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    RUN["repo"] = os.path.realpath(args.repo)
    RUN["label"] = args.label

    if args.worker:
        if args.worker == "baseline":
            out = worker_baseline(args.input, args.baseline_rows, args.family)
        elif args.worker == "pwm-agreement":
            out = worker_pwm_agreement(args.input, args.pwm_rows)
        else:
            out = WORKERS[args.worker](args.input, args.pwm_rows, args.cores)
        print(json.dumps(out))
        return 0

    only = set(args.only.split(","))
    generated = bool(only & {"full", "pwm", "baseline"})
    for s in args.sources if generated else ():
        if not os.path.exists(s):
            sys.exit(f"error: {s} not found; ../shared/data exists only next to a development checkout; "
                     "pass --sources HEPG2_TSV JOINT_CSV")
    work = args.workdir or tempfile.mkdtemp(prefix="bench_descfeat_")
    os.makedirs(work, exist_ok=True)
    f = lambda name: os.path.join(work, name)  # noqa: E731
    info = {"machine": machine(), "workdir": work, "rows": [], "raw": {}, "notes": []}

    # (0) the bundled table as users run it
    if "hepg2" in only:
        trees = [("this checkout", RUN["repo"])]
        if args.baseline_tree:
            trees.append(("baseline", os.path.realpath(args.baseline_tree)))
        res = measure_hepg2(os.path.realpath(args.hepg2_table), trees, [1, 2], args.hepg2_repeat,
                            min(args.timeout, args.hepg2_timeout), work)
        info["raw"]["hepg2"] = res
        info["rows"].extend(hepg2_rows(res, [t[0] for t in trees], [1, 2]))
        if args.baseline_tree:
            rev = benchlib.revision(trees[1][1], None, paths=("toolkit",))
            info["notes"].append(f"(0) baseline: {rev}")
        for label, _ in trees:
            info["notes"].append(f"(0) {label}: sequences/s " + ", ".join(
                f"-j {j} {fmt_rate(res['runs'][f'{label} -j {j}']['sequences_per_second'])}" for j in (1, 2)))
    if not generated:
        info["load_average_at_end"] = os.getloadavg()[0]
        print(render(info))
        if args.json_out:
            with open(args.json_out, "w") as fh:
                json.dump(info, fh, indent=2, default=str)
        if args.workdir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 0

    inp = f("input.tsv")
    meta = f("input.json")
    old = None
    if os.path.exists(meta) and os.path.exists(inp):
        with open(meta) as fh:
            old = json.load(fh)
    if old and old.get("rows") == args.rows and old.get("seed") == args.seed \
            and old.get("trim_fraction") == args.trim_fraction and old.get("bytes") == os.path.getsize(inp):
        info["input"] = old
        log(f"reusing {inp}")
    else:
        log(f"generating {args.rows:,} sequences in {work} ...")
        t0 = time.perf_counter()
        info["input"] = generate(args.sources, args.rows, inp, seed=args.seed, trim_fraction=args.trim_fraction)
        with open(meta, "w") as fh:
            json.dump(info["input"], fh)
        log(f"  done in {time.perf_counter() - t0:.1f} s (not measured)")
    n = args.rows
    rows = info["rows"]

    # (1) the whole command, as a user runs it
    if "full" in only:
        fam_args = [] if args.families == "all" else ["--families", args.families]
        runs = [(int(x), None) for x in args.jobs.split(",")]
        if args.blas1:
            runs.append((runs[0][0], ONE_THREAD))
        for k, (j, env) in enumerate(runs):
            out = f(f"out_j{j}.h5")
            argv = [sys.executable, "-m", "toolkit.cli.descfeat", inp, "--cell-type", "HepG2", "-q", "-j", str(j),
                    "-o", out] + fam_args
            shown = "python3 -m toolkit.cli.descfeat input.tsv --cell-type HepG2 -q -j %d -o out.h5%s" % (
                j, "" if not fam_args else " --families " + args.families)
            if env:
                shown = "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 " + shown
            log(f"(1) {shown} ...")
            reps = []
            for _ in range(args.repeat):
                r = run_child(argv, timeout=args.timeout, env=env)
                ok_run = r["rc"] == 0 and not r["timed_out"]
                if ok_run:
                    r["output"] = check_h5(out, n)
                    os.unlink(out)
                elif r["stderr"]:
                    log(r["stderr"])
                log(f"  {r['seconds']:.1f} s, {fmt_rate(n / r['seconds'])} seq/s, CPU {r['cpu_seconds'] or 0:.1f} s, "
                    f"RSS {r['peak_rss_mb']:.0f} MB, tree PSS {r['peak_tree_pss_mb']:.0f} MB, rc={r['rc']}, "
                    f"load before {r['load_average_before']:.2f}")
                reps.append(r)
                if not ok_run:
                    break
            ok = [x for x in reps if x["rc"] == 0 and not x["timed_out"]]
            r = dict(sorted(ok, key=lambda x: x["seconds"])[len(ok) // 2] if len(ok) == len(reps) else reps[-1])
            ok_run = r["rc"] == 0 and not r["timed_out"]
            r["all_seconds"] = [round(x["seconds"], 2) for x in reps]
            r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in reps)
            r["peak_tree_pss_mb"] = max(x["peak_tree_pss_mb"] for x in reps)
            sps = n / r["seconds"] if ok_run else None
            r.update(command=shown, jobs=j, sequences_per_second=sps)
            info["raw"][f"descfeat_j{j}" + ("_blas1" if env else "")] = r
            o = r.get("output", {})
            spread = "" if len(reps) < 2 else (
                f", median of {len(reps)}: {', '.join(f'{x:.1f}' for x in r['all_seconds'])} s")
            fig = (f"{fmt_rate(sps)} seq/s ({n:,} seq in {r['seconds']:.1f} s{spread}; CPU {r['cpu_seconds']:.0f} s; "
                   f"{o.get('descriptors', '?')} descriptors; peak RSS {r['peak_rss_mb']:,.0f} MB per process, "
                   f"{r['peak_tree_pss_mb']:,.0f} MB PSS all processes)") if ok_run else \
                ("killed (timeout)" if r["timed_out"] else f"exit {r['rc']}")
            gated = k == 0
            label = f"(1) `descfeat -j {j}` full set" + ("" if not fam_args else f" ({args.families})")
            if env:
                label += ", BLAS/OpenMP threads set to 1"
            rows.append({"what": label, "figure": fig,
                         "target": f">= {TARGET_SEQS_PER_S:,} seq/s" if gated else "(reference)",
                         "result": _verdict(ok_run and sps >= TARGET_SEQS_PER_S, sps) if gated else
                         ("" if ok_run else "FAIL (did not run)")})
            if ok_run and not o.get("rows_ok"):
                info["notes"].append(f"descfeat -j {j}: the HDF5 output has {o.get('rows')} rows, expected {n}")

    # (2) pwm family against memelite's FIMO
    if "pwm" in only:
        extra = ["--input", inp, "--pwm-rows", str(min(args.pwm_rows, n))]
        res = {}
        for kind in ("ours-pwm", "fimo"):
            for cores in (1, 2):
                env = dict(ONE_THREAD)
                if kind == "fimo":
                    env["NUMBA_NUM_THREADS"] = str(cores)
                log(f"(2) {kind}, {cores} core(s) ...")
                res[kind, cores] = r = run_worker(kind, extra + ["--cores", str(cores)], env, args.timeout)
                info["raw"][f"pwm_{kind}_{cores}core"] = r
                if "error" in r:
                    log(r["error"])
                else:
                    log(f"  {r['seconds']:.2f} s")
        log("(2) agreement of max scores on 200 sequences ...")
        agree = run_worker("pwm-agreement", ["--input", inp, "--pwm-rows", "200"], ONE_THREAD, args.timeout)
        info["raw"]["pwm_agreement"] = agree
        for cores in (1, 2):
            a, b = res["ours-pwm", cores], res["fimo", cores]
            if "error" in a or "error" in b:
                rows.append({"what": f"(2) PWM scan, {cores} core(s): ours / FIMO",
                             "figure": "error: " + (a.get("error") or b.get("error")).strip().splitlines()[-1],
                             "target": f"ratio >= {TARGET_PWM_RATIO:g}", "result": "FAIL (did not run)"})
                continue
            rate = lambda r: r["motifs"] * r["bp"] / r["seconds"]  # noqa: E731
            ratio = rate(a) / rate(b)
            how = ("ours in 1 process, FIMO with 1 numba thread" if cores == 1 else
                   "ours in 2 processes (fork pool, as -j 2), FIMO with 2 numba threads")
            rows.append({"what": f"(2) PWM scan, {a['motifs']} HepG2 motifs x {a['sequences']:,} seq, both "
                                 f"strands, {cores} core{'s' if cores > 1 else ''} ({how})",
                         "figure": f"ours {fmt_rate(rate(a))} motif.bp/s ({a['seconds']:.2f} s, 8 statistics), "
                                   f"FIMO {fmt_rate(rate(b))} motif.bp/s ({b['seconds']:.3f} s, {b['hits']:,} "
                                   f"hits at p < 1e-4; ours counts {a['high_affinity_sites']:,}); "
                                   f"ratio {ratio:.3f}",
                         "target": f"ratio >= {TARGET_PWM_RATIO:g}",
                         "result": _verdict(ratio >= TARGET_PWM_RATIO, ratio)})
        if "error" not in agree:
            info["notes"].append(
                f"PWM check: our per-motif max_score against FIMO's best window score (threshold 1) on "
                f"{agree['sequences']} sequences x {agree['max_score_columns']} motifs: largest difference "
                f"{agree['max_abs_diff_bits']:.1e} bits (same log-odds: FIMO given the family's pseudocounted "
                f"probabilities with eps=0).")
        else:
            info["notes"].append("PWM sanity check failed: " + agree["error"].strip().splitlines()[-1])

    # (3) vectorised families against per-sequence Python baselines
    if "baseline" in only:
        keys = [f"{style}/{scope}" for style in STYLES for scope in ("full", "loops")]
        tot = {key: 0.0 for key in keys}
        tot_ours = 0.0
        ok_all = {key: True for key in keys}
        for fam in BASELINES:
            log(f"(3) baselines of {fam} ...")
            r = run_worker("baseline", ["--input", inp, "--baseline-rows", str(min(args.baseline_rows, n)),
                                        "--family", fam], ONE_THREAD, args.timeout)
            info["raw"][f"baseline_{fam}"] = r
            if "error" in r:
                log(r["error"])
                ok_all = {key: False for key in keys}
                rows.append({"what": f"(3) {fam}: vectorised compute() vs per-sequence Python baselines",
                             "figure": "error: " + r["error"].strip().splitlines()[-1],
                             "target": f">= {TARGET_SPEEDUP:g}x", "result": "FAIL (did not run)"})
                continue
            tot_ours += r["ours_seconds"]
            for key, b in r["styles"].items():
                tot[key] += b["baseline_seconds"]
                agree = "values agree" if not b["disagree"] else f"DISAGREE on {len(b['disagree'])}"
                ok = b["speedup"] >= TARGET_SPEEDUP and not b["disagree"]
                ok_all[key] &= ok
                log(f"  {key}: baseline {b['baseline_seconds']:.2f} s ({b['baseline_descriptors']} descriptors), "
                    f"ours {r['ours_seconds']:.3f} s, {b['speedup']:.0f}x, {agree}")
                if b["not_in_family"]:
                    info["notes"].append(f"baseline {fam} ({key}): names not in the family, not compared: "
                                         + ", ".join(b["not_in_family"][:8]))
                if b["disagree"]:
                    info["notes"].append(f"baseline {fam} ({key}) disagrees (max relative error): " + ", ".join(
                        f"{k} {v:.2g}" for k, v in list(b["disagree"].items())[:8]))
                if b["scope"] != "full":
                    continue
                rows.append({
                    "what": f"(3) {fam}: vectorised compute() vs {b['style']}-style per-sequence baseline, all "
                            f"{r['family_descriptors']} descriptors, {r['sequences']:,} seq, 1 core",
                    "figure": f"{b['speedup']:,.0f}x (baseline {b['baseline_seconds']:.2f} s, ours "
                              f"{r['ours_seconds']:.3f} s; {b['compared']} descriptors compared on "
                              f"{r['check_rows']} seq: {agree}, max rel. err {b['max_rel_err']:.1e})",
                    "target": f">= {TARGET_SPEEDUP:g}x, same values",
                    "result": _verdict(ok, b["speedup"])})
            loops = [(key.split("/")[0], b) for key, b in r["styles"].items() if b["scope"] == "loops"]
            info["notes"].append(
                f"(3) {fam}, baseline of only the design's loops ({loops[0][1]['baseline_descriptors']} of "
                f"{r['family_descriptors']} descriptors) against our whole compute(): " + "; ".join(
                    f"{style} {b['speedup']:,.0f}x ({b['baseline_seconds']:.2f} s)" for style, b in loops) + ".")
        if tot_ours > 0:
            for style in STYLES:
                key = f"{style}/full"
                sp = tot[key] / tot_ours
                rows.append({"what": f"(3) thermo + entropy together, {style}-style baseline, all descriptors",
                             "figure": f"{sp:,.0f}x ({tot[key]:.2f} s vs {tot_ours:.3f} s)",
                             "target": f">= {TARGET_SPEEDUP:g}x",
                             "result": _verdict(ok_all[key] and sp >= TARGET_SPEEDUP, sp)})
        info["notes"].append(
            "Baselines (3): 'design' style writes the loops as the design document's code does (np.log2 on each "
            "probability, np.mean/np.var/np.percentile on each sequence's list); 'lean' style is the same "
            "loops in plain Python (math.log2, statistics in Python). 'All descriptors' adds to the design's "
            "loops direct Python for the rest of the family (dG extrema and runs; Lempel-Ziv, linguistic "
            "complexity, KT compression, runs, palindromes, repeats, tandem repeats), so both sides compute "
            "the same columns.")

    info["load_average_at_end"] = os.getloadavg()[0]
    table = render(info)
    print(table)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(info, fh, indent=2, default=str)
    if args.workdir is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    elif args.workdir is None:
        log(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
