"""Training of the enhancer-promoter model, pure: arrays in, a model
directory's files out; the CLI does the reading and the messages.

Sampling. ``CellBatchSampler``: every batch holds the pairs of one cell line
(``batch_size`` query pairs, default 64) plus a support set of ``support`` (32) other
pairs of the same cell line, drawn from outside the batch, whose mean e is the batch's
z_E. Each cell line's rows are shuffled and cut into batches, and the batches of all
cell lines are shuffled together, every epoch, from the seed and the epoch number.
With ``task_env="prototype"`` (the presets') the z_E the task loss reads takes the value
of the cell line's prototype (the running mean of e below) and the support set's
gradient: a support set of 32 is a noisy estimate of the line's environment, and an energy
trained on noisy z_E extrapolated worse to a line it never saw
(docs/decisions/0016-fit-ep-prototype-environment-in-training.md). The line's first batch
with the environment on, before it has a prototype, reads the support set.

Losses (weights alpha .. eta):

- task (``task_loss="immax"``, "AdaptiveIMMAX"): the logistic surrogate of
  the class-imbalanced (rho+, rho-)-margin loss of IMMAX (Cortes, Mao, Mohri & Zhong
  2025): softplus(rho_y - y~ s) with y~ = +-1 and s the logit, so a pair counts as right
  only beyond a class-dependent confidence margin. Margins: rho_y proportional to
  n_y^(-1/4) (the optimum of the two-class margin bound of LDAM, Cao et al. 2019;
  IMMAX's bound likewise gives the rare class the larger margin), rho+ = ``margin``
  (1.0) and rho- = rho+ (n+/n-)^(1/4) (about 0.47 at 1:20). "Adaptive": n+ and n- are
  counted on the train rows, so the margins follow the data's imbalance. Why a margin
  and not class weights: weights rescale the rare class's gradient and distort the
  probabilities; margins only ask more confidence of the rare class. The probability
  reported is sigmoid(s); the decision threshold is calibrated on val anyway.
  ``task_loss="bce"``: plain binary cross-entropy, for comparison.
- correlation (alpha): per pair, the squared Pearson correlation across the d
  components of z_I and z_E, (cov / sqrt(var var + 1e-8))^2, averaged over the batch:
  the centred form of the orthogonality <z_I, z_E> = 0 it replaces. (Across a batch z_E
  is constant, since a batch holds one cell line, so a correlation over pairs would be
  undefined.)
- invariance (beta): cross-entropy of the cell-line classifier on GRL(z_I) (gradient
  reversal, coefficient ``grl_coeff``): the classifier learns the cell line, f_I learns
  to hide it; logged as the classifier's accuracy, which should fall toward chance.
- hierarchical contrastive (gamma): InfoNCE on L2-normalised e with tau = 0.1;
  positives are the same cell line's pairs. A batch holds one cell line, so every step
  also draws a contrast set of ``contrast`` (32) pairs of the other training cell lines
  (uniformly from their rows, by the epoch's generator), passed through both streams in
  the same forward pass: their e are the negatives (and each other's positives), their
  cell lines also train the domain classifier and the prototype term, and they take no
  part in the task loss or z_E. (Negatives from a memory of earlier batches' e do not
  work with one cell line per batch: docs/decisions/0008-fit-ep-contrastive-negatives.md.)
- sparsity (delta): mean |z_I| + mean |z_E| (L1 per component).
- prototype (eta): mean over the step's rows of |e - p_c|^2 per component, p_c the
  row's cell line's prototype (rows whose line has none yet are skipped); the batch's
  line's prototype is updated after the step as p_c <- mu p_c + (1 - mu) mean(e over the
  support set), mu = 0.9. Logged: how often a pair's e is nearest (cosine) its own cell line's
  prototype (env_proto_acc_train; chance is 1 / number of cell lines): whether the
  environment stream tells the cell lines apart.

Schedule and curriculum. For the first ``curriculum_epochs`` (2) epochs f_E' and g_E are
frozen and the logit uses R_E = 0 and lambda = 0; the loss is then the task loss plus
beta * invariance plus delta * mean |z_I| (the terms that involve e or z_E are off).
From then on everything trains and each weight grows by ``weight_step`` (0.01) per
epoch from its initial value (by default 0.1, 0.1, 0.05, 0.01, 0.05; fit-ep's presets
start gamma at 1) up to its cap, twice the initial value (by default 0.2, 0.2, 0.1, 0.02,
0.1): weight = min(initial + 0.01 * (epoch - curriculum_epochs), cap),
epochs counted from 0.

Selection. After every epoch each validation cell line's environment is computed from a
fixed support set of ``eval_support`` (256) of its val pairs (drawn once from the seed,
labels unused; the training batches' 32 give a noisier z_E) and every val pair is scored. Early stopping on the pooled validation AUPR
(average precision): stop when it has not improved for ``patience`` (3) epochs, after
``min_epochs``. ``model.pt`` holds the best epoch's weights. The decision threshold is
the one that maximises F1 on the best epoch's validation predictions (calibration.json).

Initialisation. With ``enriched_filters`` N > 0 (the presets'), the first N filters of the
shared stem start as k-mers found in the train pairs before the first step
(:func:`enriched_kmers`, :func:`seed_stem`): the 8-mers, either strand, whose presence in a
window is most enriched among the interacting pairs, half from the promoters and half from
the enhancers, shifts of one motif taken once; the rest start random, and all train alike.
A max-pooled random filter learns only from its best position, which is rarely a motif, so
a promoter motif that matters only beside its enhancer partner was often never learned
(docs/decisions/0013-fit-ep-enriched-kmer-filters.md). Only train rows are read.

Optimisation: AdamW (no decay on biases and the energy's scalars; the environment
stream's learning rate times ``env_lr_scale``: the presets' 0.1, see
docs/decisions/0007-fit-ep-environment-stream.md),
linear warm-up and cosine decay of the learning rate, gradient-norm clipping, autocast
as the ``precision`` setting says (by default bf16 on a CUDA device that supports it); a non-finite loss stops training (guarded_step). Each epoch seeds its
own generators from the seed and the epoch, so a run resumed from checkpoint-last.pt
makes exactly the steps of one that was never interrupted. SIGTERM
(toolkit.train.signals) lets the step finish, writes a mid-epoch checkpoint-last.pt
(weights, optimiser, prototypes, the epoch's running sums and generators) and stops;
--resume continues from that batch to the weights of an uninterrupted run.

Processes (torchrun, toolkit.train.dist). Every rank draws the same batch list and
augmentations; step t deals the sampler's batches tW .. tW + W - 1 out to the W ranks
(rank r takes batch tW + r; a rank past the epoch's last batch repeats the step's first
with weight 0, so every rank makes the same number of steps), and DDP averages the
gradients into the mean over the step's real batches. The whole forward pass (both
streams, the energy's lambda and T, the gradient-reversed classifier) is one DDP call,
with find_unused_parameters since f_E' and g_E get no gradient in the curriculum (and
g_E none with the linear energy). After each step every rank's cell line and support-set
mean e are gathered and applied in batch order to the prototypes, so every rank holds
the same state (W = 1 is the one-process run, unchanged). The learning-rate schedule and
the checkpoints count batches, not steps, so --resume works with another number of
processes. Every rank validates the same weights on every val row (the same early
stopping); only rank 0 writes files. W ranks make W times fewer steps an epoch, each on
W batches, so the result matches one process within tolerance, not exactly.
"""

import math
import zlib

import numpy as np
import torch
from torch.nn import functional as F

from ..features.encode import kmer_index
from ..models import ep as model_lib
from ..models.ep import (correlation_loss, hierarchical_infonce, immax_margins,  # noqa: F401  (losses live
                         prototype_loss, sparsity_loss, task_loss)                # with the model)
from ..seq import reverse_complement
from . import data as D
from . import dist
from . import loop as L
from . import modeldir as MD
from .loop import warmup_cosine as lr_at
from .loop import write_log  # a module attribute: tests intercept it
from .step import guarded_step

from .presets import EP_TRAIN_DEFAULTS as TRAIN_DEFAULTS  # noqa: E402  (torch-free, for --help)
WEIGHTS = ("alpha", "beta", "gamma", "delta", "eta")
ACTIVE = 0.01   # a component of z_I or z_E counts as active (the L0 sparsity) above this magnitude


class PairSplit:
    """One split of pairs held as tensors.

    e_codes : uint8 (n, L_E); p_codes : uint8 (n, L_P); y : float32 (n,) 0/1;
    cell_names : object (n,), each row's cell line; cell_idx : int64 (n,), its index
    among the training cell lines (-1 for a cell line not trained on); distance : float
    (n,), the enhancer-promoter distance in bp, NaN where unknown (None: all unknown),
    held as float32 ``dist``.
    """

    def __init__(self, e_codes, p_codes, y, cell_names, cell_idx, distance=None):
        self.e = torch.as_tensor(e_codes, dtype=torch.uint8)
        self.p = torch.as_tensor(p_codes, dtype=torch.uint8)
        self.y = torch.as_tensor(np.asarray(y, dtype=np.float32))
        n = self.e.shape[0]
        self.dist = torch.as_tensor(np.full(n, np.nan, dtype=np.float32) if distance is None
                                    else np.asarray(distance, dtype=np.float32))
        self.cell_names = np.asarray(cell_names, dtype=object)
        self.cell_idx = np.asarray(cell_idx, dtype=np.int64)

    def __len__(self):
        return self.e.shape[0]


# ---------------------------------------------------------------------------- enriched k-mer filters

ENRICHED_K = 8
"""Length of the k-mers that ``enriched_filters`` starts stem filters as (at most the kernel)."""


def canonical_kmers(codes, k):
    """Each window's k-mers as canonical ids (the smaller of the k-mer's and its reverse
    complement's index, toolkit.features.encode.kmer_index), so that a k-mer and its reverse
    complement are one.

    codes : (n, L) uint8 array (0-3 ACGT, 4 N). Returns (n, L - k + 1) int64, -1 where the
    k-mer holds an N."""
    codes = np.asarray(codes, dtype=np.uint8)
    fwd = kmer_index(codes, k)
    rev = kmer_index(D.reverse_complement(torch.from_numpy(codes)).numpy(), k)[:, ::-1]
    return np.where(fwd < 0, -1, np.minimum(fwd, rev))


def enriched_kmers(codes, y, k, n):
    """The ``n`` k-mers (either strand) whose presence in a sequence is most enriched among
    the interacting pairs (y = 1) over the others, by the one-sided z-score of the difference
    of the two fractions of sequences holding it; a k-mer that looks like a shift of one already
    taken (:func:`_same_motif`) is skipped, so that each motif is taken once.

    codes : (n_rows, L) uint8; y : (n_rows,) 0/1. Returns a list of k-mer strings."""
    y = np.asarray(y) > 0.5
    counts = np.zeros((2, 4 ** k), dtype=np.int64)
    for start in range(0, len(y), 1024):             # in chunks: ids are 8 bytes per position
        ids = canonical_kmers(codes[start:start + 1024], k)
        for row in range(len(ids)):
            counts[int(y[start + row]), np.unique(ids[row][ids[row] >= 0])] += 1
    n1, n0 = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    f1, f0 = counts[1] / n1, counts[0] / n0
    pooled = (counts[1] + counts[0] + 1) / (n1 + n0 + 2)
    z = (f1 - f0) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    bases = np.array(list("ACGT"))
    taken = []
    for i in np.argsort(-z):
        if len(taken) == n or z[i] <= 0:
            break
        kmer = "".join(bases[(int(i) >> (2 * (k - 1 - j))) & 3] for j in range(k))
        if not any(_same_motif(kmer, t) for t in taken):
            taken.append(kmer)
    return taken


def _same_motif(a, b, overlap=5):
    """Whether k-mers a and b look like shifts of one motif: on either strand of a, one holds
    a 6-mer of the other, or the end of one (``overlap`` bases or more) is the start of the other."""
    for x in (a, reverse_complement(a)):
        if any(x[j:j + 6] in b for j in range(len(x) - 5)):
            return True
        for n in range(overlap, min(len(x), len(b))):
            if x[-n:] == b[:n] or b[-n:] == x[:n]:
                return True
    return False


def seed_stem(tower, kmers, scale=0.5):
    """Set the first len(kmers) filters of ``tower``'s stem to match the k-mers: weight
    scale * (one-hot - 1/4) at the k-mer's positions (centred in the kernel), 0 elsewhere,
    bias 0, so a perfect match responds 3/4 * scale * k and a random sequence 0 on average
    (the default scale: 3 for an 8-mer, about 3 times a random filter's largest response in
    a 320-bp window at initialisation, about 1)."""
    w = tower.stem.weight
    kernel = w.shape[-1]
    with torch.no_grad():
        for f, kmer in enumerate(kmers[:w.shape[0]]):
            k = min(len(kmer), kernel)
            at = (kernel - k) // 2
            w[f].zero_()
            for j, base in enumerate(kmer[:k]):
                w[f, :, at + j] = -scale / 4
                w[f, "ACGT".index(base), at + j] = 3 * scale / 4
            tower.stem.bias[f] = 0.0


# ---------------------------------------------------------------------------- sampling

class CellBatchSampler:
    """Batches of one cell line each, with a support set from the same cell line.

    Parameters
    ----------
    cells : int array (n,), each row's cell line (any integer labels)
    batch_size : int, query pairs per batch
    support : int, support pairs per batch (fewer when the cell line has fewer other rows)
    generator : torch.Generator, the only source of randomness

    Iterating yields (query, support): int64 tensors of row indices, all of one cell line;
    the support rows are outside the batch unless the cell line has no other rows. A
    cell line's last batch is kept when it has at least 2 rows.
    """

    def __init__(self, cells, batch_size, support, generator):
        self.cells = np.asarray(cells)
        self.batch_size = int(batch_size)
        self.support = int(support)
        self.gen = generator
        self.groups = [np.flatnonzero(self.cells == c) for c in np.unique(self.cells)]

    def _batches(self):
        out = []
        for rows in self.groups:
            n = len(rows)
            perm = rows[torch.randperm(n, generator=self.gen).numpy()]
            for a in range(0, n, self.batch_size):
                b = min(n, a + self.batch_size)
                if b - a < 2 and n >= 2:
                    continue
                rest = n - (b - a)
                if rest > 0:
                    k = min(self.support, rest)
                    pos = torch.randperm(rest, generator=self.gen)[:k].numpy()
                    pos = np.where(pos >= a, pos + (b - a), pos)       # skip the batch's own positions
                    sup = perm[pos]
                else:
                    sup = perm[a:b][:self.support]
                out.append((torch.as_tensor(perm[a:b], dtype=torch.long), torch.as_tensor(sup, dtype=torch.long)))
        order = torch.randperm(len(out), generator=self.gen).tolist()
        return [out[i] for i in order]

    def __iter__(self):
        return iter(self._batches())


def support_sets(cell_names, m, seed):
    """A fixed support set per cell line: up to ``m`` row positions drawn without replacement
    by ``numpy.random.default_rng(seed + CRC32(cell name))`` from that cell line's rows
    (in input order), so a cell line's draw does not depend on the other cell lines.

    Returns dict cell name -> (rows of the cell line, support rows), int64 arrays.
    """
    names = np.asarray(cell_names, dtype=object)
    out = {}
    for c in sorted(set(names.tolist())):
        rows = np.flatnonzero(names == c)
        rng = np.random.default_rng(int(seed) + zlib.crc32(str(c).encode()))
        k = min(int(m), len(rows))
        out[c] = (rows, np.sort(rng.choice(rows, size=k, replace=False)))
    return out


# ---------------------------------------------------------------------------- losses

def loss_weights(epoch, cfg):
    """The weights (alpha, beta, gamma, delta, eta) used in epoch ``epoch`` (0-based).

    During the curriculum the initial values (the environment terms are off then);
    afterwards initial + weight_step * (epoch - curriculum_epochs), capped."""
    k = max(0, epoch - int(cfg["curriculum_epochs"]))
    return {w: min(cfg[w] + cfg["weight_step"] * k, cfg[w + "_max"]) for w in WEIGHTS}


def set_curriculum(model, epoch, cfg):
    """Freeze f_E' and g_E during the curriculum, unfreeze after (never with ``environment``
    false: the sequence-only reference); returns True when the environment is on in this epoch."""
    on = bool(cfg.get("environment", True)) and epoch >= int(cfg["curriculum_epochs"])
    for p in model.environment_parameters():
        p.requires_grad_(on)
    return on


# ---------------------------------------------------------------------------- metrics

def binary_metrics(y, p, threshold=0.5):
    """AUPR (average precision), AUROC, F1 at ``threshold``, for 0/1 y and scores p."""
    from ..evaluate.metrics import Binary

    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        return {"aupr": float("nan"), "auroc": float("nan"), "f1": float("nan")}
    m = Binary(y, p, threshold=threshold).compute(np.ones((1, len(y))))
    return {k: float(m[k][0]) for k in ("aupr", "auroc", "f1")}


def calibrate_threshold(y, p):
    """The threshold t maximising F1 of (p >= t) on (y, p): returns (t, F1).

    Candidates are the distinct scores; ties in F1 take the highest t."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    P = y.sum()
    if P == 0 or len(y) == 0:
        return 0.5, float("nan")
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(y) + 1)
    last = np.r_[ps[1:] != ps[:-1], True]            # last row of each tie group
    f1 = np.where(last, 2 * tp / (k + P), -1.0)
    best = int(np.argmax(f1))
    return float(ps[best]), float(f1[best])


# ---------------------------------------------------------------------------- scoring

def score_pairs(model, split, groups, device, env=True, batch_size=256):
    """Logits and domain-classifier calls of every row of ``split``, in eval mode.

    groups : dict cell name -> (rows, support rows) as :func:`support_sets` returns; each
        cell line's z_E is the mean e of its support rows.

    Returns logits float64 (n,), domain argmax int64 (n,), z_I active fraction, z_E active fraction.
    """
    was = model.training
    model.eval()
    n = len(split)
    logits = np.zeros(n)
    dom = np.zeros(n, dtype=np.int64)
    amp = L.precision_dtype("auto", device)         # bf16 on a GPU that supports it
    act_I, act_E, cnt = 0.0, 0.0, 0
    with torch.no_grad(), L.autocast(device, amp):
        for c, (rows, sup) in groups.items():
            s = torch.as_tensor(sup)
            z_E = model.environment(D.onehot(split.e[s].to(device)), D.onehot(split.p[s].to(device))).float()
            act_E += float((z_E.abs() > ACTIVE).float().mean())
            cnt += 1
            for a in range(0, len(rows), batch_size):
                r = torch.as_tensor(rows[a:a + batch_size])
                z_I, _ = model.features(D.onehot(split.e[r].to(device)), D.onehot(split.p[r].to(device)))
                z_I = z_I.float()
                logits[rows[a:a + batch_size]] = model.energy(z_I, z_E, env, split.dist[r]).float().cpu().numpy()
                dom[rows[a:a + batch_size]] = model.classifier(z_I).argmax(dim=1).cpu().numpy()
                act_I += float((z_I.abs() > ACTIVE).float().sum())
    model.train(was)
    return logits, dom, act_I / max(n * model.d, 1), act_E / max(cnt, 1)


def stem_firing(model, split, device, max_pairs=2048, batch_size=256):
    """Fraction of the shared stem's filters that fire (a response above ACTIVE at some position)
    on the enhancer or promoter of at least one of the first ``max_pairs`` pairs of ``split``:
    1 - the share of dead filters."""
    was = model.training
    model.eval()
    n = min(len(split), max_pairs)
    fired = None
    with torch.no_grad():
        for a in range(0, n, batch_size):
            r = torch.arange(a, min(n, a + batch_size))
            for x in (split.e[r], split.p[r]):
                h = model.tower(D.onehot(x.to(device)))[1].float().amax(dim=0) > ACTIVE
                fired = h if fired is None else fired | h
    model.train(was)
    return float(fired.float().mean()) if fired is not None else float("nan")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


# ---------------------------------------------------------------------------- training

def _param_groups(model, weight_decay, env_lr_scale=1.0):
    """AdamW's groups: decayed and not decayed parameters; with ``env_lr_scale`` != 1 each
    split again into the environment stream's (``model.environment_parameters()``, learning
    rate times ``env_lr_scale``) and the rest. (With 1, the two groups of earlier versions, so
    their checkpoints resume.)"""
    env = {id(p) for p in model.environment_parameters()} if env_lr_scale != 1.0 else set()
    groups = {}
    for name, p in model.named_parameters():
        groups.setdefault((model_lib.no_decay(name, p), id(p) in env), []).append(p)
    return [{"params": ps, "weight_decay": 0.0 if keep else weight_decay, "lr_scale": env_lr_scale if is_env else 1.0}
            for (keep, is_env), ps in sorted(groups.items())]


class _Forward(torch.nn.Module):
    """One training batch's forward pass as a single module call, so that
    DistributedDataParallel sees, and averages the gradients of, every parameter: the
    streams, the energy's scalars (lambda, T) and the gradient-reversed domain classifier.

    Rows: B query pairs, S support pairs (both of one cell line), then the contrast pairs
    (other cell lines). Returns z_all (rows, d), e_all (rows, d), z_I (B, d), z_E (d,, the
    mean e of the support rows), logits (B,) and the domain logits (rows, n_cells), float32.
    ``distance`` (B,): the query pairs' distances in bp (NaN where unknown). ``prototype``
    (d,) or None: z_E takes its value (the cell line's running mean of e) and passes its
    gradient to the support rows' e, as if it were their mean (``task_env="prototype"``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, xe, xp, n_query, n_support, env, grl_coeff, distance, prototype=None):
        z_all, e_all = self.model.features(xe, xp)
        z_all, e_all = z_all.float(), e_all.float()
        z_I, z_E = z_all[:n_query], e_all[n_query:n_query + n_support].mean(dim=0)
        if prototype is not None:       # the prototype's value, the support set's gradient
            z_E = prototype.float() + (z_E - z_E.detach())
        logits = self.model.energy(z_I, z_E, env, distance).float()
        return z_all, e_all, z_I, z_E, logits, self.model.domain_logits(z_all, grl_coeff).float()


LOSS_TERMS = ("loss", "task", "corr", "inv", "hcont", "sparse", "proto")


def _new_tally():
    """An epoch's running sums of what the log reports (over the batches of every rank)."""
    return {"sums": {k: 0.0 for k in LOSS_TERMS}, "dom_hits": 0, "dom_n": 0, "env_hits": 0, "env_n": 0,
            "act_I": 0.0, "act_E": 0.0, "nb": 0, "tr_p": [], "tr_y": []}


def _add(tally, rec):
    for k, v in zip(LOSS_TERMS, rec["terms"]):
        tally["sums"][k] += v
    for k in ("dom_hits", "dom_n", "env_hits", "env_n", "act_I", "act_E"):
        tally[k] += rec[k]
    tally["tr_p"].append(rec["p"])
    tally["tr_y"].append(rec["y"])
    tally["nb"] += 1


def _tally_to_save(tally):
    """The tally with its prediction lists as tensors (a checkpoint holds tensors only)."""
    out = dict(tally)
    for k in ("tr_p", "tr_y"):
        out[k] = torch.from_numpy(np.concatenate(tally[k]) if tally[k] else np.zeros(0, dtype=np.float32))
    return out


def _tally_from_save(saved):
    out = dict(saved)
    for k in ("tr_p", "tr_y"):
        out[k] = [saved[k].numpy()]
    return out


def train(config, train_split, val_split, out_dir, device, log=None, resume=False):
    """Train the EP model; write model.pt, calibration.json, train_log.tsv and checkpoints.

    Parameters
    ----------
    config : dict
        Resolved configuration (``model`` and ``train`` sections, ``cells``, ``seed``).
    train_split, val_split : PairSplit
    out_dir : str, existing directory (config.json is the caller's)
    device : torch.device
    log : callable(str) or None, receives one summary line per epoch
    resume : bool, continue from out_dir/checkpoint-last.pt

    Returns
    -------
    dict: best (epoch, val_aupr, threshold, val_f1), epochs run, stop reason, log rows.
    """
    cfg = {**TRAIN_DEFAULTS, **config["train"]}
    seed = int(config["seed"])
    torch.manual_seed(seed)
    model = model_lib.build(config)
    n_seed = min(int(cfg.get("enriched_filters", 0)), model.tower.stem.weight.shape[0])
    if n_seed and not resume:
        y_np = train_split.y.numpy()
        k = min(ENRICHED_K, model.tower.stem.weight.shape[-1])
        half = n_seed - n_seed // 2
        kmers = (enriched_kmers(train_split.p.numpy(), y_np, k, half)
                 + enriched_kmers(train_split.e.numpy(), y_np, k, n_seed - half))
        seed_stem(model.tower, kmers)
        if log is not None:
            log(f"{len(kmers)} stem filters start as the {k}-mers most enriched among interacting train pairs "
                f"(promoters, then enhancers): {' '.join(kmers)}")
    model = model.to(device)
    G = dist.group()
    # DistributedDataParallel under torchrun, built before the curriculum freezes anything, so that it
    # registers every parameter; some get no gradient in some steps (f_E' and g_E in the curriculum, the
    # energy form's unused scalars), hence find_unused_parameters
    net = G.wrap(_Forward(model), device, find_unused_parameters=True)
    opt = torch.optim.AdamW(_param_groups(model, cfg["weight_decay"], float(cfg["env_lr_scale"])), lr=cfg["lr"],
                            betas=tuple(cfg["betas"]))
    y_np = train_split.y.numpy()
    margins = immax_margins(float(y_np.sum()), float(len(y_np) - y_np.sum()), cfg["margin"], cfg["margin_power"])
    bs, sup = int(cfg["batch_size"]), int(cfg["support"])
    # the learning-rate schedule counts sampler batches (state["step"]), whatever the number of ranks
    n_batches = len(CellBatchSampler(train_split.cell_idx, bs, sup, torch.Generator().manual_seed(0))._batches())
    state = {"epoch": 0, "step": 0, "best": None, "bad_epochs": 0, "log": [], "stopped": ""}
    amp = L.precision_dtype(cfg.get("precision", "auto"), device)
    scaler = L.grad_scaler(device, amp)
    ckpt = L.Checkpoints(out_dir, model, opt, parts={"scaler": scaler})
    if resume:
        state = ckpt.restore()
        set_curriculum(model, state["epoch"], cfg)
    fam = EPFamily(model, net, opt, cfg, config, train_split, val_split, device, ckpt, scaler, amp, margins,
                   n_batches)
    L.run(fam, state, ckpt, log)
    return {"best": state["best"], "epochs": state["epoch"], "stopped": state["stopped"] or "max epochs",
            "log": state["log"], "margins": margins}


class EPFamily(L.Family):
    """The EP model's part of toolkit.train.loop.run: one cell line's batches with support and
    contrast sets, the loss terms and prototypes, validation AUPR, calibration.json."""

    def __init__(self, model, net, opt, cfg, config, train_split, val_split, device, ckpt, scaler, amp, margins,
                 n_batches):
        self.model, self.net, self.opt, self.cfg, self.device, self.ckpt = model, net, opt, cfg, device, ckpt
        self.scaler, self.amp, self.margins = scaler, amp, margins
        self.train_split, self.val_split = train_split, val_split
        self.seed = int(config["seed"])
        self.epochs = cfg["epochs"]
        self.cells = list(config["cells"])
        self.total, self.warmup = n_batches * cfg["epochs"], n_batches * cfg["warmup_epochs"]
        self.val_groups = support_sets(val_split.cell_names, int(cfg.get("eval_support", cfg["support"])),
                                       self.seed)
        self.others = {c: np.flatnonzero(train_split.cell_idx != c) for c in np.unique(train_split.cell_idx)}

    def begin_epoch(self, state, gen):
        """Every rank draws the same batch list and augmentations (from the seed and the epoch)."""
        cfg, epoch = self.cfg, state["epoch"]
        env = set_curriculum(self.model, epoch, cfg)
        batches = CellBatchSampler(self.train_split.cell_idx, int(cfg["batch_size"]), int(cfg["support"]),
                                   gen)._batches()
        self.net.train()
        return {"state": state, "epoch": epoch, "gen": gen, "env": env, "w": loss_weights(epoch, cfg),
                "batches": batches, "tally": _new_tally(), "n_steps": len(batches), "rows": len(self.train_split)}

    def resume_epoch(self, ep, mid):
        ep["tally"] = _tally_from_save(mid["tally"])

    def mid(self, ep):
        return {"tally": _tally_to_save(ep["tally"])}

    def steps(self, ep, start):
        """Step t takes the sampler's batches tW .. tW + W - 1, rank r batch tW + r (a rank past
        the epoch's last batch repeats the step's first with weight 0), and DDP averages the
        gradients, so a step is the mean gradient of its real batches. The prototypes are then
        updated from every rank's batch, gathered, in batch order: every rank holds the same
        state, and one process is the W = 1 case."""
        cfg, G, device, model, train_split = self.cfg, dist.group(), self.device, self.model, self.train_split
        state, epoch, gen, env, w, batches, tally = (ep[k] for k in ("state", "epoch", "gen", "env", "w", "batches",
                                                                     "tally"))
        for first in range(start, len(batches), G.world):
            group = batches[first:first + G.world]
            views = []                      # every rank augments every batch of the step: the same draws
            for q, s in group:
                c = int(train_split.cell_idx[int(q[0])])
                other = self.others[c]
                k = min(int(cfg["contrast"]), len(other))
                cs = torch.as_tensor(other[torch.randint(len(other), (k,), generator=gen).numpy()] if k else
                                     np.zeros(0, dtype=np.int64))
                idx = torch.cat([q, s, cs])
                views.append((q, s, idx, c, D.augment(train_split.e[idx], gen, cfg["rc_prob"], 0, 0.0, 0.0),
                              D.augment(train_split.p[idx], gen, cfg["rc_prob"], 0, 0.0, 0.0)))
            real = G.rank < len(group)
            b = first + (G.rank if real else 0)
            q, s, idx, c, ec, pc = views[b - first]
            y = train_split.y[q].to(device)
            B, S = len(q), len(s)
            for g in self.opt.param_groups:
                g["lr"] = g.get("lr_scale", 1.0) * lr_at(state["step"], self.total, self.warmup, cfg["lr"])
            with L.autocast(device, self.amp):
                proto = (model.prototypes[c] if env and cfg.get("task_env", "support") == "prototype"
                         and bool(model.proto_seen[c] > 0) else None)
                z_all, e_all, z_I, z_E, logits, dlog = self.net(D.onehot(ec.to(device)), D.onehot(pc.to(device)),
                                                                B, S, env, cfg["grl_coeff"],
                                                                train_split.dist[q].to(device), proto)
            cell_t = torch.as_tensor(train_split.cell_idx[idx.numpy()], dtype=torch.long, device=device)
            l_task = task_loss(logits, y, cfg["task_loss"], self.margins)
            l_inv = F.cross_entropy(dlog, cell_t)
            if env:
                l_corr = correlation_loss(z_I, z_E, cfg["corr_eps"])
                l_hcont, _ = hierarchical_infonce(e_all, cell_t, tau=cfg["tau"])
                l_sparse = sparsity_loss(z_I, z_E)
                l_proto = prototype_loss(e_all, model.prototypes[cell_t], model.proto_seen[cell_t] > 0)
                loss = (l_task + w["alpha"] * l_corr + w["beta"] * l_inv + w["gamma"] * l_hcont
                        + w["delta"] * l_sparse + w["eta"] * l_proto)
            else:
                with torch.no_grad():
                    l_corr = correlation_loss(z_I, z_E, cfg["corr_eps"])
                l_hcont = l_proto = torch.zeros((), device=device)
                l_sparse = sparsity_loss(z_I)
                loss = l_task + w["beta"] * l_inv + w["delta"] * l_sparse
            step_loss = loss
            if G.active:                    # DDP's mean over W ranks becomes the mean over the step's real batches
                step_loss = loss * (G.world / len(group) if real else 0.0)
                if G.any(real and not bool(torch.isfinite(loss))):
                    step_loss = step_loss * float("nan")      # every rank stops at the same step
            guarded_step(step_loss, model, self.opt, cfg["clip"], epoch, b, "the labels and sequences",
                         scaler=self.scaler)
            rec = None
            if real:
                rec = {"c": c, "terms": [float(v.detach()) for v in (loss, l_task, l_corr, l_inv, l_hcont,
                                                                      l_sparse, l_proto)],
                       "dom_hits": int((dlog.argmax(dim=1) == cell_t).sum()), "dom_n": len(idx), "env_hits": 0,
                       "env_n": 0, "act_I": float((z_I.abs() > ACTIVE).float().mean()),
                       "act_E": float((z_E.abs() > ACTIVE).float().mean()),
                       "p": torch.sigmoid(logits.detach()).cpu().numpy(), "y": y.cpu().numpy()}
                if env:
                    seen = torch.nonzero(model.proto_seen > 0).flatten()
                    own = model.proto_seen[cell_t] > 0
                    if len(seen) >= 2 and bool(own.any()):     # e nearest its own cell's prototype?
                        sims = F.normalize(e_all.detach()[own], dim=1) @ F.normalize(model.prototypes[seen], dim=1).T
                        rec["env_hits"] = int((seen[sims.argmax(dim=1)] == cell_t[own]).sum())
                        rec["env_n"] = int(own.sum())
                    rec["proto"] = e_all[B:B + S].detach().mean(dim=0).cpu()
            for r in G.gather(rec):         # in batch order, on every rank
                if r is None:
                    continue
                if env:
                    model.update_prototype(r["c"], r["proto"].to(device), cfg["mu"])
                _add(tally, r)
                state["step"] += 1
            yield first + len(group)

    def validate(self, ep):
        """Every rank validates the same weights on all the val rows, so every rank takes the
        same decisions."""
        cfg, model, val_split, val_groups, tally, env, w = (self.cfg, self.model, self.val_split, self.val_groups,
                                                            ep["tally"], ep["env"], ep["w"])
        sums, nb = tally["sums"], tally["nb"]
        val_y = val_split.y.numpy()
        chance = 1.0 / max(len(self.cells), 1)
        model.env_active.fill_(1.0 if env else 0.0)
        vl, vdom, v_act_I, v_act_E = score_pairs(model, val_split, val_groups, self.device, env)
        vp = sigmoid(vl)
        thr, vf1 = calibrate_threshold(val_y, vp)
        tm = binary_metrics(np.concatenate(tally["tr_y"]), np.concatenate(tally["tr_p"]), 0.5)
        vm = binary_metrics(val_y, vp, thr)
        known = val_split.cell_idx >= 0
        with torch.no_grad():
            vtask = float(task_loss(torch.as_tensor(vl), val_split.y.double(), cfg["task_loss"], self.margins))
        row = {"epoch": ep["epoch"] + 1, "phase": "joint" if env else "curriculum",
               "lr": self.opt.param_groups[0]["lr"], "train_loss": sums["loss"] / nb}
        for k in LOSS_TERMS[1:]:
            row[f"train_{k}"] = sums[k] / nb
        row.update({"train_aupr": tm["aupr"], "train_auroc": tm["auroc"], "train_f1": tm["f1"],
                    "val_task": vtask, "val_aupr": vm["aupr"], "val_auroc": vm["auroc"], "val_f1": vm["f1"],
                    "val_threshold": thr, "val_prior": float(val_y.mean()) if len(val_y) else float("nan")})
        for cname, (rows, _) in val_groups.items():
            row[f"val_aupr_{cname}"] = binary_metrics(val_y[rows], vp[rows])["aupr"]
        row.update({"domain_acc_train": tally["dom_hits"] / max(tally["dom_n"], 1),
                    "domain_acc_val": float((vdom[known] == val_split.cell_idx[known]).mean()) if known.any()
                    else float("nan"),
                    "domain_chance": chance,
                    "env_proto_acc_train": tally["env_hits"] / tally["env_n"] if tally["env_n"] else float("nan"),
                    "zI_active_frac": tally["act_I"] / nb, "zE_active_frac": tally["act_E"] / nb,
                    "stem_firing": stem_firing(model, val_split, self.device),
                    "T": float(model.temperature().detach()), "lambda": float(model.lam.detach())})
        for k in WEIGHTS:
            row[f"w_{k}"] = w[k] if (env or k in ("beta", "delta")) else 0.0
        ep.update(tm=tm, vm=vm, chance=chance, val_y=val_y)
        score = vm["aupr"] if vm["aupr"] == vm["aupr"] else -math.inf
        return row, {"epoch": ep["epoch"] + 1, "val_aupr": score, "val_auroc": vm["auroc"], "threshold": thr,
                     "val_f1": vf1, "env": bool(env)}

    def better(self, rec, best):
        return best is None or rec["val_aupr"] > best["val_aupr"]

    def save_best(self, ep, rec):
        """model.pt and calibration.json."""
        self.ckpt.save(self.ckpt.path(MD.WEIGHTS), self.model.state_dict())
        if dist.group().main:
            MD.write_json(self.ckpt.path(CALIBRATION), calibration_record(rec, ep["val_y"]))

    def select(self, state, rec, improved):
        state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1

    def decide(self, state, rec, ep):
        # decided once for all ranks (they agree anyway: the same weights, the same val rows)
        if dist.group().any(state["epoch"] >= self.cfg["min_epochs"] and state["bad_epochs"] >= self.cfg["patience"]):
            state["stopped"] = f"early stop: no gain in validation AUPR in {self.cfg['patience']} epochs"

    def write_log(self, path, rows):
        write_log(path, rows)           # the module's: tests intercept it

    def messages(self, row, ep, note):
        tm, vm = ep["tm"], ep["vm"]
        return [f"epoch {ep['epoch'] + 1}/{self.cfg['epochs']} ({row['phase']}): loss {row['train_loss']:.4f} "
                f"train AUPR {tm['aupr']:.3f} val AUPR {vm['aupr']:.3f} AUROC {vm['auroc']:.3f} "
                f"F1 {vm['f1']:.3f} (prior {row['val_prior']:.3f}) corr {row['train_corr']:.2e} "
                f"domain acc {row['domain_acc_train']:.2f} (chance {ep['chance']:.2f}) "
                f"stem filters firing {row['stem_firing']:.2f} T {row['T']:.2f} "
                f"lambda {row['lambda']:.3f} {row['seconds']:.1f}s{note}"]


CALIBRATION = "calibration.json"


def calibration_record(best, val_y):
    """calibration.json: the decision threshold and how it was chosen."""
    rec = {"threshold": best["threshold"], "criterion": "maximum F1 on the validation pairs of the best epoch",
           "epoch": best["epoch"], "val_f1": best["val_f1"], "val_aupr": best["val_aupr"],
           "val_auroc": best["val_auroc"], "val_prior": float(np.mean(val_y)) if len(val_y) else None,
           "environment": best["env"]}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in rec.items()}
