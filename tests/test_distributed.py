"""fit-cre, fit-physinformer and fit-ep under torchrun: a real 2-process DistributedDataParallel training
(gloo, CPU) against the 1-process run (fit-cre and fit-physinformer on the real lentiMPRA example, fit-ep
on synthetic pairs with a planted grammar); SIGTERM through torchrun and --resume with a different number
of processes."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import EXAMPLES, REPO, random_seqs, read_tsv, run_cli

ARGS = ["--targets", "HepG2_l2fc,K562_l2fc,WTC11_l2fc", "--preset", "cpu", "--ensemble", "1", "--batch-size", "32",
        "--no-baseline", "-j", "1"]


@pytest.fixture(scope="module")
def split_table(tmp_path_factory):
    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    df = pd.concat([df[df["split"] == k].head(n) for k, n in (("train", 256), ("val", 64), ("test", 10))])
    path = tmp_path_factory.mktemp("ddp") / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


def fit(args, procs=1, wait=True, command="toolkit.cli.fit_cre"):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    pre = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)] \
        if procs > 1 else [sys.executable]
    cmd = [*pre, *([command] if command.endswith(".py") else ["-m", command]), *[str(a) for a in args]]
    p = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    if not wait:
        return p
    out, err = p.communicate(timeout=300)
    return p.returncode, err


def sigterm_after_first_epoch(p, out):
    """SIGTERM to the whole process group of ``p`` (torchrun and its ranks) once the run in ``out`` has
    logged its first epoch; returns its standard error."""
    deadline = time.time() + 300
    while not (out / "train_log.tsv").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGTERM)
    return p.communicate(timeout=300)[1]


def test_two_processes_match_one_and_resume_with_another_count(split_table, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    rc, err = fit([split_table, "-o", one, "--epochs", "2", *ARGS])
    assert rc == 0, err
    rc, err = fit([split_table, "-o", two, "--epochs", "2", *ARGS], procs=2)
    assert rc == 0, err
    assert "2 processes (DistributedDataParallel)" in err and err.count("epoch 1/2") == 1   # rank 0 speaks
    la, lb = read_tsv(one / "train_log.tsv"), read_tsv(two / "train_log.tsv")
    assert len(la) == len(lb) == 2
    # the same global batches and augmentations, gradients averaged over ranks: the same run up to the
    # per-rank BatchNorm statistics (SyncBatchNorm needs CUDA) and dropout masks, so the validation mean
    # Pearson agrees within tolerance (64 val rows: per-task r moves by up to 0.1 between seeds)
    va, vb = la["val_mean_pearson"].astype(float), lb["val_mean_pearson"].astype(float)
    assert abs(va.max() - vb.max()) <= 0.05, (list(va), list(vb))          # the kept (best) epochs
    assert vb.max() > 0.3
    a = torch.load(one / "model.pt", weights_only=True)
    b = torch.load(two / "model.pt", weights_only=True)
    assert a.keys() == b.keys()

    # SIGTERM to torchrun reaches both ranks: one checkpoint, then --resume in a single process
    part = tmp_path / "part"
    p = fit([split_table, "-o", part, "--epochs", "4", *ARGS], procs=2, wait=False)
    sigterm_after_first_epoch(p, part)
    assert p.returncode != 0
    ck = torch.load(part / "checkpoint-last.pt", weights_only=True)
    assert 1 <= ck["state"]["epoch"] < 4
    rc, err = fit([split_table, "-o", part, "--resume", "-j", "1"])
    assert rc == 0, err
    log = read_tsv(part / "train_log.tsv")
    assert list(log["epoch"]) == ["1", "2", "3", "4"] and (part / "model.pt").exists()


def test_physinformer_two_processes_match_one(split_table, tmp_path):
    h5 = tmp_path / "d.h5"
    res = run_cli("descfeat", [split_table, "--families", "thermo,bend", "-q", "-o", h5])
    assert res.exit_code == 0, res.output
    args = ["--preset", "cpu", "--epochs", "2", "--batch-size", "32", "--activities", "HepG2_l2fc", "-j", "1"]
    one, two = tmp_path / "one", tmp_path / "two"
    rc, err = fit([h5, "-o", one, *args], command="toolkit.cli.fit_physinformer")
    assert rc == 0, err
    rc, err = fit([h5, "-o", two, *args], procs=2, command="toolkit.cli.fit_physinformer")
    assert rc == 0, err
    assert "2 processes (DistributedDataParallel)" in err and err.count("epoch 1/2") == 1
    la, lb = read_tsv(one / "train_log.tsv"), read_tsv(two / "train_log.tsv")
    assert len(la) == len(lb) == 2
    # the same global batches with gradients averaged over ranks: per-rank BatchNorm statistics and
    # dropout masks differ, so the best median per-descriptor validation Pearson agrees within tolerance
    ma, mb = la["val_pearson_median"].astype(float), lb["val_pearson_median"].astype(float)
    assert abs(ma.max() - mb.max()) <= 0.05, (list(ma), list(mb))
    assert mb.max() > 0.3
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in two.iterdir())


# ---------------------------------------------------------------------------- fit-ep

EP_ARGS = ["--epochs", "4", "--batch-size", "32", "--support-size", "16", "--no-baseline",
           "-j", "1"]                    # fit-ep's min_epochs (6) exceeds the 4 epochs: no early stop

EVERY_RANK_SAVES = """
from toolkit.train import dist, ep
from toolkit.train import modeldir as MD


def save(path, obj):  # rank r > 0 saves what rank 0 saves, next to it as <file>.rank<r>
    g = dist.group()
    MD.save_tensors(path if g.main else f"{path}.rank{g.rank}", obj)


ep._save = save
from toolkit.cli.fit_ep import cli  # noqa: E402

cli()
"""


@pytest.fixture(scope="module")
def pair_table(tmp_path_factory):
    """1,200 enhancer-promoter pairs (sequence layout, 120 bp each, 4 cell lines, a quarter val) with a
    planted grammar the cpu preset learns in a few epochs: a pair interacts when its enhancer holds motif
    A and its promoter motif P (each planted twice where present, in half of the sequences), 5% of the
    labels flipped (prior about 0.29). The tiny genome of test_fit_ep stays near its prior in a few epochs
    (best val AUPR 0.07-0.21 over seeds, prior 0.067), where a broken run could not be told from a working
    one."""
    rng = np.random.default_rng(0)
    n = 1200
    seqs = {k: [list(s) for s in random_seqs(n, rng, [120])] for k in ("e", "p")}
    on = {k: rng.random(n) < 0.5 for k in ("e", "p")}
    for k, motif in (("e", "TGACTCAT"), ("p", "CCAATCGG")):
        for i in np.flatnonzero(on[k]):
            for at in rng.integers(0, 120 - len(motif), 2):
                seqs[k][i][at:at + len(motif)] = motif
    label = (on["e"] & on["p"]) != (rng.random(n) < 0.05)
    df = pd.DataFrame({"id": [f"pair{i}" for i in range(n)], "cell": [f"cell{i % 4}" for i in range(n)],
                       "enhancer_seq": ["".join(s) for s in seqs["e"]], "promoter_seq": ["".join(s) for s in seqs["p"]],
                       "label": label.astype(int), "split": np.where(rng.random(n) < 0.25, "val", "train")})
    path = tmp_path_factory.mktemp("ep_ddp") / "pairs.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


def test_fit_ep_two_processes_match_one_and_resume_with_another_count(pair_table, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    rc, err = fit([pair_table, "-o", one, *EP_ARGS, "-q"], command="toolkit.cli.fit_ep")
    assert rc == 0, err
    script = tmp_path / "every_rank_saves.py"
    script.write_text(EVERY_RANK_SAVES)
    rc, err = fit([pair_table, "-o", two, *EP_ARGS], procs=2, command=str(script))
    assert rc == 0, err
    assert "2 processes (DistributedDataParallel)" in err and err.count("epoch 1/4 ") == 1   # rank 0 speaks
    # the ranks never drift: rank 1 ends with rank 0's weights and prototypes (buffers), bit for bit
    for name in ("model.pt", "checkpoint-last.pt"):
        a = torch.load(two / name, weights_only=True)
        b = torch.load(two / f"{name}.rank1", weights_only=True)
        if name == "checkpoint-last.pt":
            assert a["state"]["step"] == b["state"]["step"]
            untimed = [[{k: v for k, v in row.items() if k not in ("seconds", "samples_per_s")} for row in x["state"]["log"]]
                       for x in (a, b)]
            assert repr(untimed[0]) == repr(untimed[1])         # the same metrics (NaN included) on both ranks
            a, b = a["model"], b["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    one_ck = torch.load(one / "checkpoint-last.pt", weights_only=True)
    two_ck = torch.load(two / "checkpoint-last.pt", weights_only=True)
    assert one_ck["state"]["step"] == two_ck["state"]["step"]     # the schedule counts batches, not steps
    la, lb = read_tsv(one / "train_log.tsv"), read_tsv(two / "train_log.tsv")
    assert list(la.columns) == list(lb.columns) and len(la) == len(lb) == 4
    assert list(lb["phase"]) == ["curriculum", "curriculum", "joint", "joint"]
    assert [float(v) for v in lb["lambda"][:2]] == [pytest.approx(0.1)] * 2     # frozen in the curriculum under DDP
    # the same batches, augmentations and per-batch losses, but 2 ranks make half the steps of an epoch, each
    # the mean gradient of 2 batches, so the runs agree within tolerance, not exactly. Measured on this table
    # (4 epochs): over seeds 1-8 the 1-process best val AUPR spans 0.895-0.948 and the 2-process one differs
    # from it by -0.010 to -0.036 for 7 seeds and -0.135 for one (its run still rising at epoch 4); at the
    # default seed used here +0.011. 0.1 is twice the 1-process seed range and 3x the usual gap; a run that
    # learns nothing stays near the prior (0.27), far below 0.7
    va, vb = la["val_aupr"].astype(float), lb["val_aupr"].astype(float)
    assert abs(va.max() - vb.max()) <= 0.1, (list(va), list(vb))
    assert min(va.max(), vb.max()) > 0.7                            # both learned (prior about 0.29)

    # SIGTERM to torchrun reaches both ranks: one mid-epoch checkpoint, then --resume in a single process
    part = tmp_path / "part"
    p = fit([pair_table, "-o", part, *EP_ARGS], procs=2, wait=False, command="toolkit.cli.fit_ep")
    err = sigterm_after_first_epoch(p, part)
    assert p.returncode != 0
    assert "Error: stopped by SIGTERM" in err and str(part / "checkpoint-last.pt") in err, err
    ck = torch.load(part / "checkpoint-last.pt", weights_only=True)
    assert 1 <= ck["state"]["epoch"] < 4 and ck["state"]["mid"]["batch"] > 0
    rc, err = fit([pair_table, "-o", part, "--resume", "--no-baseline", "-j", "1", "-q"], command="toolkit.cli.fit_ep")
    assert rc == 0, err
    log = read_tsv(part / "train_log.tsv")
    assert list(log["epoch"]) == ["1", "2", "3", "4"] and (part / "model.pt").exists()
    assert abs(log["val_aupr"].astype(float).max() - va.max()) <= 0.1
