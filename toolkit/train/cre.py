"""Training loop of the CRE model, pure: arrays in, a
model directory's files out; the CLI does the reading and the messages.

Loss. Targets are standardised with the train split's mean and SD. Per element,
Huber(delta) of the standardised residual, times an SE weight w = 1/(SE^2 + 1e-6)
capped at ``se_cap`` (divided by its train mean per task, so the loss keeps its
scale; 1 where a task has no SE column), times a task weight; elements with a
missing label are masked. The loss is sum(w_task * w_se * mask * huber) /
(sum(w_task * mask) + 1e-8). Task weights are 1 for the first ``task_weight_warmup``
epochs, then w_t = 1 / (EMA of the task's squared standardised residual + 1e-4)
(decay 0.98, updated every step), normalised to sum to the number of tasks and
capped at 2x their mean. With ``rc_lambda`` > 0 the batch is also run as its
reverse complement and lambda * mean |y_fwd - y_rc| is added (RC consistency).
An ensemble (``members`` > 1) minimises the sum of its members' losses, each member's
gradient norm clipped on its own, so every member gets exactly the gradient it would
get alone on the same batch; logged losses are the members' mean.

K-mer branch. When the model has one (the cpu preset), its ridge regression is
fitted on the train rows before the first step (toolkit.train.side.crossfit_kmer_ridge:
penalty by cross-validation over train folds that keep dgsplit groups whole) and
stays fixed; the network trains on its own output, and validation scores the model's
output, the mean of the two. Above :data:`KMER_MAX_ROWS` train rows it is fitted on a
seeded sample of that many (:func:`kmer_rows`): its features do not fit in memory for
a whole large table.

Data. A split is either a :class:`Split` (tensors in memory) or a
toolkit.train.data.CachedRows (rows read from the training cache by index); both offer
``take(idx)``, ``blocks(size)`` and ``array(name)``, and hold the same values. Each rank
reads only its rows of a global batch; validation is predicted block by block.

Optimisation. AdamW (no decay on biases, norms and weight-norm gains), linear
warm-up from lr/100 over ``warmup_epochs`` then cosine to lr/100 at the last
epoch; gradient norm clipped at ``clip``; autocast as the ``precision`` setting says
(toolkit.train.loop.precision_dtype: by default bf16 on a CUDA device that supports it).

Task types (toolkit.train.targets): regression targets take the loss above on their
transformed values (default z-scores); binary targets binary cross-entropy on logits
with a positive-class weight n_negative/n_positive of the train split; count targets
the Poisson negative log-likelihood of a log rate. SE weights apply to regression only.

Selection. After every epoch the validation split is predicted (forward/RC mean
when the model trains with RC) and scored by the mean over tasks of Pearson r
(binary tasks: 2·AUROC - 1; see :func:`validation_scores`), with the Pearson r of
predicted and observed MinGap as tie-breaker (within 0.001; all-regression models).

Collapse guard. Each epoch logs, per regression or count task,
the SD of the validation predictions over the SD of the targets (val_sd_ratio_*). A
task whose ratio is below ``collapse_sd`` (0.2, evalboot's warning level) while its
validation r is below ``collapse_r`` (0.1) has collapsed: near-constant predictions
that track nothing (epochs of the learning-rate warm-up do not count) (a shrunk but correlated prediction is not flagged: early epochs
of healthy runs sit at ratios of 0.1 with r of 0.5). After ``collapse_epochs`` (3)
such epochs in a row training stops with an error naming the tasks and the fixes;
the last checkpoint and the best model.pt are kept.
Early stopping: after ``min_epochs``, stop when the mean Pearson has not improved
by ``min_delta`` for ``patience`` epochs. ``model.pt`` holds the best epoch's
weights; the ``best_k`` best epochs are kept as checkpoint-best-<epoch>.pt.

Determinism. Each epoch seeds its own generators (order, augmentation, dropout)
from the seed and the epoch number, so a run resumed from checkpoint-last.pt makes
exactly the same steps as one that was never interrupted.
"""

import math

import numpy as np
import torch

from ..errors import ToolkitError
from ..models import cre as model_lib
from . import data as D
from . import dist
from . import loop as L
from . import modeldir as MD
from .loop import write_log  # a module attribute: tests intercept it
from .step import guarded_step

from .presets import CRE_TRAIN_DEFAULTS as TRAIN_DEFAULTS  # noqa: E402  (torch-free, for --help)
KMER_MAX_ROWS = 10_000
"""The k-mer ridge (the cpu preset's branch and fit-cre's baseline) is fitted on at most this
many train rows: all of them up to it, above it a seeded uniform sample (:func:`kmer_rows`).
Its features take 8 bytes x 2,772 per row (10,000 rows: about 1.2 GB at the peak), so the
whole train split of a large table would not fit; the network trains on every row."""
KIND_CODE = {"regression": 0, "binary": 1, "count": 2}


class Split:
    """One split held as tensors.

    codes : uint8 (n, L); y : float32 (n, T) standardised, NaN = missing;
    w : float32 (n, T) SE weights; side : float32 (n, S) or None;
    target_idx : int64 (n,), the task index of each row's target cell or -1;
    groups : (n,) dgsplit group ids or None (the k-mer branch's cross-fitting folds keep groups whole).
    """

    def __init__(self, codes, y, w=None, side=None, target_idx=None, groups=None):
        self.codes = torch.as_tensor(codes, dtype=torch.uint8)
        self.y = torch.as_tensor(y, dtype=torch.float32)
        n, T = self.y.shape
        self.w = torch.ones(n, T) if w is None else torch.as_tensor(w, dtype=torch.float32)
        self.side = None if side is None else torch.as_tensor(side, dtype=torch.float32)
        self.target_idx = np.full(n, -1) if target_idx is None else np.asarray(target_idx)
        self.groups = groups

    def __len__(self):
        return self.codes.shape[0]

    FIELDS = ("codes", "y", "w", "side", "target_idx")

    def _get(self, name):
        return torch.as_tensor(self.target_idx) if name == "target_idx" else getattr(self, name)

    def take(self, idx, names=None):
        """Rows ``idx`` as tensors, {field: tensor or None} (the interface of data.CachedRows)."""
        return {k: None if self._get(k) is None else self._get(k)[idx] for k in (names or self.FIELDS)}

    def blocks(self, size, names=None):
        """(start, {field: numpy array or None}) for consecutive blocks of ``size`` rows."""
        for a in range(0, len(self), size):
            yield a, {k: None if self._get(k) is None else self._get(k)[a:a + size].numpy()
                      for k in (names or self.FIELDS)}

    def array(self, name):
        v = self._get(name)
        return None if v is None else v.numpy()

    def groups_of(self, idx):
        return None if self.groups is None else np.asarray(self.groups)[np.asarray(idx)]


def kmer_rows(n, seed):
    """Train rows the k-mer ridge is fitted on: all (None) up to :data:`KMER_MAX_ROWS`, else a
    sorted seeded sample of that many."""
    if n <= KMER_MAX_ROWS:
        return None
    return np.sort(np.random.default_rng(seed + 104_729).choice(n, KMER_MAX_ROWS, replace=False))


def resolve_device(name):
    """``auto`` -> CUDA when available, else CPU; anything else as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ToolkitError("--device cuda was asked for but no CUDA device is available",
                           hint="use --device auto or cpu")
    return dev


def pearson(pred, truth):
    """Pearson r per column over rows where truth is finite (NaN with < 3 rows or no variance)."""
    out = np.full(truth.shape[1], np.nan)
    for t in range(truth.shape[1]):
        ok = np.isfinite(truth[:, t]) & np.isfinite(pred[:, t])
        if ok.sum() < 3:
            continue
        a = pred[ok, t] - pred[ok, t].mean()
        b = truth[ok, t] - truth[ok, t].mean()
        den = math.sqrt(float((a * a).sum() * (b * b).sum()))
        if den > 0:
            out[t] = float((a * b).sum() / den)
    return out


def mingap(values, target_idx):
    """MinGap per row (Gosai et al. 2024): the target cell's value minus the best other
    cell's. The target is ``target_idx`` where given (>= 0), else the row's top cell in
    ``values``. NaN with fewer than 2 tasks or a missing value."""
    n, T = values.shape
    if T < 2:
        return np.full(n, np.nan)
    tgt = np.where(target_idx >= 0, target_idx, np.nanargmax(np.where(np.isnan(values), -np.inf, values), axis=1))
    own = values[np.arange(n), tgt]
    others = values.copy()
    others[np.arange(n), tgt] = -np.inf
    return own - others.max(axis=1)


def predict_codes(model, codes, side, device, batch_size=512, rc_average=True):
    """Model outputs (standardised units) for code arrays, in batches; eval mode."""
    model.eval()
    out = []
    amp = L.precision_dtype("auto", device)         # bf16 on a GPU that supports it
    with torch.no_grad():
        for a in range(0, codes.shape[0], batch_size):
            c = torch.as_tensor(codes[a:a + batch_size]).to(device)
            s = None if side is None else torch.as_tensor(side[a:a + batch_size], dtype=torch.float32).to(device)
            with L.autocast(device, amp):
                y = model(D.onehot(c), s).float()
                if rc_average:
                    y = 0.5 * (y + model(D.onehot(D.reverse_complement(c)), s).float())
            out.append(y.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.n_tasks), dtype=np.float32)


def predict_split(model, split, device, batch_size=512, rc_average=True):
    """:func:`predict_codes` over a split (in memory or read from a training cache) in
    blocks of ``batch_size`` rows, so that only one block of its codes is held at a time."""
    out = [predict_codes(model, blk["codes"], blk["side"], device, batch_size, rc_average)
           for _, blk in split.blocks(batch_size, ("codes", "side"))]
    return np.concatenate(out) if out else np.zeros((0, model.n_tasks), dtype=np.float32)


lr_at = L.warmup_cosine


def _param_groups(model, weight_decay):
    return L.param_groups(model, weight_decay, model_lib.no_decay)


def _task_weights(ema, cfg, epoch):
    T = ema.numel()
    if epoch < cfg["task_weight_warmup"]:
        return torch.ones(T)
    w = 1.0 / (ema + 1e-4)
    w = w * T / w.sum()
    return torch.minimum(w, cfg["task_weight_cap"] * w.mean())


_loss = model_lib.loss  # the loss lives with the model


def task_kinds(config):
    """Each target's task type (config ``task_types``; regression when absent)."""
    return list(config.get("task_types") or ["regression"] * len(config["targets"]))


def validation_scores(pred, truth, kinds):
    """Per task: the selection score and the metrics logged.

    Regression: Pearson r of the model outputs (transformed units) with the targets;
    count: Pearson r of the expected count exp(output) with the count; binary: AUROC
    and AUPR of the logits, scored as 2·AUROC - 1 (Somers' D, 0 at chance like r).
    Also the SD of the predictions over the SD of the targets (same units; NaN for
    binary tasks), the collapse guard's signal.

    Returns (score (T,), {column suffix: values (T,)} for the log).
    """
    from .targets import binary_scores

    T = truth.shape[1]
    score, sd_ratio = np.full(T, np.nan), np.full(T, np.nan)
    extra = {"pearson": np.full(T, np.nan), "auroc": np.full(T, np.nan), "aupr": np.full(T, np.nan)}
    for t, kind in enumerate(kinds):
        p, y = pred[:, t].astype(np.float64), truth[:, t].astype(np.float64)
        ok = np.isfinite(y) & np.isfinite(p)
        if kind == "binary":
            extra["auroc"][t], extra["aupr"][t] = binary_scores(p, y)
            score[t] = 2 * extra["auroc"][t] - 1
            continue
        if kind == "count":
            p = np.exp(np.minimum(p, 80.0))
        extra["pearson"][t] = pearson(p[ok, None], y[ok, None])[0] if ok.sum() >= 3 else np.nan
        score[t] = extra["pearson"][t]
        sy = y[ok].std() if ok.sum() >= 2 else np.nan
        sd_ratio[t] = p[ok].std() / sy if sy > 0 else np.nan
    extra["sd_ratio"] = sd_ratio
    return score, extra


def _better(a, b, margin):
    """Is epoch record a better than b: higher mean Pearson, MinGap r breaking near-ties."""
    if b is None:
        return True
    if abs(a["score"] - b["score"]) <= margin:
        ta = a["tie"] if a["tie"] == a["tie"] else -np.inf
        tb = b["tie"] if b["tie"] == b["tie"] else -np.inf
        if ta != tb:
            return ta > tb
    return a["score"] > b["score"]


def train(config, train_split, val_split, out_dir, device, log=None, resume=False):
    """Train the CRE model; write model.pt, train_log.tsv and checkpoints into out_dir.

    Parameters
    ----------
    config : dict
        Resolved configuration (``model`` and ``train`` sections, ``targets``, ``seed``).
    train_split, val_split : Split
    out_dir : str, existing directory (config.json and normalization.json are the caller's)
    device : torch.device
    log : callable(str) or None
        Receives the one-line summary of each epoch.
    resume : bool
        Continue from out_dir/checkpoint-last.pt.

    Returns
    -------
    dict: best epoch record (epoch, score, per-task val Pearson, ...), epochs run, stop reason.
    """
    cfg = {**TRAIN_DEFAULTS, **config["train"]}
    targets = config["targets"]
    T = len(targets)
    seed = int(config["seed"])
    kinds = task_kinds(config)
    kind_t = torch.as_tensor([KIND_CODE[k] for k in kinds], dtype=torch.long)
    pos_weight = torch.ones(T)
    binary = [t for t, k in enumerate(kinds) if k == "binary"]
    if binary:                          # counted block by block: a streamed split is never held whole
        n1, n0 = np.zeros(T), np.zeros(T)
        for _, blk in train_split.blocks(1 << 15, ("y",)):
            n1 += (blk["y"] == 1).sum(axis=0)
            n0 += (blk["y"] == 0).sum(axis=0)
        for t in binary:
            pos_weight[t] = float(n0[t]) / max(float(n1[t]), 1.0)
    torch.manual_seed(seed)
    model = model_lib.build(config).to(device)
    if model.kmer is not None:   # fitted on train rows only; deterministic, so a resumed run refits the same
        from .side import crossfit_kmer_ridge, decode

        rows = kmer_rows(len(train_split), seed)
        pick = np.arange(len(train_split)) if rows is None else rows
        got = train_split.take(torch.as_tensor(pick), ("codes", "y"))
        kr = crossfit_kmer_ridge(decode(got["codes"].numpy()), got["y"].numpy().astype(np.float64),
                                 train_split.groups_of(pick), folds=cfg["kmer_folds"], seed=seed)
        del got
        model.kmer.set_ridge(kr["u"], kr["bias"])
        if log is not None:
            log("k-mer ridge branch: penalty " + ", ".join(f"{t} {a:g}" for t, a in zip(targets, kr["alpha"]))
                + "; cross-fitted train r " + ", ".join(f"{t} {r:.3f}" for t, r in zip(targets, kr["oof_r"])))
    opt = torch.optim.AdamW(_param_groups(model, cfg["weight_decay"]), lr=cfg["lr"], betas=tuple(cfg["betas"]),
                            eps=cfg["eps"])
    n = len(train_split)
    bs = int(cfg["batch_size"])
    steps_per_epoch = L.steps_per_epoch(n, bs, cfg.get("steps_per_epoch") or 0)
    total = steps_per_epoch * cfg["epochs"]
    warmup = steps_per_epoch * cfg["warmup_epochs"]
    state = {"epoch": 0, "step": 0, "ema": torch.ones(T), "best": None, "es_best": -math.inf, "bad_epochs": 0,
             "best_k": [], "log": [], "stopped": "", "collapsed": 0}
    amp = L.precision_dtype(cfg.get("precision", "auto"), device)
    scaler = L.grad_scaler(device, amp)
    ckpt = L.Checkpoints(out_dir, model, opt, parts={"scaler": scaler})
    if resume:
        state = ckpt.restore()
    fam = CreFamily(model, opt, cfg, config, train_split, val_split, device, ckpt, scaler, amp,
                    kinds, kind_t, pos_weight, steps_per_epoch)
    L.run(fam, state, ckpt, log)
    return {"best": state["best"], "epochs": state["epoch"], "stopped": state["stopped"] or "max epochs",
            "log": state["log"]}


class CreFamily(L.Family):
    """The CRE model's part of toolkit.train.loop.run: its batches and loss, validation and log."""

    def __init__(self, model, opt, cfg, config, train_split, val_split, device, ckpt, scaler, amp,
                 kinds, kind_t, pos_weight, steps_per_epoch):
        self.model, self.opt, self.cfg, self.device, self.ckpt, self.scaler, self.amp = \
            model, opt, cfg, device, ckpt, scaler, amp
        self.train_split, self.val_split = train_split, val_split
        self.kinds, self.kind_t, self.pos_weight = kinds, kind_t, pos_weight
        self.all_regression = all(k == "regression" for k in kinds)
        self.targets = config["targets"]
        self.T = len(self.targets)
        self.seed = int(config["seed"])
        self.epochs = cfg["epochs"]
        self.n, self.bs = len(train_split), int(cfg["batch_size"])
        self.steps_per_epoch = steps_per_epoch
        self.total = steps_per_epoch * cfg["epochs"]
        self.warmup = steps_per_epoch * cfg["warmup_epochs"]
        self.rc_avg = cfg["rc_prob"] > 0
        self.val_truth = val_split.array("y")
        self.net = dist.group().wrap(model, device)     # DistributedDataParallel under torchrun

    def begin_epoch(self, state, gen):
        epoch = state["epoch"]
        perm = torch.randperm(self.n, generator=gen)
        self.model.train()
        return {"state": state, "epoch": epoch, "gen": gen, "perm": perm,
                "task_w": _task_weights(state["ema"], self.cfg, epoch),
                "sums": torch.zeros(self.T), "counts": torch.zeros(self.T), "total_loss": 0.0,
                "n_steps": self.steps_per_epoch, "rows": min(self.n, self.steps_per_epoch * self.bs)}

    def resume_epoch(self, ep, mid):
        for k in ("task_w", "sums", "counts", "total_loss"):
            ep[k] = mid[k]

    def mid(self, ep):
        return {k: ep[k] for k in ("task_w", "sums", "counts", "total_loss")}

    def steps(self, ep, start):
        cfg, G, device, state, model = self.cfg, dist.group(), self.device, ep["state"], self.model
        gen, task_w, T = ep["gen"], ep["task_w"], self.T
        # each rank reads only its rows of a global batch; it augments the whole global batch (the same
        # draws on every rank; a row's augmentation depends on its own codes only), then keeps its rows
        for b, idx, got in D.batches(self.train_split, ep["perm"], self.bs, start, self.steps_per_epoch,
                                     lambda i: i[G.part(len(i))], ("codes", "y", "w", "side")):
            part = G.part(len(idx))
            codes = got["codes"]
            if G.active:
                full = torch.full((len(idx), codes.shape[1]), D.N_CODE, dtype=torch.uint8)
                full[part] = codes
                codes = full
            codes = D.augment(codes, gen, cfg["rc_prob"], cfg["shift"], cfg["shift_prob"], cfg["mask_prob"])
            codes = (codes[part] if G.active else codes).to(device)
            idx = idx[part]
            y = got["y"].to(device)
            w_se = got["w"].to(device)
            side = None if got["side"] is None else got["side"].to(device)
            for g in self.opt.param_groups:
                g["lr"] = lr_at(state["step"], self.total, self.warmup, cfg["lr"])
            x = D.onehot(codes)
            with L.autocast(device, self.amp):
                if cfg["rc_lambda"] > 0:
                    both = self.net(torch.cat([x, D.onehot(D.reverse_complement(codes))]),
                                    None if side is None else torch.cat([side, side]), each=True)
                    preds, preds_rc = both[:, :len(idx)].float(), both[:, len(idx):].float()
                else:
                    preds = self.net(x, side, each=True).float()
            # each member's own loss; their sum trains every member as if it were alone
            loss, per_task, mse = 0.0, 0.0, 0.0
            for m in range(preds.shape[0]):
                lm, pt, ms, seen = _loss(preds[m], y, w_se, task_w, cfg["huber_delta"], self.kind_t,
                                         self.pos_weight, cfg["regression_loss"])
                if cfg["rc_lambda"] > 0:
                    lm = lm + cfg["rc_lambda"] * (preds[m] - preds_rc[m]).abs().mean()
                loss, per_task, mse = loss + lm, per_task + pt / preds.shape[0], mse + ms / preds.shape[0]
            if G.active and G.any(not bool(torch.isfinite(loss))):
                loss = loss * float("nan")          # every rank stops at the same step
            guarded_step(loss, model, self.opt, cfg["clip"], ep["epoch"], b, "the targets",
                         groups=model.member_parameters(), scaler=self.scaler)
            d = cfg["task_weight_ema"]
            if G.active:                            # the same task weights and logs on every rank
                mse, per_task = G.mean(mse.cpu()), G.mean(per_task.cpu())
                seen = G.mean(seen.cpu().float()) > 0
            seen = seen.cpu()
            state["ema"] = torch.where(seen, d * state["ema"] + (1 - d) * mse.cpu(), state["ema"])
            ep["sums"] += per_task.cpu() * seen
            ep["counts"] += seen.float()
            ep["total_loss"] += float(G.mean(loss.detach().cpu())) / preds.shape[0]
            state["step"] += 1
            yield b + 1

    def validate(self, ep):
        cfg, T, targets, kinds, val_truth = self.cfg, self.T, self.targets, self.kinds, self.val_truth
        dist.group().broadcast_buffers(self.model)   # every rank validates rank 0's model: the same decisions
        vp = predict_split(self.model, self.val_split, self.device, rc_average=self.rc_avg)
        r, vx = validation_scores(vp, val_truth, kinds)
        score = float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")
        if T > 1 and self.all_regression:
            tidx = self.val_split.array("target_idx")
            gp, go = mingap(vp, tidx), mingap(val_truth, tidx)
            tie = float(pearson(gp[:, None], go[:, None])[0])
        else:
            tie = float("nan")
        with torch.no_grad():
            vy = torch.as_tensor(val_truth)
            _, vloss, _, _ = _loss(torch.as_tensor(vp), vy, torch.ones_like(vy), torch.ones(T),
                                   cfg["huber_delta"], self.kind_t, self.pos_weight, cfg["regression_loss"])
        sums, counts, task_w = ep["sums"], ep["counts"], ep["task_w"]
        row = {"epoch": ep["epoch"] + 1, "lr": self.opt.param_groups[0]["lr"],
               "train_loss": ep["total_loss"] / self.steps_per_epoch}
        for t, name in enumerate(targets):
            row[f"train_loss_{name}"] = float(sums[t] / max(counts[t], 1))
        row["val_loss"] = float(vloss.mean())
        for t, name in enumerate(targets):
            if kinds[t] == "binary":
                row[f"val_auroc_{name}"] = float(vx["auroc"][t])
                row[f"val_aupr_{name}"] = float(vx["aupr"][t])
            else:
                row[f"val_pearson_{name}"] = float(r[t])
        row["val_mean_pearson"] = score
        for t, name in enumerate(targets):
            if kinds[t] != "binary":
                row[f"val_sd_ratio_{name}"] = float(vx["sd_ratio"][t])
        row["val_mingap_r"] = tie
        for t, name in enumerate(targets):
            row[f"task_weight_{name}"] = float(task_w[t])
        ep.update(r=r, vx=vx, score=score, tie=tie)
        return row, {"epoch": ep["epoch"] + 1, "score": score if score == score else -math.inf, "tie": tie}

    def better(self, rec, best):
        return _better(rec, best, self.cfg["tie_margin"])

    def save_best(self, ep, rec):
        self.ckpt.save(self.ckpt.path(MD.WEIGHTS), self.model.state_dict())

    def select(self, state, rec, improved):
        self.ckpt.keep_best(state, rec, self.cfg["best_k"],
                            lambda x: (-x["score"], -(x["tie"] if x["tie"] == x["tie"] else -np.inf), x["epoch"]))

    def decide(self, state, rec, ep):
        cfg, r, vx, epoch = self.cfg, ep["r"], ep["vx"], ep["epoch"]
        if L.early_stop(state, rec["score"], cfg["min_delta"], cfg["patience"], cfg["min_epochs"]):
            state["stopped"] = f"early stop: no gain of {cfg['min_delta']} in {cfg['patience']} epochs"
        ep["flat"] = [self.targets[t] for t in range(self.T) if vx["sd_ratio"][t] < cfg["collapse_sd"]
                      and not abs(r[t]) >= cfg["collapse_r"]]
        # epochs of the learning-rate warm-up do not count: a network may not have started yet
        state["collapsed"] = state["collapsed"] + 1 if ep["flat"] and epoch + 1 > cfg["warmup_epochs"] else 0

    def write_log(self, path, rows):
        write_log(path, rows)           # the module's: tests intercept it

    def messages(self, row, ep, note):
        r, score, tie = ep["r"], ep["score"], ep["tie"]
        per = " ".join(f"{name}={r[t]:.3f}" for t, name in enumerate(self.targets))
        return [f"epoch {ep['epoch'] + 1}/{self.cfg['epochs']}: loss {row['train_loss']:.4f} val "
                f"{'r' if self.all_regression else 'score'} {per} mean {score:.4f}"
                + (f" mingap r {tie:.3f}" if tie == tie else "") + f" lr {row['lr']:.2e} {row['seconds']:.1f}s "
                f"{row['samples_per_s']:.0f} seq/s{note}"]

    def end_epoch(self, state, ep):
        cfg, flat, row = self.cfg, ep["flat"], state["log"][-1]
        if cfg["collapse_sd"] > 0 and state["collapsed"] >= cfg["collapse_epochs"]:
            ratios = ", ".join(f"{t} {row['val_sd_ratio_' + t]:.3f}" for t in flat)
            raise ToolkitError(
                f"predictions have collapsed: for {state['collapsed']} epochs the validation predictions of "
                f"{', '.join(flat)} varied less than {cfg['collapse_sd']:g} x their targets' SD (now {ratios}) "
                f"and tracked them no better than r = {cfg['collapse_r']:g}; "
                f"training stopped at epoch {ep['epoch'] + 1}, the best epoch's model.pt and checkpoint-last.pt "
                f"are kept",
                hint="check the targets' scale (--target-transform COL=log1p,zscore), a binary target trained as a "
                     "regression (--task-type COL=binary), a lower learning rate or weight decay (lr, weight_decay "
                     "under [train] in a --config file), or inputs that carry no signal; collapse_sd = 0 under "
                     "[train] turns this guard off")
