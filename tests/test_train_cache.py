"""The training cache of fit-cre and fit-physinformer (issue 8, "Data loading scales"): the chunked
writer holds at most one chunk per dataset, rows read by index equal the rows written, the streamed
(--stream-data) and in-memory (--data-in-memory) modes train identically, test rows never enter the
cache, --resume trains from the cache, and a corrupt or missing cache is an Error: line."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from conftest import DATA, EXAMPLES, kill_after_epoch, read_tsv, run_cli
from toolkit.cli.fit_cre import cli as fit_cli
from toolkit.cli.fit_physinformer import cli as pi_cli
from toolkit.io import traincache as TC
from toolkit.train import cre as trainer
from toolkit.train import data as D

TARGETS = "HepG2_l2fc,K562_l2fc,WTC11_l2fc"
FAST = ["--targets", TARGETS, "--preset", "cpu", "--ensemble", "1", "--epochs", "2", "--batch-size", "32",
        "--no-baseline", "-q"]                      # the cpu preset warms up 1 epoch


def invoke(cli, args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Real lentiMPRA 3-cell rows through seqqc | dgsplit (160 train / 48 val / 30 test), with what
    the cache must carry: an SE column with gaps, a numeric feature column, sequences of several
    lengths (some trimmed), and test rows whose targets would be an error if they were parsed; plus a
    descfeat-layout HDF5 of one descriptor per row, matched by id, in shuffled order."""
    from toolkit.io.h5 import H5Writer

    d = tmp_path_factory.mktemp("cache")
    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    df = pd.concat([df[df["split"] == k].sample(n, random_state=3) for k, n in (("train", 160), ("val", 48),
                                                                                   ("test", 30))])
    df = df.reset_index(drop=True)
    assert df.loc[df["split"] == "train", "target_cell"].nunique() == 2
    rng = np.random.default_rng(5)
    se = rng.uniform(0.05, 0.6, len(df)).round(3).astype(str)
    se[::7] = "NA"
    df["HepG2_lfcSE"] = se
    df["gc"] = [f"{(s.count('G') + s.count('C')) / len(s):.4f}" for s in df["sequence"]]
    cut = rng.integers(0, 25, len(df))
    df["sequence"] = [s[c // 2:len(s) - (c - c // 2)] if i % 3 == 0 else s
                      for i, (s, c) in enumerate(zip(df["sequence"], cut))]
    df.loc[df["split"] == "test", ["HepG2_l2fc", "K562_l2fc", "WTC11_l2fc", "gc"]] = "not-read"
    path = d / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    h5 = d / "feats.h5"
    order = rng.permutation(len(df))
    w = H5Writer(str(h5), ["at_frac"], ["global"], {})
    w.append(df["id"].to_numpy(object)[order], df["sequence"].to_numpy(object)[order], {},
             np.array([[s.count("A") / len(s)] for s in df["sequence"].iloc[order]], dtype=np.float32))
    w.close()
    return path, h5, df


def _weights(path):
    return torch.load(path, weights_only=True)


def _same_weights(a, b):
    a, b = _weights(a), _weights(b)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------- library

def test_chunked_writer_holds_one_chunk_and_rows_read_back_by_index(tmp_path, monkeypatch):
    monkeypatch.setattr(TC, "CHUNK_BYTES", 1000)          # small chunks: many of them, whatever the row count
    rng = np.random.default_rng(0)
    path = tmp_path / "c.h5"
    seqs, ys, ids = [], [], []
    with TC.CacheWriter(path, "cre", source=None) as w:
        for block in range(40):
            m = int(rng.integers(0, 120))
            width = 40 if block < 20 else 55               # the row width grows part-way (longer sequences)
            s = ["".join(rng.choice(list("ACGTN"), int(rng.integers(1, width + 1)))) for _ in range(m)]
            codes, lengths = D.encode_left(s)
            y = rng.normal(size=(m, 3))
            names = np.array([f"r{len(ids) + i}" for i in range(m)], dtype=object)
            if m:
                w.append("train", {"codes": codes, "lengths": lengths, "y": y, "ids": names})
            seqs += s
            ys.append(y)
            ids += list(names)
            for col in w.columns["train"].values():   # never more than one chunk waits in memory
                assert col.buffered < col.chunk_rows
        w.append("val", {"codes": codes, "lengths": lengths, "y": y, "ids": names})
        ds = w.dataset("train", "codes")
        assert ds.chunks[0] == w.columns["train"]["codes"].chunk_rows < len(seqs) // 10
        assert ds.compression is None and ds.shape == (len(seqs), max(len(x) for x in seqs))
        w.finish({"hello": np.float32(1.5)})
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]      # the temporary file was renamed
    ys = np.concatenate(ys)
    with TC.CacheReader(path, "cre") as r:
        assert r.meta == {"hello": 1.5} and r.rows("train") == len(seqs)
        for idx in (rng.integers(0, len(seqs), 97), np.arange(len(seqs))[::-1], np.array([5, 5, 0]),
                    np.zeros(0, dtype=np.int64)):
            got = r.read("train", "codes", idx)
            assert np.array_equal(D.decode_rows(got, r.read("train", "lengths", idx)), [seqs[i] for i in idx])
            assert np.array_equal(D.centre(got, r.read("train", "lengths", idx), 48), D.encode([seqs[i] for i in idx], 48))
            assert np.array_equal(r.read("train", "y", idx), ys[idx])
            assert list(r.read("train", "ids", idx)) == [ids[i] for i in idx]
        assert np.array_equal(r.block("train", "y", 10, 400), ys[10:400])
    with pytest.raises(Exception):
        TC.CacheReader(path, "physinformer")


def test_cache_errors_name_the_file(tmp_path):
    from toolkit.errors import InputError

    path = tmp_path / "c.h5"
    with TC.CacheWriter(path, "cre") as w:
        w.append("train", {"codes": np.zeros((3000, 200), np.uint8), "lengths": np.full(3000, 200, np.int32)})
        w.finish({})
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(InputError, match="unreadable or truncated") as err:
        TC.CacheReader(path, "cre")
    assert str(path) in err.value.message() and "delete it" in err.value.message()
    with pytest.raises(InputError, match="missing"):
        TC.CacheReader(tmp_path / "none.h5", "cre")
    with TC.CacheWriter(path, "cre") as w:              # an interrupted build leaves nothing behind
        w.append("train", {"codes": np.zeros((5, 4), np.uint8)})
        w.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]


def test_h5_rows_by_id_match_a_whole_read(tmp_path):
    from toolkit.errors import InputError
    from toolkit.io.h5 import H5Rows, H5Writer
    from toolkit.train.side import h5_features

    rng = np.random.default_rng(1)
    n = 2500
    ids = np.array([f"id{i}" for i in rng.permutation(n)], dtype=object)
    ids[7] = ids[3]                                          # a duplicated id: its last row counts
    vals = rng.normal(size=(n, 4)).astype(np.float32)
    p = tmp_path / "f.h5"
    w = H5Writer(str(p), ["a", "b", "c", "d"], ["global"] * 4, {})
    w.append(ids, ["A"] * n, {}, vals)
    w.close()
    rows = H5Rows(p, ["c", "a"], block_rows=300)
    want = list(rng.choice(ids, 700))
    ref, _ = h5_features(str(p), want, ["c", "a"])
    assert np.array_equal(rows.values(want), ref)
    with pytest.raises(InputError, match="not in the file"):
        rows.values(["id1", "nope"])
    rows.close()
    with pytest.raises(InputError, match="descriptor"):
        H5Rows(p, ["zzz"])


def test_kmer_rows_are_all_rows_or_a_bounded_seeded_sample():
    assert trainer.kmer_rows(trainer.KMER_MAX_ROWS, 1) is None
    a = trainer.kmer_rows(1_000_000, 1)
    assert len(a) == trainer.KMER_MAX_ROWS and np.all(np.diff(a) > 0) and a[-1] < 1_000_000
    assert np.array_equal(a, trainer.kmer_rows(1_000_000, 1)) and not np.array_equal(a, trainer.kmer_rows(1_000_000, 2))


# ------------------------------------------------------------------------------------------- fit-cre

def test_streamed_and_in_memory_training_are_identical(table, tmp_path):
    """SE weights, a feature column, a modality from HDF5 matched by id, the cell label, target cells,
    sequences of several lengths and the k-mer branch: the same losses, metrics and weights."""
    path, h5, _ = table
    extra = ["--features", "gc", "--modality", f"desc={h5}", "--cell-col", "target_cell"]
    logs = {}
    for mode in ("--stream-data", "--data-in-memory"):
        out = tmp_path / mode.strip("-")
        res = CliRunner().invoke(fit_cli, [str(a) for a in [path, "-o", out, *FAST[:-1], *extra, mode]],
                                 catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert ("read from the training cache by index" in res.output) == (mode == "--stream-data")
        assert "training cache" in res.output and not (out / TC.NAME).exists()      # deleted at the end
        logs[mode] = read_tsv(out / "train_log.tsv").drop(columns=["seconds", "samples_per_s"])
    a, b = tmp_path / "stream-data", tmp_path / "data-in-memory"
    assert logs["--stream-data"].equals(logs["--data-in-memory"])
    assert _same_weights(a / "model.pt", b / "model.pt")
    assert (a / "normalization.json").read_text() == (b / "normalization.json").read_text()
    cfg = json.loads((a / "config.json").read_text())
    assert cfg["rows"] == {"train": 160, "val": 48, "test_not_read": 30}
    assert cfg["length"] == 230 and cfg["side"]["cell"]["categories"] == ["HepG2", "WTC11"]
    assert cfg["model"]["n_side"] == 4
    assert cfg["side"]["modality_specs"][0]["names"] == ["at_frac"]


def test_steps_per_epoch_caps_the_steps(table, tmp_path):
    path, _, _ = table
    settings = tmp_path / "steps.toml"
    settings.write_text("[train]\nsteps_per_epoch = 2\n")
    res = invoke(fit_cli, [path, "-o", tmp_path / "m", *FAST, "--config", settings, "--stream-data"])
    assert res.exit_code == 0, res.output
    ck = torch.load(tmp_path / "m" / "checkpoint-last.pt", weights_only=True)
    assert ck["state"]["step"] == 4 and json.loads((tmp_path / "m" / "config.json").read_text())["train"][
        "steps_per_epoch"] == 2


def test_test_rows_never_enter_the_cache_and_resume_reads_the_cache(table, tmp_path, monkeypatch):
    path, _, df = table
    whole = tmp_path / "whole"
    assert invoke(fit_cli, [path, "-o", whole, *FAST, "--epochs", "3"]).exit_code == 0
    part = tmp_path / "part"
    restore = kill_after_epoch(monkeypatch, trainer, 1)
    res = invoke(fit_cli, [path, "-o", part, *FAST, "--epochs", "3", "--stream-data"])
    assert res.exit_code != 0
    restore()
    with TC.CacheReader(part / TC.NAME, "cre") as r:           # left for --resume
        for k in ("train", "val"):
            ids = list(r.read(k, "ids", np.arange(r.rows(k))))
            assert ids == list(df.loc[df["split"] == k, "id"])
        assert not set(df.loc[df["split"] == "test", "id"]) & set(r.block("train", "ids", 0, r.rows("train")))
        assert r.meta["n_test"] == 30
    # --resume without the input: the rows come from the cache; the weights are those of the whole run
    res = invoke(fit_cli, ["-o", part, "--resume"], input="")
    assert res.exit_code == 0, res.output
    assert "rows from the training cache" in res.output and _same_weights(whole / "model.pt", part / "model.pt")
    assert not (part / TC.NAME).exists()


def test_resume_rebuilds_a_missing_cache_and_refuses_a_corrupt_one(table, tmp_path, monkeypatch):
    path, _, _ = table
    whole = tmp_path / "whole"
    assert invoke(fit_cli, [path, "-o", whole, *FAST, "--epochs", "3"]).exit_code == 0
    part = tmp_path / "part"
    restore = kill_after_epoch(monkeypatch, trainer, 1)
    assert invoke(fit_cli, [path, "-o", part, *FAST, "--epochs", "3"]).exit_code != 0
    restore()
    cache = part / TC.NAME
    good = cache.read_bytes()
    cache.write_bytes(good[:len(good) // 3])                     # truncated (a disk error, a copy cut short)
    res = invoke(fit_cli, [path, "-o", part, "--resume", "-q"])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and str(cache) in res.output
    assert "training cache is unreadable or truncated" in res.output and "Traceback" not in res.output
    cache.unlink()                                                # missing, and no input: an error naming it
    monkeypatch.setattr(TC, "_stdin_is_terminal", lambda: True)
    res = invoke(fit_cli, ["-o", part, "--resume", "-q"])
    assert res.exit_code == 1 and "training cache is missing" in res.output and str(cache) in res.output
    monkeypatch.undo()
    res = invoke(fit_cli, [path, "-o", part, "--resume", "-q"])   # missing, input given: rebuilt from it
    assert res.exit_code == 0, res.output
    assert _same_weights(whole / "model.pt", part / "model.pt")


# ------------------------------------------------------------------------------------------- fit-physinformer

@pytest.fixture(scope="module")
def descriptors(tmp_path_factory):
    from test_fit_physinformer import _descriptors_h5

    return _descriptors_h5(tmp_path_factory, "thermo,bend")


def test_physinformer_streamed_and_in_memory_training_are_identical(descriptors, tmp_path):
    args = ["--preset", "cpu", "--epochs", "2", "--batch-size", "32", "--activities", "mean_value", "-q"]
    for mode in ("--stream-data", "--data-in-memory"):
        res = invoke(pi_cli, [descriptors, "-o", tmp_path / mode.strip("-"), *args, mode])
        assert res.exit_code == 0, res.output
    a, b = tmp_path / "stream-data", tmp_path / "data-in-memory"
    la = read_tsv(a / "train_log.tsv").drop(columns=["seconds", "samples_per_s"])
    lb = read_tsv(b / "train_log.tsv").drop(columns=["seconds", "samples_per_s"])
    assert la.equals(lb)
    assert _same_weights(a / "model.pt", b / "model.pt") and _same_weights(a / "aux.pt", b / "aux.pt")
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    assert not (a / TC.NAME).exists()


def test_two_processes_stream_their_shards_of_each_batch(table, tmp_path):
    """torchrun, 2 gloo processes on CPU, --stream-data: rank 0 writes the cache, every rank reads its
    rows of each global batch from it by index; the run completes and the cache is removed."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    path, _, _ = table
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "toolkit.cli.fit_cre", str(path), "-o", str(out), *FAST[:-1], "--epochs", "1", "--stream-data",
           "-j", "1"]
    p = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "2 processes (DistributedDataParallel)" in p.stderr and "by index (--stream-data)" in p.stderr
    log = read_tsv(out / "train_log.tsv")
    assert list(log["epoch"]) == ["1"] and np.isfinite(float(log["val_mean_pearson"][0]))
    assert not (out / TC.NAME).exists() and (out / "model.pt").exists()
