"""What every model family's training shares, tested once for fit-cre, fit-physinformer and fit-ep:
a real SIGTERM mid-epoch writes a checkpoint and --resume reaches the weights of an uninterrupted run
bit for bit; a real SIGKILL while a checkpoint is being written leaves the previous complete one, and
--resume from it is exact too; the same seed twice gives a byte-identical model.pt (another seed other
weights); the model directory refusals (a finished model without --resume, --resume without a model,
a directory another run holds); and torchrun with 2 processes against 1.

Each family is one row of FAMILIES: how to build a tiny training input, the flags and --config file
of a fast run (tiny networks, a few steps per epoch) and the trainer module whose functions the tests
intercept. One uninterrupted run per family (module scope) is the reference of the other tests."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from conftest import DATA, REPO, random_seqs, read_tsv, run_cli

EPOCHS = 3
UNTIMED = ("seconds", "samples_per_s")        # log columns that measure time, not the run


# ---------------------------------------------------------------------------- the families

def _cre_input(d):
    """The real lentiMPRA HepG2 rows (tests/data) through dgsplit."""
    path = d / "split.tsv"
    res = run_cli("dgsplit", [DATA / "lentimpra_HepG2_400.tsv", "-q", "-o", path])
    assert res.exit_code == 0, res.output
    return [path]


def _physinformer_input(d):
    """96 train / 32 val / 16 test real lentiMPRA rows through dgsplit | descfeat -o d.h5."""
    qc = run_cli("seqqc", [DATA / "lentimpra_HepG2_400.tsv", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    df = pd.concat([df[df["split"] == k].head(n) for k, n in (("train", 96), ("val", 32), ("test", 16))])
    df.to_csv(d / "split.tsv", sep="\t", index=False)
    res = run_cli("descfeat", [d / "split.tsv", "--families", "thermo,bend", "-o", d / "d.h5", "-q"])
    assert res.exit_code == 0, res.output
    return [d / "d.h5"]


def _ep_input(d):
    """Synthetic enhancer-promoter pairs in the sequence layout (no real genome is bundled for the
    TargetFinder pairs): 160 pairs of 96 bp in 4 cell lines, a quarter val; a pair interacts when its
    enhancer holds motif A and its promoter motif P. The tests compare runs with each other, so any
    learnable table does."""
    rng = np.random.default_rng(0)
    n = 160
    seqs = {k: [list(s) for s in random_seqs(n, rng, [96])] for k in ("e", "p")}
    on = {k: rng.random(n) < 0.5 for k in ("e", "p")}
    for k, motif in (("e", "TGACTCAT"), ("p", "CCAATCGG")):
        for i in np.flatnonzero(on[k]):
            at = rng.integers(0, 96 - len(motif))
            seqs[k][i][at:at + len(motif)] = motif
    df = pd.DataFrame({"id": [f"pair{i}" for i in range(n)], "cell": [f"cell{i % 4}" for i in range(n)],
                       "enhancer_seq": ["".join(s) for s in seqs["e"]], "promoter_seq": ["".join(s) for s in seqs["p"]],
                       "label": (on["e"] & on["p"]).astype(int),
                       "split": np.where(np.arange(n) % 4 == 3, "val", "train")})
    path = d / "pairs.tsv"
    df.to_csv(path, sep="\t", index=False)
    return [path]


FAMILIES = {
    "fit-cre": {
        "module": "toolkit.cli.fit_cre", "trainer": "toolkit.train.cre", "input": _cre_input,
        "args": ["--targets", "mean_value", "--preset", "cpu", "--batch-size", "16", "--no-baseline"],
        "config": "[train]\nsteps_per_epoch = 3\nmin_epochs = 10\n"
                  "[model]\nstem = 8\nwidth = 8\nwide = 8\nres_blocks = 1\nhead_hidden = [8, 8]\n"
                  "kmer_prior = false\nmembers = 1\n",
    },
    "fit-physinformer": {
        "module": "toolkit.cli.fit_physinformer", "trainer": "toolkit.train.physinformer",
        "input": _physinformer_input,
        "args": ["--activities", "mean_value", "--preset", "cpu", "--batch-size", "16"],
        "config": "[train]\nsteps_per_epoch = 3\n"
                  "[model]\nembed = 4\nchannels = [8, 8, 8]\nkernels = [5, 5, 5]\nd_state = 2\nssm_layers = 1\n"
                  "pyramid_hidden = 8\nattn_heads = 1\nhead_hidden = 8\naux_embed = 4\naux_channels = [8, 8]\n"
                  "aux_hidden = 8\n",
    },
    "fit-ep": {
        "module": "toolkit.cli.fit_ep", "trainer": "toolkit.train.ep", "input": _ep_input,
        "args": ["--preset", "cpu", "--batch-size", "16", "--support-size", "8", "--no-baseline",
                 "--enhancer-length", "96", "--promoter-length", "96"],
        # one curriculum epoch: the interruptions below fall in the joint phase (prototypes, memory)
        "config": "[train]\ncurriculum_epochs = 1\nmin_epochs = 10\ncontrast = 8\n"
                  "[model]\nchannels = 8\nkernel = 5\nd = 8\nenv_hidden = 8\nmodules = 8\nenv_filters = 8\n",
        "mid_state": lambda ck: float(ck["model"]["proto_seen"].sum()) > 0,
    },
}


def _cli(fam):
    import importlib

    return importlib.import_module(fam["module"]).cli


def _trainer(fam):
    import importlib

    return importlib.import_module(fam["trainer"])


def invoke(fam, args):
    return CliRunner().invoke(_cli(fam), [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory):
    """A family's row with its input built and its run's flags resolved: ``inputs``, ``flags``
    (everything after -o DIR of a new run) and ``whole`` (the uninterrupted run's directory)."""
    fam = dict(FAMILIES[request.param], name=request.param)
    d = tmp_path_factory.mktemp(request.param)
    fam["inputs"] = fam["input"](d)
    (d / "settings.toml").write_text(fam["config"])
    fam["flags"] = [*fam["args"], "--epochs", str(EPOCHS), "--config", d / "settings.toml", "-q"]
    fam["whole"] = d / "whole"
    t0 = time.time()
    res = invoke(fam, [*fam["inputs"], "-o", fam["whole"], *fam["flags"]])
    assert res.exit_code == 0, res.output
    fam["seconds"] = time.time() - t0
    assert len(read_tsv(fam["whole"] / "train_log.tsv")) == EPOCHS      # no early stop: every epoch ran
    return fam


def weights(path):
    sd = torch.load(path, weights_only=True)
    return sd["model"] if "state" in sd else sd


def assert_same_weights(one, two):
    """model.pt and checkpoint-last.pt's weights of two model directories are equal, bit for bit."""
    for name in ("model.pt", "checkpoint-last.pt"):
        a, b = weights(one / name), weights(two / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def assert_same_log(one, two):
    """Both train_log.tsv hold the same columns and, but for the timings, the same values."""
    la, lb = read_tsv(one / "train_log.tsv"), read_tsv(two / "train_log.tsv")
    assert list(la.columns) == list(lb.columns)
    keep = [c for c in la.columns if c not in UNTIMED]
    pd.testing.assert_frame_equal(la[keep], lb[keep])


# ---------------------------------------------------------------------------- determinism

def test_the_same_seed_gives_a_byte_identical_model(family, tmp_path):
    again = tmp_path / "again"
    res = invoke(family, [*family["inputs"], "-o", again, *family["flags"]])
    assert res.exit_code == 0, res.output
    assert (again / "model.pt").read_bytes() == (family["whole"] / "model.pt").read_bytes()
    assert_same_weights(family["whole"], again)
    assert_same_log(family["whole"], again)
    other = tmp_path / "other"
    res = invoke(family, [*family["inputs"], "-o", other, *family["flags"], "--seed", "9"])
    assert res.exit_code == 0, res.output
    a, c = weights(family["whole"] / "model.pt"), weights(other / "model.pt")
    assert a.keys() == c.keys()
    assert not all(torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


# ---------------------------------------------------------------------------- SIGTERM, exact resume

def test_sigterm_mid_epoch_writes_a_checkpoint_and_resume_is_exact(family, tmp_path, monkeypatch):
    """A real SIGTERM (what Slurm sends before SIGKILL) during the second step of epoch 2: the step
    finishes, checkpoint-last.pt records it, the command fails with one Error: line naming the
    checkpoint, the handler is removed again, and --resume reaches the uninterrupted run's weights
    and log bit for bit."""
    trainer = _trainer(family)
    real = trainer.guarded_step

    def step_then_term(loss, model, opt, clip, epoch, batch, *a, **kw):
        if (epoch, batch) == (1, 1):                              # 0-based: epoch 2, batch 2
            os.kill(os.getpid(), signal.SIGTERM)
        return real(loss, model, opt, clip, epoch, batch, *a, **kw)

    monkeypatch.setattr(trainer, "guarded_step", step_then_term)
    part = tmp_path / "part"
    res = CliRunner().invoke(_cli(family), [str(a) for a in [*family["inputs"], "-o", part, *family["flags"]]])
    assert res.exit_code == 1, res.output
    last = part / "checkpoint-last.pt"
    assert f"Error: stopped by SIGTERM at epoch 2, batch 2; the checkpoint {last}" in res.output
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ck = torch.load(last, weights_only=True)
    assert ck["state"]["epoch"] == 1 and ck["state"]["mid"]["batch"] == 2
    assert family.get("mid_state", lambda ck: True)(ck)
    assert len(read_tsv(part / "train_log.tsv")) == 1
    monkeypatch.setattr(trainer, "guarded_step", real)
    res = invoke(family, [*family["inputs"], "-o", part, "--resume", "-q"])
    assert res.exit_code == 0, res.output
    assert_same_weights(family["whole"], part)
    assert_same_log(family["whole"], part)


# ---------------------------------------------------------------------------- SIGKILL, resume

SIGKILL_WHILE_SAVING = """
import io, os, signal, sys

import torch

from toolkit.train import modeldir as MD
import {trainer} as trainer


def log_then_arm(path, rows, real=trainer.write_log):
    real(path, rows)
    if len(rows) == 2:            # epoch 2 logged: its checkpoint-last.pt is the next file saved

        def half_then_kill(p, obj):
            def write(fh):
                buf = io.BytesIO()
                torch.save(obj, buf)
                fh.write(buf.getvalue()[:len(buf.getvalue()) // 2])
                fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            MD.atomic_write(p, write)

        MD.save_tensors = half_then_kill


trainer.write_log = log_then_arm
from {module} import cli  # noqa: E402

cli()
"""


def test_sigkill_while_writing_a_checkpoint_keeps_the_last_one_and_resume_is_exact(family, tmp_path):
    """A real SIGKILL (what Slurm sends when a job ignores SIGTERM) half-way through writing epoch 2's
    checkpoint-last.pt: epoch 1's checkpoint stays complete (the write goes to a temporary file),
    and --resume from it reaches the uninterrupted run's weights and log bit for bit."""
    script = tmp_path / "sigkill_while_saving.py"
    script.write_text(SIGKILL_WHILE_SAVING.format(trainer=family["trainer"], module=family["module"]))
    part = tmp_path / "part"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(script), *map(str, family["inputs"]), "-o", str(part),
                        *map(str, family["flags"])], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr
    ck = torch.load(part / "checkpoint-last.pt", weights_only=True)     # complete: it loads
    assert ck["state"]["epoch"] == 1 and "mid" not in ck["state"]
    assert [f for f in os.listdir(part) if f.startswith(".checkpoint-last.pt.")]   # the half-written one
    assert len(read_tsv(part / "train_log.tsv")) == 2                   # epoch 2 was logged, not checkpointed
    res = invoke(family, [*family["inputs"], "-o", part, "--resume", "-q"])
    assert res.exit_code == 0, res.output
    assert ".lock" not in os.listdir(part)
    assert_same_weights(family["whole"], part)
    assert_same_log(family["whole"], part)


# ---------------------------------------------------------------------------- model directory refusals

_HOLD_LOCK = """
import sys, time
sys.path.insert(0, {repo!r})
from toolkit.train import modeldir
modeldir.lock({d!r})
print("locked", flush=True)
time.sleep(120)
"""


def _one_error(res):
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_model_directory_refusals(family, tmp_path):
    """A directory that holds a model is refused without --resume (nothing in it changes);
    --resume where there is no model is refused (no directory made); a directory another run
    is writing is refused at once (the lock file its only content)."""
    import shutil

    done = tmp_path / "done"
    shutil.copytree(family["whole"], done)
    before = _files(done)
    res = CliRunner().invoke(_cli(family), [str(a) for a in [*family["inputs"], "-o", done, *family["flags"]]])
    line = _one_error(res)
    assert f"{done} already holds a model" in line and "--resume" in line
    assert _files(done) == before

    absent = tmp_path / "absent"
    res = CliRunner().invoke(_cli(family), [str(a) for a in [*family["inputs"], "-o", absent, "--resume", "-q"]])
    line = _one_error(res)
    assert str(absent) in line and "not a model directory" in line
    assert not absent.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(_cli(family), [str(a) for a in [*family["inputs"], "-o", empty, "--resume", "-q"]])
    line = _one_error(res)
    assert str(empty) in line and "no config.json" in line
    assert list(empty.iterdir()) == []

    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK.format(repo=str(REPO), d=str(held))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = CliRunner().invoke(_cli(family), [str(a) for a in [*family["inputs"], "-o", held, *family["flags"]]])
        line = _one_error(res)
        assert line.startswith(f"Error: {held}") and "another run is writing this model directory" in line
        assert sorted(p.name for p in held.iterdir()) == [".lock"]
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------------------- torchrun

UNDER_TORCHRUN = """
import os, signal

from toolkit.train import dist, loop
from toolkit.train import modeldir as MD
import {trainer} as trainer

if {every_rank_saves}:
    def save(self, path, obj):  # rank r > 0 saves what rank 0 saves, next to it as <file>.rank<r>
        g = dist.group()
        MD.save_tensors(path if g.main else f"{{path}}.rank{{g.rank}}", obj)

    loop.Checkpoints.save = save

if {term}:
    sent = []

    def step_then_term(loss, model, opt, clip, epoch, batch, *a, real=trainer.guarded_step, **kw):
        # epoch 2, its second step of rank 0 (fit-ep's ranks take every other batch): SIGTERM to
        # torchrun and every rank, as Slurm sends it
        if epoch == 1 and batch >= 1 and dist.group().main and not sent:
            sent.append(batch)
            os.killpg(os.getpgid(0), signal.SIGTERM)
        return real(loss, model, opt, clip, epoch, batch, *a, **kw)

    trainer.guarded_step = step_then_term

from {module} import cli  # noqa: E402

cli()
"""


def _launch(fam, args, procs, script=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    pre = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)] \
        if procs > 1 else [sys.executable]
    target = [str(script)] if script else ["-m", fam["module"]]
    return subprocess.Popen([*pre, *target, *map(str, args)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_torchrun_two_processes_against_one(family, tmp_path):
    """A real 2-process DistributedDataParallel run (gloo, CPU) against the 1-process run of the same
    flags: rank 0 alone speaks, the ranks never drift (rank 1 ends with rank 0's weights, bit for bit),
    the same epochs, log columns and schedule steps. Then a SIGTERM to torchrun's process group during
    the second step of epoch 2 stops both ranks with one mid-epoch checkpoint, and --resume in a
    single process finishes the run."""
    flags = [a for a in family["flags"] if a != "-q"]

    def script(name, every_rank_saves, term):
        path = tmp_path / name
        path.write_text(UNDER_TORCHRUN.format(trainer=family["trainer"], module=family["module"],
                                              every_rank_saves=every_rank_saves, term=term))
        return path

    two = tmp_path / "two"
    p = _launch(family, [*family["inputs"], "-o", two, *flags], 2, script("saves.py", True, False))
    err = p.communicate(timeout=600)[1]
    assert p.returncode == 0, err
    assert "2 processes (DistributedDataParallel)" in err and err.count(f"epoch 1/{EPOCHS}") == 1, err
    for name in ("model.pt", "checkpoint-last.pt"):
        a, b = weights(two / name), weights(two / f"{name}.rank1")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    one = family["whole"]
    la, lb = read_tsv(one / "train_log.tsv"), read_tsv(two / "train_log.tsv")
    assert list(la.columns) == list(lb.columns) and len(la) == len(lb) == EPOCHS
    ck1 = torch.load(one / "checkpoint-last.pt", weights_only=True)
    ck2 = torch.load(two / "checkpoint-last.pt", weights_only=True)
    assert ck1["model"].keys() == ck2["model"].keys() and ck1["state"]["step"] == ck2["state"]["step"]

    part = tmp_path / "part"
    p = _launch(family, [*family["inputs"], "-o", part, *flags], 2, script("term.py", False, True))
    err = p.communicate(timeout=600)[1]
    assert p.returncode != 0, err
    assert "Error: stopped by SIGTERM at epoch 2, batch " in err and str(part / "checkpoint-last.pt") in err, err
    ck = torch.load(part / "checkpoint-last.pt", weights_only=True)
    assert ck["state"]["epoch"] == 1 and ck["state"]["mid"]["batch"] > 0
    res = invoke(family, [*family["inputs"], "-o", part, "--resume", "-q"])
    assert res.exit_code == 0, res.output
    log = read_tsv(part / "train_log.tsv")
    assert list(log["epoch"]) == [str(e) for e in range(1, EPOCHS + 1)] and (part / "model.pt").exists()
