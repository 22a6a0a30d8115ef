"""fit-physinformer on a plain sequence table: descriptors computed with descfeat's library
(the very values descfeat writes), augmented train rows (mutated copies, exact dinucleotide
shuffles, genome windows), the guard that keeps near-copies of val and test rows out,
duplicate descriptors pruned on the train rows, and --resume reading the labels from the
training cache instead of computing them again."""

import gzip
import json
import os
import signal
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import DATA, EXAMPLES, random_seqs, read_tsv, run_cli
from toolkit.cli import options as opt
from toolkit.features.compute import DescriptorSet
from toolkit.features.labeller import Labeller, load_motifs
from toolkit.features.params import default_params
from toolkit.io import traincache as TC
from toolkit.seq import reverse_complement
from toolkit.seq.shuffle import dinucleotide_counts, dinucleotide_shuffle
from toolkit.train import augment as A
from toolkit.train import physinformer_data as PD

GENOME = EXAMPLES / "ecoli" / "NC_000913.3.fa.bgz"
TINY = ("[train]\nsteps_per_epoch = 2\n[model]\nembed = 4\nchannels = [8, 8, 8]\nkernels = [5, 5, 5]\nd_state = 2\n"
        "ssm_layers = 1\npyramid_hidden = 8\nattn_heads = 1\nhead_hidden = 8\n")
DESC = "thermo_*,bend_*"


@pytest.fixture(scope="module")
def split_tsv(tmp_path_factory):
    """48 train / 16 val / 8 test real lentiMPRA rows (230 nt) through dgsplit: a plain sequence table."""
    d = tmp_path_factory.mktemp("pidata")
    df = read_tsv(run_cli("dgsplit", [DATA / "lentimpra_HepG2_400.tsv", "-q"]).stdout)
    df = pd.concat([df[df["split"] == k].head(n) for k, n in (("train", 48), ("val", 16), ("test", 8))])
    path = d / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


def _load(input, cache, desc=DESC, data=None, seed=7, jobs=1, cell_type="HepG2"):
    """The library's load() into ``cache`` (no training); returns the cache's reader."""
    labels = {"cell_type": cell_type, "motifs_path": None, "motifs_given": False, "jobs": jobs, "seed": seed}
    PD.load(str(input), "auto", None, None, desc, None, None, None, None, opt.Log("t", quiet=True), cache=str(cache),
            labels=labels, data={**PD.DATA_DEFAULTS, "genome": None, **(data or {})})
    return TC.CacheReader(str(cache), "physinformer")


def _rows(reader, split):
    ids = list(reader.block(split, "ids", 0, reader.rows(split)))
    codes = reader.block(split, "codes", 0, reader.rows(split))
    lengths = reader.block(split, "lengths", 0, reader.rows(split))
    from toolkit.train.data import decode_rows

    return ids, decode_rows(codes, lengths), reader.block(split, "values", 0, reader.rows(split))


# ---------------------------------------------------------------------------- the labels are descfeat's

def test_sequence_table_gets_exactly_descfeats_values_and_test_rows_are_never_labelled(split_tsv, tmp_path,
                                                                                      monkeypatch):
    """The cache holds, for every train and val row, the values descfeat's command writes for it
    (its HDF5 file, float32, compared bit for bit; pwm with K562's motifs, computed by two worker
    processes); no test row is labelled or stored; the table route and the descfeat-HDF5 route
    give the same training data (same data hash: same rows, values, pruning and scaling)."""
    from toolkit.io.h5 import read_h5

    h5 = tmp_path / "d.h5"
    res = run_cli("descfeat", [split_tsv, "--families", "pwm,thermo,bend", "--cell-type", "K562", "-o", h5, "-q"])
    assert res.exit_code == 0, res.output
    seen = []
    real = Labeller.compute
    monkeypatch.setattr(Labeller, "compute", lambda self, seqs: seen.extend(seqs) or real(self, seqs))
    desc = "pwm_*,thermo_*,bend_*"
    r = _load(split_tsv, tmp_path / "a.h5", desc=desc, jobs=2, cell_type="K562")
    table = read_tsv(split_tsv)
    test = table[table["split"] == "test"]
    assert not set(test["sequence"]) & set(seen) and len(seen) == 64
    ref = read_h5(h5)
    row = {i: k for k, i in enumerate(ref["ids"])}
    meta = r.meta
    assert meta["labels"]["families"] == ["pwm", "bend", "thermo"] and meta["labels"]["cell_type"] == "K562"
    assert "K562" in meta["labels"]["motif_source"]
    cols = [ref["names"].index(n) for n in meta["names"]]
    for split, n in (("train", 48), ("val", 16)):
        ids, seqs, values = _rows(r, split)
        assert len(ids) == n and not set(ids) & set(test["id"])
        want = ref["values"][[row[i] for i in ids]][:, cols]
        got = values[:, meta["keep"]]
        assert got.dtype == np.float32 and np.array_equal(got, want, equal_nan=True)
    assert not r.has("val", "origin") and (r.block("train", "origin", 0, 48) == 0).all()
    r.close()
    h = _load(h5, tmp_path / "b.h5", desc=desc)
    assert h.meta["data_sha1"] == meta["data_sha1"] and h.meta["names"] == meta["names"]
    assert h.meta["dropped"] == meta["dropped"] and "labels" not in h.meta
    h.close()


# ---------------------------------------------------------------------------- shuffles

def _every_sequence(counts, n):
    """Every string of n letters with these dinucleotide counts: all strings, grown one letter at a
    time while some count is left for the last two letters (a plain enumeration)."""
    letters = sorted({x for d in counts for x in d})
    left, out = Counter(counts), []

    def grow(s):
        if len(s) == n:
            out.append(s)
            return
        for x in letters:
            if left[s[-1] + x] > 0:
                left[s[-1] + x] -= 1
                grow(s + x)
                left[s[-1] + x] += 1

    for x in letters:
        grow(x)
    return set(out)


@pytest.mark.parametrize("seq", ["AACGTTACGA", "GATTACAGAT", "CATCGATTAGCC"])
def test_dinucleotide_shuffle_is_uniform_over_every_sequence_with_the_counts(seq):
    """Brute force: every string with the same dinucleotide counts is drawn, nothing else is, and
    each about equally often (chi-square); the first letter moves when the walk is closed (first
    == last), as it does among those strings."""
    from scipy.stats import chisquare

    counts = dinucleotide_counts(seq)
    every = _every_sequence(counts, len(seq))
    assert all(dinucleotide_counts(s) == counts for s in every) and seq in every
    rng = np.random.default_rng(3)
    n = 300 * len(every)
    got = Counter(dinucleotide_shuffle(seq, rng) for _ in range(n))
    assert set(got) == every and len(every) > 3
    assert chisquare([got[s] for s in sorted(every)]).pvalue > 1e-3
    assert (len({s[0] for s in every}) > 1) == (seq[0] == seq[-1])


def test_dinucleotide_shuffle_keeps_counts_and_differs():
    rng = np.random.default_rng(0)
    for s in random_seqs(20, rng, [230, 57, 3], n_rate=0.02):
        out = [dinucleotide_shuffle(s, rng) for _ in range(4)]
        assert all(dinucleotide_counts(o) == dinucleotide_counts(s) and len(o) == len(s) for o in out)
        if len(s) > 50:
            assert len(set(out) | {s}) == 5
    assert dinucleotide_shuffle("AC", rng) == "AC"


# ---------------------------------------------------------------------------- the leak guard

def _hamming_either_strand(a, b):
    if len(a) != len(b):
        return len(a) + len(b)
    return min(sum(x != y for x, y in zip(a, b)), sum(x != y for x, y in zip(a, reverse_complement(b))))


def test_leak_guard_drops_exactly_the_near_copies_of_held_out_rows():
    """Planted among random candidates: a held-out sequence's 1-substitution copy, its reverse
    complement, the reverse complement of a 2-substitution copy, a 3-substitution copy and an
    exact copy. The guard's verdict equals a brute-force Hamming distance <= 2 on either strand."""
    rng = np.random.default_rng(5)
    held = random_seqs(40, rng, [60])
    cands = random_seqs(60, rng, [60, 61])

    def sub(s, k):
        s = list(s)
        for p in rng.choice(len(s), k, replace=False):
            s[p] = "ACGT"[("ACGT".index(s[p]) + 1) % 4]
        return "".join(s)

    planted = [sub(held[3], 1), reverse_complement(held[3]), reverse_complement(sub(held[7], 2)), sub(held[9], 3),
               held[11]]
    cands[10:10] = planted
    leaks = A.LeakGuard(held, near="hamming", max_mismatch=2).leaks(cands)
    brute = np.array([min(_hamming_either_strand(c, h) for h in held) <= 2 for c in cands])
    assert np.array_equal(leaks, brute) and leaks.sum() == 4 and not leaks[13]
    assert A.LeakGuard(held, near="none").leaks(cands).sum() == 2       # the exact copy and the reverse complement
    assert not A.LeakGuard([], near="hamming").leaks(cands).any()


# ---------------------------------------------------------------------------- augmentation, end to end

def _genome_text():
    with gzip.open(GENOME, "rt") as fh:                       # bgzip is gzip: read it without pyfaidx
        return "".join(line.strip() for line in fh if not line.startswith(">")).upper()


def test_augmented_rows_counts_kinds_values_and_determinism(split_tsv, tmp_path):
    """30 candidates in the default mix (12 mutated, 12 shuffled, 6 genome windows), train split
    only, flagged by kind; each is what its kind says (23 = round(0.1 x 230) substitutions of its
    source row; the source's dinucleotide counts; the genome at its coordinates, either strand)
    and carries its own descfeat values; the same seed gives the same rows, another seed others."""
    data = {"augment": 30, "genome": str(GENOME)}
    r = _load(split_tsv, tmp_path / "a.h5", data=data)
    aug = r.meta["augmentation"]
    assert aug["candidates"] == {"mutate": 12, "shuffle": 12, "genome": 6}
    assert aug["added"] == {k: v - aug["dropped_near_val_test"][k] for k, v in aug["candidates"].items()}
    ids, seqs, values = _rows(r, "train")
    origin = r.block("train", "origin", 0, r.rows("train"))
    assert r.rows("val") == 16 and (origin[:48] == 0).all()
    assert Counter(origin[48:].tolist()) == {A.ORIGIN[k]: v for k, v in aug["added"].items() if v}
    source = dict(zip(ids[:48], seqs[:48]))
    genome = _genome_text()
    for i, s, o in zip(ids[48:], seqs[48:], origin[48:]):
        if o == A.ORIGIN["mutate"]:
            assert sum(x != y for x, y in zip(s, source[i.split(":", 1)[1]])) == 23
        elif o == A.ORIGIN["shuffle"]:
            assert dinucleotide_counts(s) == dinucleotide_counts(source[i.split(":", 1)[1]])
        else:
            chrom, span = i.rsplit("(", 1)[0].split(":")
            a, b = map(int, span.split("-"))
            assert chrom == "NC_000913.3" and b - a == 230
            assert s == (genome[a:b] if i.endswith("(+)") else reverse_complement(genome[a:b]))
    dset = DescriptorSet(r.meta["labels"]["families"], default_params())
    cand = [c for p in ("thermo_", "bend_") for c in dset.names if c.startswith(p)]     # --descriptors order
    want = dset.compute(seqs[48:])[:, [dset.names.index(c) for c in cand]].astype(np.float32)
    assert np.array_equal(values[48:], want, equal_nan=True)
    same = _load(split_tsv, tmp_path / "b.h5", data=data)
    assert same.meta["data_sha1"] == r.meta["data_sha1"] and _rows(same, "train")[1] == seqs
    other = _load(split_tsv, tmp_path / "c.h5", data=data, seed=8)
    assert _rows(other, "train")[1][48:] != seqs[48:] and _rows(other, "train")[1][:48] == seqs[:48]
    for x in (r, same, other):
        x.close()
    assert A.kind_counts(7, {"mutate": 0.4, "shuffle": 0.4, "genome": 0.2}) == {"mutate": 4, "shuffle": 3, "genome": 0}


def _fit(args):
    from toolkit.cli.fit_physinformer import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_plants_leaks_counts_them_and_resume_does_not_relabel(split_tsv, tmp_path, monkeypatch):
    """The command with --augment and --genome: a val row's 1-substitution copy and its reverse
    complement, planted among the candidates, are dropped and counted (config.json, summary);
    the run killed by SIGTERM in epoch 2 keeps its cache, and --resume trains from it without
    computing a descriptor; without the cache, the run's settings give the same rows again."""
    from toolkit.train import physinformer as trainer

    table = read_tsv(split_tsv)
    val = table.loc[table["split"] == "val", "sequence"].iloc[2]
    one = val[:100] + ("A" if val[100] != "A" else "C") + val[101:]
    planted = [one, reverse_complement(val)]
    real = A.candidates

    def with_planted(*a, **kw):
        for i, (seqs, kinds, ids) in enumerate(real(*a, **kw)):
            if i == 0:
                seqs, kinds, ids = planted + seqs, kinds[:2] + kinds, ["planted1", "planted2"] + ids
            yield seqs, kinds, ids

    monkeypatch.setattr(A, "candidates", with_planted)
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "m"
    args = [split_tsv, "-o", out, "--descriptors", DESC, "--augment", 20, "--genome", GENOME, "--preset", "cpu",
            "--epochs", 2, "--batch-size", 16, "--config", tmp_path / "tiny.toml"]
    real_step = trainer.guarded_step

    def step_then_term(loss, model, opt_, clip, epoch, batch, *a, **kw):
        if (epoch, batch) == (1, 0):
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(loss, model, opt_, clip, epoch, batch, *a, **kw)

    monkeypatch.setattr(trainer, "guarded_step", step_then_term)
    res = _fit(args)
    assert res.exit_code == 1 and "SIGTERM" in res.output, res.output
    cfg = json.loads((out / "config.json").read_text())
    aug = cfg["augmentation"]
    kind = aug["candidates"]
    assert sum(aug["dropped_near_val_test"].values()) == 2 and sum(aug["added"].values()) == 20
    assert cfg["rows"]["train"] == 68 and cfg["data"]["augment"] == 20
    assert cfg["labels"]["families"] == ["bend", "thermo"]
    assert "2 dropped as near-copies of val or test rows" in res.output and kind["mutate"] == 8
    dup = cfg["dropped"]["duplicate"]
    assert dup["thermo_mean_dH"] == "thermo_total_dH" and not set(dup) & set(cfg["descriptors"])
    held = table.loc[table["split"] != "train", "sequence"].tolist()
    with TC.CacheReader(str(out / "train_cache.h5"), "physinformer") as r:
        ids, seqs, _ = _rows(r, "train")
        assert not {one, reverse_complement(val)} & set(seqs) and "planted1" not in ids
        assert all(_hamming_either_strand(s, h) > 2 for s in seqs[48:] for h in held)     # brute force
    monkeypatch.setattr(trainer, "guarded_step", real_step)

    def refuse(self, seqs):
        raise AssertionError("descriptors computed again")

    monkeypatch.setattr(Labeller, "compute", refuse)
    res = _fit([*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert "rows from the training cache" in res.output and not (out / "train_cache.h5").exists()
    monkeypatch.undo()
    monkeypatch.setattr(A, "candidates", with_planted)
    # a --resume without the cache reads the input again with config.json's settings: the same rows
    cfg = json.loads((out / "config.json").read_text())
    norm = json.loads((out / "normalization.json").read_text())
    PD.load(str(split_tsv), "auto", None, None, None, None, None, cfg, norm, opt.Log("t", quiet=True),
            cache=str(tmp_path / "again.h5"), labels={"cell_type": "HepG2", "motifs_path": None,
                                                      "motifs_given": False, "jobs": 1, "seed": cfg["seed"]},
            data=cfg["data"])
    with TC.CacheReader(str(tmp_path / "again.h5"), "physinformer") as r:
        assert r.meta["data_sha1"] == cfg["data_sha1"] and r.meta["augmentation"] == cfg["augmentation"]


# ---------------------------------------------------------------------------- pruning

def test_duplicate_descriptors_are_pruned_on_the_train_rows(tmp_path):
    """A hand-made table: an exact copy, an affine copy and a negated copy of a column are dropped
    as duplicates of it (as numpy's correlation says), a copy with NaN in other rows and a
    near-copy (r below the threshold) are kept, and so is a column that is a copy on val only;
    data.prune = false keeps them all."""
    rng = np.random.default_rng(2)
    n = 60
    split = np.array(["train"] * 40 + ["val"] * 14 + ["test"] * 6)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "sequence": random_seqs(n, rng, [40]), "split": split,
                       "thermo_a": a, "thermo_copy": a, "bend_affine": 3 * a + 2, "bend_negated": -a,
                       "stiff_b": b, "stiff_near": b + rng.normal(scale=1e-2, size=n),
                       "entropy_nan": np.where(np.arange(n) % 7 == 0, np.nan, a),
                       "entropy_valcopy": np.where(split == "train", rng.normal(size=n), a)})
    path = tmp_path / "t.tsv"
    df.to_csv(path, sep="\t", index=False)
    r = _load(path, tmp_path / "c.h5", desc=None)
    tr = df[split == "train"]
    corr = lambda x, y: abs(np.corrcoef(tr[x], tr[y])[0, 1])   # noqa: E731
    assert r.meta["dropped"]["duplicate"] == {"thermo_copy": "thermo_a", "bend_affine": "thermo_a",
                                              "bend_negated": "thermo_a"}
    assert all(corr(c, "thermo_a") > 0.999999 for c in r.meta["dropped"]["duplicate"])
    assert corr("stiff_near", "stiff_b") < 0.999999
    assert r.meta["names"] == ["thermo_a", "stiff_b", "stiff_near", "entropy_nan", "entropy_valcopy"]
    r.close()
    keep = _load(path, tmp_path / "d.h5", desc=None, data={"prune": False})
    assert keep.meta["dropped"]["duplicate"] == {} and len(keep.meta["names"]) == 8
    keep.close()


def test_errors_are_one_line(split_tsv, tmp_path):
    """--augment on an input with descriptor columns, and a mix with no usable kind, are Error: lines."""
    df = read_tsv(split_tsv)
    df["thermo_x"] = np.arange(len(df), dtype=float)
    path = tmp_path / "d.tsv"
    df.to_csv(path, sep="\t", index=False)
    res = _fit([path, "-o", tmp_path / "m", "--augment", 5, "-q"])
    assert res.exit_code == 1 and res.output.startswith("Error:") and "--augment" in res.output
    assert len(res.output.strip().splitlines()) == 1
    with pytest.raises(Exception, match="augment_mix"):
        _load(split_tsv, tmp_path / "e.h5", data={"augment": 4, "augment_mix": {"mutate": 0, "shuffle": 0,
                                                                               "genome": 1}})
    assert load_motifs("HepG2", None, ("thermo",)) == (None, {})
    from toolkit.features.motifs import CELL_TYPES

    assert opt.CELL_TYPES == CELL_TYPES                 # the option's choices are the motif lists there are
