"""fit-cre and fit-physinformer under torchrun: a real 2-process DistributedDataParallel training (gloo, CPU)
on the real lentiMPRA example, against the 1-process run; SIGTERM through torchrun and
--resume with a different number of processes."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import EXAMPLES, REPO, read_tsv, run_cli

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
    cmd = [*pre, "-m", command, *[str(a) for a in args]]
    p = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    if not wait:
        return p
    out, err = p.communicate(timeout=300)
    return p.returncode, err


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
    deadline = time.time() + 300
    while not (part / "train_log.tsv").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=300)
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
