"""descfeat's descriptor set can be trusted as model input: no column constant or
duplicated by its definition, --list explains every column it writes, --prune drops
the columns that are constant or duplicated on the given input, and Ctrl-C with
worker processes ends with one Error line."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, REPO, read_tsv, run_cli

TABLE = DATA / "lentimpra_HepG2_400.tsv"
R_DUP = 0.999999


# --------------------------------------------------------------------------- helpers


def _real_seqs(n=None):
    """The bundled lentiMPRA HepG2 sequences (real, all 230 nt)."""
    seqs = read_tsv(TABLE)["seq"].str.upper().tolist()
    return seqs if n is None else seqs[:n]


def _varied_length_seqs(n=150, seed=0):
    """Real sequences cut to lengths 40-230 nt (a random stretch of each bundled lentiMPRA
    sequence): at one fixed length totals and means are the same column, so definitional
    duplicates are looked for on varied lengths."""
    rng = np.random.default_rng(seed)
    out = []
    for s in _real_seqs(n):
        L = int(rng.integers(40, len(s) + 1))
        a = int(rng.integers(0, len(s) - L + 1))
        out.append(s[a:a + L])
    return out


def _all_descriptors(seqs):
    from toolkit.features import FAMILIES
    from toolkit.features.compute import DescriptorSet
    from toolkit.features.motifs import cell_type_motifs
    from toolkit.features.params import default_params

    dset = DescriptorSet(FAMILIES, default_params(), motifs=cell_type_motifs("HepG2"))
    return dset.names, dset.compute(seqs)


def _gc(seqs):
    return np.array([(s.count("G") + s.count("C")) / len(s) for s in seqs])


def _brute_prune(frame, r_min=R_DUP):
    """Independent pruning: pandas nunique for constants; for each later column, the first
    earlier kept column with the same NaN pattern and |Pearson r| > r_min (pandas corr) or
    identical values. Returns {column: reason or ('duplicate', of)} of the dropped columns."""
    dropped = {}
    kept = []
    for c in frame.columns:
        col = frame[c]
        if col.dropna().nunique() <= 1:
            dropped[c] = "constant"
            continue
        for k in kept:
            other = frame[k]
            if not (col.isna() == other.isna()).all():
                continue
            if col.equals(other) or abs(col.corr(other)) > r_min:
                dropped[c] = ("duplicate", k)
                break
        else:
            kept.append(c)
    return dropped


def _pairs_above(frame, r_min=R_DUP):
    x = frame.to_numpy(dtype=float)
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(x.T)
    i, j = np.nonzero(np.triu(np.abs(r) > r_min, 1))
    return [(frame.columns[a], frame.columns[b]) for a, b in zip(i, j)]


# --------------------------------------------------------------------------- the set itself


@pytest.fixture(scope="module")
def varied():
    seqs = _varied_length_seqs()
    names, values = _all_descriptors(seqs)
    return seqs, pd.DataFrame(values, columns=names)


# Coincidences of these particular sequences, not of the definitions: the extremes of a
# 16-step table are reached by nearly every sequence over ~40 nt (so the maxima of
# several step energies are all constant, or equal), every sequence holds all four
# bases (Renyi order 0 = log2 4), no sequence has an E2F1/MAX/Nr1h3/ZBTB33 high-affinity
# site, and the two HNF4 matrices call the same high-affinity sites.
DATA_CONSTANT = {
    "bend_max_bending_cost", "stiff_max_relative_energy", "stiff_min_relative_energy", "stiff_twist_max_energy",
    "stiff_twist_min_energy", "stiff_tilt_max_energy", "stiff_tilt_min_energy", "stiff_roll_max_energy",
    "stiff_roll_min_energy", "stiff_shift_max_energy", "stiff_slide_max_energy", "stiff_slide_min_energy",
    "stiff_rise_max_energy", "stiff_rise_min_energy", "stiff_energy_gradient_max", "thermo_min_dS", "thermo_max_dS",
    "thermo_min_dG", "thermo_dS_p50", "thermo_dS_p95", "entropy_renyi_entropy_alpha0.0", "entropy_gc_entropy_w5_max",
    "entropy_gc_entropy_w10_max", "entropy_shannon_w5_max", "entropy_shannon_w10_max", "entropy_shannon_w15_max",
    "advanced_stacking_min_stacking_energy", "pwm_E2F1_num_high_affinity", "pwm_MAX_num_high_affinity",
    "pwm_Nr1h3_num_high_affinity", "pwm_ZBTB33_num_high_affinity", "pwm_min_num_high_affinity",
}
# w / (number of windows) for a maximum reached once away from the ends: fixed by the
# length (documented as a caveat in --list).
LENGTH_CONSTANT = {f"bend_max_bend_w{w}_fraction_at_global_max" for w in (5, 7, 9, 11)}
DATA_DUPLICATE = {
    frozenset({"pwm_HNF4G_num_high_affinity", "pwm_HNF4A_num_high_affinity"}),
    frozenset({"stiff_twist_max_energy", "stiff_max_relative_energy"}),
    frozenset({"stiff_slide_max_energy", "stiff_max_relative_energy"}),
    frozenset({"stiff_slide_max_energy", "stiff_twist_max_energy"}),
    frozenset({"stiff_rise_max_energy", "stiff_max_relative_energy"}),
    frozenset({"stiff_rise_max_energy", "stiff_twist_max_energy"}),
    frozenset({"stiff_rise_max_energy", "stiff_slide_max_energy"}),
    # the most stable step (GC) of both tables, present in nearly every sequence
    frozenset({"advanced_stacking_min_stacking_energy", "thermo_min_dG"}),
    # SRF's rare high-affinity sites carry nearly all of its total weight
    frozenset({"pwm_SRF_num_high_affinity", "pwm_SRF_total_weight"}),
}


@pytest.fixture(scope="module")
def fixed():
    seqs = _real_seqs(200)
    names, values = _all_descriptors(seqs)
    return seqs, pd.DataFrame(values, columns=names)


def test_no_column_is_constant_by_definition(fixed):
    """bend_attention_bias_min underflowed to 0 for every sequence over ~80 nt (these are 230 nt)."""
    _, frame = fixed
    constant = {c for c in frame.columns if frame[c].dropna().nunique() <= 1}
    assert constant <= DATA_CONSTANT | LENGTH_CONSTANT, sorted(constant - DATA_CONSTANT - LENGTH_CONSTANT)
    for c in LENGTH_CONSTANT:
        w = int(c.split("_w")[1].split("_")[0])
        assert frame[c].iloc[0] == pytest.approx(w / (230 - 10 - w + 1))


def test_no_two_columns_are_one_definition(varied):
    """On varied lengths, the only pairs with |r| > 0.999999 are coincidences of the data:
    no column is another one renamed or an affine transform of it (kmer_1mer = Shannon
    entropy, w5..w11 global maxima, z-scores of the table, opening energy = -ΔG, ...)."""
    _, frame = varied
    constant = {c for c in frame.columns if frame[c].dropna().nunique() <= 1}
    pairs = {frozenset(p) for p in _pairs_above(frame[[c for c in frame.columns if c not in constant]])}
    assert pairs <= DATA_DUPLICATE, sorted(tuple(sorted(p)) for p in pairs - DATA_DUPLICATE)


def test_no_pwm_column_is_gc_content_in_disguise(fixed):
    """The mean log-odds over every window of both strands is, at a fixed length, a linear
    function of the G+C count (|r| = 1.000 for every motif on real 230-nt sequences)."""
    seqs, frame = fixed
    gc = _gc(seqs)
    bad = []
    for name in frame.columns:
        v = frame[name].to_numpy()
        if name.startswith("pwm_") and np.nanstd(v) > 0 and abs(np.corrcoef(gc, v)[0, 1]) > 0.999:
            bad.append(name)
    assert bad == []


# --------------------------------------------------------------------------- --list


@pytest.fixture(scope="module")
def listing():
    res = run_cli("descfeat", ["--list"])
    assert res.exit_code == 0, res.stderr
    return read_tsv(res.stdout)


def test_list_covers_every_column_written(listing, tmp_path):
    src = read_tsv(TABLE).head(5)
    path = tmp_path / "five.tsv"
    src.to_csv(path, sep="\t", index=False)
    out = tmp_path / "out.tsv"
    res = run_cli("descfeat", [path, "-o", out, "-q"])
    assert res.exit_code == 0, res.stderr
    written = [c for c in read_tsv(out).columns if c not in src.columns and c not in ("id", "sequence")]
    assert listing["name"].tolist() == written
    assert listing.columns.tolist() == ["name", "family", "unit", "formula", "source", "caveat"]
    for _, row in listing.iterrows():
        assert row["formula"].strip() and row["unit"].strip() and row["source"].strip()


def test_list_gives_the_validity_of_length_bound_formulas(listing):
    caveat = dict(zip(listing["name"], listing["caveat"]))
    assert "20 nt" in caveat["thermo_melting_temp_wallace"]
    assert caveat["thermo_melting_temp_gc_adjusted"]


# --------------------------------------------------------------------------- pruning


def _planted():
    """Synthetic table with a known answer: a constant, an affine copy, a negated copy,
    a near-copy just below the threshold (kept), an identical copy with NaN in the same
    rows (dropped), a copy with NaN in other rows (kept: not defined in the same rows),
    and an all-NaN column (constant)."""
    rng = np.random.default_rng(7)
    n = 500
    a = rng.normal(size=n)
    b = rng.normal(size=n) * 1e3 + 5e4          # a large offset: streaming sums must not cancel
    nanny = rng.normal(size=n)
    nanny[rng.random(n) < 0.2] = np.nan
    other_nan = nanny.copy()
    other_nan[np.isnan(nanny)] = 1.0
    other_nan[:5] = np.nan
    near = a + rng.normal(size=n) * 2e-3          # r ~ 0.999998 < 0.999999
    cols = {
        "a": a, "const": np.full(n, 3.25), "b": b, "a_affine": 2.5 * a - 7.0, "b_neg": -b / 3 + 1,
        "near_a": near, "nanny": nanny, "nanny_copy": nanny.copy(), "nanny_other": other_nan,
        "all_nan": np.full(n, np.nan), "const_nan": np.where(np.isnan(nanny), np.nan, -1.0),
    }
    return pd.DataFrame(cols)


def test_prune_planted_constant_and_duplicate_columns_in_chunks():
    from toolkit.features.prune import ColumnPruner

    frame = _planted()
    expect = _brute_prune(frame)
    assert expect == {"const": "constant", "a_affine": ("duplicate", "a"), "b_neg": ("duplicate", "b"),
                      "nanny_copy": ("duplicate", "nanny"), "all_nan": "constant", "const_nan": "constant"}
    x = frame.to_numpy()
    for sizes in ([500], [1, 2, 3, 494], [100] * 5, [7] * 71 + [3]):
        pruner = ColumnPruner(frame.columns.tolist())
        start = 0
        for s in sizes:
            pruner.update(x[start:start + s])
            start += s
        got = {d["column"]: d["reason"] if d["reason"] == "constant" else (d["reason"], d["of"])
               for d in pruner.dropped()}
        assert got == expect
        assert [frame.columns[i] for i in pruner.keep()] == [c for c in frame.columns if c not in expect]


def _run_descfeat(args, tmp_path):
    return subprocess.run([sys.executable, str(REPO / "bin" / "descfeat"), *map(str, args)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


@pytest.mark.slow   # two descfeat runs of four families (~15 s on a busy 2-core machine)
def test_prune_on_real_sequences(tmp_path):
    """Real 230-nt sequences: totals and means are duplicates there; after --prune no pair of
    columns has |r| > 0.999999 and the dropped columns are what brute force drops; the kept
    values are those of the unpruned run."""
    fams = "bend,stiff,thermo,advanced"
    src = tmp_path / "real150.tsv"
    read_tsv(TABLE).head(150).to_csv(src, sep="\t", index=False)
    full, pruned, rep = tmp_path / "full.tsv", tmp_path / "pruned.tsv", tmp_path / "rep.json"
    res = _run_descfeat([src, "--families", fams, "-o", full, "-q"], tmp_path)
    assert res.returncode == 0, res.stderr
    res = _run_descfeat([src, "--families", fams, "-o", pruned, "--prune", "--report", rep, "-j", "2",
                         "--chunk-rows", "40", "-q"], tmp_path)
    assert res.returncode == 0, res.stderr
    a, b = read_tsv(full), read_tsv(pruned)
    passthrough = ["id", "seq_id", "sequence", "mean_value"]
    feats = a.drop(columns=passthrough).apply(pd.to_numeric)
    expect = _brute_prune(feats)
    report = json.loads(rep.read_text())
    got = {d["column"]: d["reason"] if d["reason"] == "constant" else (d["reason"], d["of"])
           for d in report["pruned"]}
    assert got == expect and len(got) > 30
    assert b.columns.tolist() == passthrough + [c for c in feats.columns if c not in expect]
    assert b.equals(a[b.columns.tolist()])
    assert _pairs_above(b.drop(columns=passthrough).apply(pd.to_numeric)) == []
    assert report["descriptors_written"] == len(b.columns) - len(passthrough)


def test_prune_hdf5_and_refusals(tmp_path):
    import h5py

    out = tmp_path / "f.h5"
    res = _run_descfeat([TABLE, "--families", "thermo", "--prune", "-o", out, "-q"], tmp_path)
    assert res.returncode == 0, res.stderr
    with h5py.File(out) as h5:
        names = [x.decode() if isinstance(x, bytes) else x for x in h5["descriptor_names"][()]]
        assert h5["descriptors"].shape == (400, len(names))
        values = pd.DataFrame(h5["descriptors"][()].astype(np.float64), columns=names)
    assert _pairs_above(values) == [] and all(values[c].nunique() > 1 for c in names)   # real sequences
    assert "thermo_total_dG" in names and "thermo_mean_dG" not in names      # equal length: mean = total / 229
    res = _run_descfeat([TABLE, "--prune", "--shard", "1/2"], tmp_path)
    assert res.returncode == 2 and "--prune" in res.stderr


# --------------------------------------------------------------------------- Ctrl-C


def _default_signals():
    """In the child: SIGINT and SIGHUP back to their default actions (a test run started in the
    background or under nohup passes them on ignored, and an ignored signal stays ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_ctrl_c_with_workers_prints_one_error_line(tmp_path):
    out = tmp_path / "out.tsv"
    proc = subprocess.Popen([sys.executable, str(REPO / "bin" / "descfeat"), TABLE, "-j", "2", "--chunk-rows", "5",
                             "-o", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            start_new_session=True, preexec_fn=_default_signals)
    try:
        deadline = time.time() + 60
        while not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir()):   # the loop has started
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)     # as a terminal's Ctrl-C: the whole process group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert err.decode().splitlines() == ["Error: interrupted"]
    assert list(tmp_path.iterdir()) == []
