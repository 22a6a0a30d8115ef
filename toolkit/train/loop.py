"""What every training loop shares: the epoch's random generators, the number of steps,
AdamW's parameter groups, the learning-rate schedules, the checkpoints (rank 0 writes;
resume; a mid-epoch checkpoint on SIGTERM; the best-k checkpoints) and the log.

:func:`run` is the one loop over epochs that every model family's trainer
(toolkit.train.cre, physinformer, ep) hands its run to: the epoch's generators, the
resume of a SIGTERM checkpoint taken inside an epoch, the check for SIGTERM after each
step, validation, the best epoch, the log and checkpoint-last.pt. What differs between
families (batches, losses, validation score, log rows, what the best epoch keeps) is the
family's, through the small protocol :class:`Family` writes down.

Determinism. :func:`epoch_generator` seeds the epoch's dropout and returns the
generator of its order and augmentation, both from the seed and the epoch number, so
a run resumed from checkpoint-last.pt makes exactly the steps of one never interrupted.
"""

import math
import os
import time

import torch

from . import dist
from . import modeldir as MD
from .signals import stop as stop_on_term


def epoch_generator(seed, epoch):
    """Seed the global generator for the epoch's dropout and return a generator for its
    order, batches and augmentation (the same numbers in every family and on every rank)."""
    torch.manual_seed(seed * 7919 + epoch)
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def steps_per_epoch(n, batch_size, cap=0):
    """Optimiser steps in an epoch of ``n`` rows: full batches, plus the last partial one
    when it gives every rank at least 2 rows (BatchNorm); ``cap`` > 0 (--steps-per-epoch)
    takes at most that many batches of each epoch's order."""
    steps = max(1, n // batch_size + (1 if n % batch_size >= 2 * dist.group().world else 0))
    return min(steps, int(cap)) if cap else steps


def param_groups(model, weight_decay, no_decay, trainable_only=False):
    """AdamW's two groups: decayed weights and not decayed ones (``no_decay(name, p)``:
    biases, norms, gains). ``trainable_only`` leaves out parameters that do not require a
    gradient (a frozen sub-model)."""
    decay, keep = [], []
    for name, p in model.named_parameters():
        if trainable_only and not p.requires_grad:
            continue
        (keep if no_decay(name, p) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


def warmup_cosine(step, total, warmup, lr):
    """Linear warm-up from lr/100 to lr over ``warmup`` steps, cosine down to lr/100 at ``total``."""
    low = lr / 100.0
    if step < warmup:
        return low + (lr - low) * step / max(warmup, 1)
    frac = min(1.0, (step - warmup) / max(total - warmup, 1))
    return low + 0.5 * (lr - low) * (1 + math.cos(math.pi * frac))


def one_cycle(step, total, max_lr, pct_start=0.1, div_factor=25.0, final_div_factor=1e4):
    """Learning rate at ``step`` (0-based) of torch's OneCycleLR (cosine, two phases)."""
    initial = max_lr / div_factor
    final = initial / final_div_factor
    up_end = float(pct_start * total) - 1
    down_end = float(total - 1)

    def cos(start, end, pct):
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    if step <= up_end:
        return cos(initial, max_lr, step / up_end if up_end > 0 else 1.0)
    return cos(max_lr, final, min(1.0, (step - up_end) / max(down_end - up_end, 1e-12)))


def write_log(path, rows):
    """train_log.tsv (see modeldir.write_log)."""
    MD.write_log(path, rows)


class Checkpoints:
    """The files of a run in ``out_dir``: only rank 0 writes (MD.save_tensors is looked up
    per call: tests intercept it).

    A checkpoint is ``{"model", "optimizer", "state", "rng"}`` plus the state dicts of a
    family's other parts (``parts``: name -> object with ``state_dict``/``load_state_dict``,
    e.g. auxiliary heads, their optimiser, gradient scalers; None entries are skipped).
    """

    def __init__(self, out_dir, model, optimizer, parts=None):
        self.out_dir = out_dir
        self.last = os.path.join(out_dir, MD.LAST)
        self.model, self.optimizer = model, optimizer
        self.parts = {k: v for k, v in (parts or {}).items() if v is not None}

    def save(self, path, obj):
        if dist.group().main:
            MD.save_tensors(path, obj)

    def path(self, name):
        return os.path.join(self.out_dir, name)

    def save_last(self, state):
        ck = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "state": state,
              "rng": torch.get_rng_state()}
        ck.update({k: v.state_dict() for k, v in self.parts.items()})
        self.save(self.last, ck)

    def load_last(self):
        """checkpoint-last.pt as saved (tensors only)."""
        return MD.load_tensors(self.last)

    def restore(self):
        """Resume: load checkpoint-last.pt into the model, the optimiser and every part it
        holds (a part the checkpoint lacks, e.g. a gradient scaler of an older run, keeps
        its fresh state), restore the global RNG and return the loop state saved with it."""
        ck = self.load_last()
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        for name, part in self.parts.items():
            if name in ck:
                part.load_state_dict(ck[name])
        torch.set_rng_state(ck["rng"])
        return ck["state"]

    def stop_mid_epoch(self, state, mid, epoch, batch):
        """SIGTERM inside an epoch: keep ``mid`` (the epoch's position, its tallies, the
        generator's and the global RNG's states) in the state, write checkpoint-last.pt and
        return the exception that stops the run (0-based ``epoch``, ``batch``)."""
        state["mid"] = mid
        self.save_last(state)
        return stop_on_term(self.last, epoch, batch)

    def keep_best(self, state, rec, k, sort_key):
        """Keep the ``k`` best epochs' weights as checkpoint-best-<epoch>.pt: ``rec`` (this
        epoch's record, with "epoch") joins ``state["best_k"]``, which is sorted by
        ``sort_key`` (best first); the checkpoints of epochs that fall out are removed."""
        kept = sorted(state["best_k"] + [rec], key=sort_key)
        if rec in kept[:k]:
            self.save(self.path(f"checkpoint-best-{rec['epoch']}.pt"), self.model.state_dict())
        for old in kept[k:] if dist.group().main else []:
            try:
                os.unlink(self.path(f"checkpoint-best-{old['epoch']}.pt"))
            except FileNotFoundError:
                pass
        state["best_k"] = kept[:k]


def early_stop(state, score, min_delta, patience, min_epochs):
    """Count epochs without a gain of ``min_delta`` over the best score so far (``state``:
    "es_best", "bad_epochs", "epoch" = epochs done); True when training should stop."""
    if score > state["es_best"] + min_delta:
        state["es_best"] = score
        state["bad_epochs"] = 0
    else:
        state["bad_epochs"] += 1
    return state["epoch"] >= min_epochs and state["bad_epochs"] >= patience


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def precision_dtype(name, device):
    """The autocast dtype of a training precision on ``device`` (None: plain fp32).

    ``auto``: bf16 on a CUDA device that supports it, else fp32 (CPUs gain nothing from
    bf16 autocast); ``bf16`` anywhere; ``fp16`` only on CUDA (with a gradient scaler).
    Raises ConfigError for fp16 off CUDA and for an unknown name.
    """
    from ..errors import ConfigError

    name = name or "auto"
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision '{name}'", hint=f"choose one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 training needs a CUDA device", hint="use --precision bf16 or fp32 on a CPU")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def autocast(device, dtype):
    """torch.autocast for ``dtype`` from :func:`precision_dtype` (off for None)."""
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def grad_scaler(device, dtype):
    """A gradient scaler for fp16 (small gradients would underflow), else None."""
    return torch.amp.GradScaler(device.type) if dtype == torch.float16 else None


class Family:
    """What a model family gives :func:`run` (an object per run, holding its model,
    optimiser, data and settings). ``ep`` is the epoch's own dict, made by
    :meth:`begin_epoch`; it holds at least "n_steps" (the epoch's batches: SIGTERM after
    the last one needs no mid-epoch checkpoint) and "rows" (rows of the epoch's batches,
    for samples_per_s)."""

    epochs = 0                          # epochs of the run
    seed = 0

    def begin_epoch(self, state, gen):
        """The set-up of epoch ``state["epoch"]`` once :func:`epoch_generator` gave ``gen``
        (order, batches): its batch order, train mode, running sums; returns ``ep`` (which
        may keep ``state``: the steps count ``state["step"]``)."""
        raise NotImplementedError

    def resume_epoch(self, ep, mid):
        """Put the running sums of a mid-epoch checkpoint (``mid``) back into ``ep``."""
        raise NotImplementedError

    def mid(self, ep):
        """The running sums a mid-epoch checkpoint keeps (tensors and numbers only)."""
        raise NotImplementedError

    def steps(self, ep, start):
        """Run the epoch's steps from batch ``start``; yield after each step the batches
        done so far in the epoch."""
        raise NotImplementedError

    def validate(self, ep):
        """Validation of the epoch's weights: (log row without its timings, record).
        Every rank returns the same (the same decisions)."""
        raise NotImplementedError

    def better(self, rec, best):
        """Is ``rec`` better than the best record so far (``best``, None at first)?"""
        raise NotImplementedError

    def save_best(self, ep, rec):
        """Write what the best epoch keeps (model.pt and the family's extras)."""
        raise NotImplementedError

    def select(self, state, rec, improved):
        """After the best epoch is settled: best-k checkpoints, the count of epochs without gain."""

    def decide(self, state, rec, ep):
        """After ``state["epoch"]`` counts the epoch: set ``state["stopped"]`` to stop."""

    def write_log(self, path, rows):
        """train_log.tsv."""
        write_log(path, rows)

    def messages(self, row, ep, note):
        """The epoch's summary lines (``note``: " *" when the epoch is the best so far)."""
        return []

    def end_epoch(self, state, ep):
        """Last word on the epoch, once its files are written (e.g. raise to stop the run)."""


def run(family, state, ckpt, log=None):
    """Train ``family`` from ``state`` (a new run's or checkpoint-last.pt's) to its last
    epoch or until ``state["stopped"]``; ``ckpt``: the run's :class:`Checkpoints`;
    ``log`` receives the epochs' summary lines (rank 0).

    Every epoch: :func:`epoch_generator`; the family's batches, each step followed by a
    check for SIGTERM on any rank (a mid-epoch checkpoint-last.pt and the exception that
    stops the run: --resume continues from the next batch with the same generators);
    validation; the best epoch's files; the log row; checkpoint-last.pt."""
    from .signals import TermGuard

    G = dist.group()
    with TermGuard() as guard:
        while state["epoch"] < family.epochs and not state.get("stopped"):
            epoch = state["epoch"]
            t0 = time.time()
            gen = epoch_generator(family.seed, epoch)
            ep = family.begin_epoch(state, gen)
            start = 0
            mid = state.pop("mid", None)
            if mid is not None:             # resuming a SIGTERM checkpoint taken inside this epoch
                start = mid["batch"]
                family.resume_epoch(ep, mid)
                gen.set_state(mid["gen"])
                torch.set_rng_state(mid["rng"])
                t0 -= mid["seconds"]
            for done in family.steps(ep, start):
                if G.any(guard.requested) and done < ep["n_steps"]:
                    raise ckpt.stop_mid_epoch(state, {"batch": done, **family.mid(ep), "gen": gen.get_state(),
                                                      "rng": torch.get_rng_state(), "seconds": time.time() - t0},
                                              epoch, done - 1)
            train_secs = time.time() - t0
            row, rec = family.validate(ep)
            row["seconds"] = time.time() - t0
            # rows of this epoch's batches over the time of its steps (reading, augmentation, optimisation)
            row["samples_per_s"] = ep["rows"] / train_secs if train_secs > 0 else float("nan")
            state["log"].append(row)
            improved = family.better(rec, state["best"])
            if improved:
                state["best"] = rec
                family.save_best(ep, rec)
            family.select(state, rec, improved)
            state["epoch"] = epoch + 1
            family.decide(state, rec, ep)
            if G.main:
                family.write_log(ckpt.path(MD.LOG), state["log"])
            ckpt.save_last(state)
            if log is not None and G.main:
                for line in family.messages(row, ep, " *" if improved else ""):
                    log(line)
            family.end_epoch(state, ep)
    return state
