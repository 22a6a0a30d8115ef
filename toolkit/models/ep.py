"""The enhancer-promoter interaction model: two streams and an energy.

Inputs: one-hot float tensors ``xe`` (B, 4, L_E) and ``xp`` (B, 4, L_P), an N base an
all-zero column; pooling is global, so any lengths work. Output: logits (B,) of
P(y=1 | pair, cell line) = sigmoid(logit), given the cell line's environment z_E (d,).

Sequence stream f_I (:class:`Tower`, shared by the enhancer and the promoter)
    Conv1d(4 -> C, ``kernel``) + ReLU (``stem_activation="relu"``) or nothing (``"linear"``,
    the presets': max pooling then keeps each filter's best raw response, so every filter
    has a gradient), with ``strands=2`` read on both strands (each
    filter and its reverse complement, weights shared, the larger response kept at every
    position), then global max pooling (or with ``stem_pooling="logsumexp"`` the smooth
    maximum t log(mean exp(h / t)), t = ``stem_temperature``), (B, C): which motifs a
    sequence holds. With
    ``blocks`` > 0 also [MaxPool(``pool``), Conv1d(C -> C, 5) + ReLU] blocks, whose global
    max pooling is appended, (B, 2C). ``stem_norm`` batch-normalises the stem's responses
    (both strands with one set of statistics) before the ReLU. The pair's z_I, (B, d), is
    with ``pair_form="product"`` softplus(W_E h_E) * softplus(W_P h_P): each component a
    soft AND of an enhancer module and a promoter module (a motif pair); ``PAIR_FORMS``
    lists the other forms (``bilinear``: softplus(W (h_E outer h_P)), every enhancer
    feature with every promoter feature).

Environment stream f_E'
    Linear(-> ``env_hidden``) + ReLU + Linear(-> d), or with ``env_hidden=0`` one Linear(-> d)
    (the presets': z_E is then a linear map of the support set's mean stem features), a
    linear output e, (B, d), reading
    max-pooled stem features: of a stem of ``env_filters`` filters of its own (trained by
    the environment's losses only: the shared stem gets no gradient from e, the own stem
    none from z_I) or, with ``env_filters=0``, of the shared stem (C_E = ``env_filters``
    or C channels); of the enhancer only, (B, C_E), with ``env_input="enhancer"``, or of
    both sequences, (B, 2 C_E), with ``env_input="pair"``. A cell line's environment z_E, (d,), is the mean of e over a
    support set of that cell line's pairs (labels are never needed).

Energy
    U_I = g_I(z_I), (B, K), with K = ``modules`` channels; LN(z_E) is z_E standardised
    across its d components (a LayerNorm without parameters), so that the L1 penalty on
    z_E can shrink its scale but not erase which cell line it describes.
    ``energy="interaction"``: R_E = softplus(g_E(LN(z_E))) >= 0, (K,), and
    logit = sum_k (U_k - R_k + lambda * U_k * R_k) / T, lambda a learnable scalar (init
    0.1): R_E can damp or amplify each channel, U_k (1 + lambda R_k) - R_k; with
    ``modules=1`` one scalar U_I and R_E.
    ``energy="linear"`` (the presets' form):
    logit = (sum_k U_k + U^T Lambda_U LN(z_E) + lambda_R^T LN(z_E)) / T, Lambda_U (K, d)
    and lambda_R (d,) learnable (for K = 1: U + lambda_U U.z_E + lambda_R.z_E): each
    channel gated by a linear function of z_E.
    T = softplus(t) (t init 0, so T = ln 2 ~ 0.69 at the start; optionally clamped to
    [0.5, 2]). ``env=False`` (the curriculum's first epochs) computes the logit with
    R_E = 0 and lambda = 0: sum_k U_k / T.

Distance term (``distance=True``, the presets')
    h(d), added to the logit: a piecewise-linear function of log10(d + 1) of the pair's
    enhancer-promoter distance d (bp), with learnable values at ``DISTANCE_KNOTS`` (10^3 to
    10^6.5 bp, every half decade; flat beyond the ends and beyond the train distances), and one learnable value for a pair
    without a distance (another chromosome, or none given). Contact frequency falls with
    genomic distance whatever the sequences, so the streams need not learn it
    (0015-fit-ep-distance-term.md).

Losses (the functions at the end of this module; toolkit.train.ep weighs and schedules
them): the task loss (IMMAX margins or BCE), the squared correlation of z_I and z_E,
hierarchical InfoNCE on e (all its rows from one forward pass), L1 sparsity and the
distance of e to its cell line's prototype. Their parts in the model: ``GradReverse``
(identity forward, gradient times -coeff backward); ``classifier``, an MLP from GRL(z_I)
to the training cell lines (domain-adversarial invariance); ``prototypes``, a buffer
(n_cells, d) of momentum-updated per-cell means of e; ``env_active``, a buffer, 0 when
the weights were saved during the curriculum (the environment off), so that a model file
says how it is to be used.

Why these forms (measurements in docs/decisions/): max pooling only, because a mean over
the window is a composition fingerprint of the element, which the network memorises;
softplus z_I and a linear e, because ReLU outputs collapsed to exact zeros; both strands
and e from the enhancer only (0006-fit-ep-sequence-stream-shape.md). A linear f_E' and
shared stem responses pooled without a ReLU, because an MLP f_E' extrapolated to an unseen
line's combination of programs differently with every seed, and a third of the ReLU stem's
filters died, sometimes with a motif the held-out line needed
(0012-fit-ep-linear-environment-and-stem.md). Half the presets' shared-stem filters start as
the k-mers most enriched among interacting train pairs (toolkit.train.ep's
``enriched_filters``), because random filters missed promoter motifs on some folds and seeds,
and ``stem_pooling="logsumexp"`` (a smooth maximum) did not fix that
(0013-fit-ep-enriched-kmer-filters.md). The presets'
environment settings, under which e does not collapse to one vector for every pair: a
stem of its own, the linear energy with K = d, the contrastive weight at 1 and the
environment's learning rate at a tenth (0007-fit-ep-environment-stream.md); the
contrastive negatives (0008-fit-ep-contrastive-negatives.md).
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

PREDICTOR = "toolkit.train.serve:EPPredictor"
"""The class ``predict`` serves this family's model directories with (module:class; see
toolkit.train.serve.Predictor for what it offers)."""

PRESETS = {
    # minutes on a CPU for a few thousand pairs of windows of a few hundred bp
    "cpu": {"channels": 32, "kernel": 11, "blocks": 0, "pool": 4, "d": 32, "env_hidden": 0,
            "modules": 32, "dropout": 0.1, "strands": 2, "env_input": "enhancer", "env_filters": 32,
            "energy": "linear", "pair_form": "product", "stem_norm": False, "stem_activation": "linear",
            "stem_pooling": "max", "stem_temperature": 0.1, "batch_size": 64, "support": 32,
            "epochs": 15, "lr": 1e-2, "enriched_filters": 16, "distance": True, "task_env": "prototype",
            "loss_weights": [0.1, 0.1, 1.0, 0.01, 0.05], "env_lr_scale": 0.1},
    # sizes for a GPU and the TargetFinder windows (3,000 / 2,000 bp); the
    # environment settings carried over from the cpu preset's benchmark (not run on a GPU)
    "full": {"channels": 128, "kernel": 19, "blocks": 4, "pool": 4, "d": 64, "env_hidden": 0,
             "modules": 64, "dropout": 0.3, "strands": 2, "env_input": "enhancer", "env_filters": 64,
             "energy": "linear", "pair_form": "product", "stem_norm": False, "stem_activation": "linear",
             "stem_pooling": "max", "stem_temperature": 0.1, "batch_size": 64, "support": 32,
             "epochs": 40, "lr": 1e-3, "enriched_filters": 32, "distance": True, "task_env": "prototype",
             "loss_weights": [0.1, 0.1, 1.0, 0.01, 0.05], "env_lr_scale": 0.1},
}
# Where the presets differ from the library defaults (EPModel's arguments and
# toolkit.train.presets.EP_TRAIN_DEFAULTS): f_E' reads a stem of its own (env_filters), the
# linear energy with one channel per z_I component (energy, modules = d), the contrastive
# weight gamma at 1 (the default 0.05; every weight still grows by 0.01 per epoch up to
# twice its start) and the environment stream's learning rate at a tenth (env_lr_scale).
# With the defaults e collapses to one vector for every pair: see
# docs/decisions/0007-fit-ep-environment-stream.md.
# A linear f_E' (env_hidden 0) and a linear shared stem (stem_activation): see
# docs/decisions/0012-fit-ep-linear-environment-and-stem.md. Shared-stem filters that start as
# enriched k-mers (enriched_filters, a training setting): 0013-fit-ep-enriched-kmer-filters.md.
# The task loss reading each line's prototype as its z_E in training (task_env, a training
# setting): 0016-fit-ep-prototype-environment-in-training.md.
ENERGIES = ("interaction", "linear")
PAIR_FORMS = ("product", "bilinear", "conjunction")
ENV_INPUTS = ("enhancer", "pair")
STEM_ACTIVATIONS = ("relu", "linear")
STEM_POOLINGS = ("max", "logsumexp")
DISTANCE_KNOTS = tuple(3.0 + 0.5 * i for i in range(8))
"""log10(distance + 1) at the distance term's knots (1 kb to about 3 Mb)."""


class DistanceTerm(nn.Module):
    """h(d): a piecewise-linear function of x = log10(d + 1), d the enhancer-promoter distance
    in bp (its magnitude: a signed distance's sign is not read), through learnable values at
    ``DISTANCE_KNOTS``, constant beyond ``span`` (lo, hi) in
    x (the train distances' range, so that knots no train distance reaches do not set h; the
    knots' range by default), and a learnable value for a missing distance (NaN). All values
    start at 0, so an untrained term leaves the logit as it is."""

    def __init__(self, knots=DISTANCE_KNOTS, span=None):
        super().__init__()
        self.register_buffer("knots", torch.tensor(knots, dtype=torch.float32))
        lo, hi = span if span is not None else (knots[0], knots[-1])
        self.lo, self.hi = min(max(float(lo), knots[0]), knots[-1]), max(min(float(hi), knots[-1]), knots[0])
        self.values = nn.Parameter(torch.zeros(len(knots)))
        self.missing = nn.Parameter(torch.zeros(()))

    def basis(self, distance):
        """Hat-function weights (B, n_knots) of distances (B,) (a row of zeros where NaN):
        each row holds at most two non-zero weights, summing to 1."""
        k = self.knots
        d = distance.to(k.dtype)
        ok = torch.isfinite(d)
        x = torch.log10(torch.where(ok, d, torch.zeros_like(d)).abs() + 1).clamp(self.lo, self.hi)
        j = torch.searchsorted(k, x.contiguous(), right=True).clamp(1, len(k) - 1)     # x in [k[j-1], k[j]]
        frac = (x - k[j - 1]) / (k[j] - k[j - 1])
        w = torch.zeros(d.shape[0], len(k), dtype=k.dtype, device=d.device)
        w.scatter_(1, (j - 1)[:, None], (1 - frac)[:, None])
        w.scatter_add_(1, j[:, None], frac[:, None])
        return w * ok[:, None]

    def forward(self, distance):
        """h(d), (B,), of distances (B,) in bp (NaN: missing)."""
        ok = torch.isfinite(distance)
        return self.basis(distance) @ self.values + (~ok).to(self.values.dtype) * self.missing


class GradReverse(torch.autograd.Function):
    """Gradient reversal (Ganin & Lempitsky 2015): forward x, backward -coeff * grad."""

    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = float(coeff)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def grad_reverse(x, coeff=1.0):
    """Identity on ``x`` whose gradient is multiplied by ``-coeff``."""
    return GradReverse.apply(x, coeff)


class Tower(nn.Module):
    """The CNN over one sequence: returns (embedding (B, C or 2C), intermediate (B, C)).

    The intermediate features are the stem's global max pooling (which motifs the sequence
    holds); the embedding is them, next to the last block's global max pooling when there
    are blocks. Max pooling, or its smooth form (``pooling="logsumexp"``, ``temperature``
    t), never a plain mean: a mean over the window is a composition fingerprint of the
    element, which a network memorises (see the module docstring)."""

    def __init__(self, channels, kernel, blocks, pool, strands=2, norm=False, activation="relu", pooling="max",
                 temperature=0.1):
        super().__init__()
        if activation not in STEM_ACTIVATIONS:
            raise ValueError(f"activation must be one of {STEM_ACTIVATIONS}")
        if pooling not in STEM_POOLINGS:
            raise ValueError(f"pooling must be one of {STEM_POOLINGS}")
        self.pooling, self.temperature = pooling, float(temperature)
        self.act = F.relu if activation == "relu" else (lambda h: h)
        self.stem = nn.Conv1d(4, channels, kernel, padding=kernel // 2)
        self.norm = nn.BatchNorm1d(channels) if norm else None
        self.strands = int(strands)
        self.pool = pool
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, 5, padding=2) for _ in range(blocks))
        self.out_channels = channels * (2 if blocks else 1)

    def scan(self, x):
        """The stem's responses (B, C, L), after a ReLU or, with ``activation="linear"``,
        as they are; with ``strands=2`` each filter's maximum over the two strands at every
        position (the filter and its reverse complement, weights shared), so a motif is found
        in either orientation by one filter."""
        if self.strands == 1:
            h = self.stem(x)
            return self.act(self.norm(h) if self.norm is not None else h)
        w = self.stem.weight
        C = w.shape[0]
        both = F.conv1d(x, torch.cat([w, w.flip(1).flip(2)]), torch.cat([self.stem.bias, self.stem.bias]),
                        padding=self.stem.padding[0])
        fwd, rev = both[:, :C], both[:, C:]
        if self.norm is not None:                  # one normalisation for both strands (shared statistics)
            fwd, rev = self.norm(torch.cat([fwd, rev])).chunk(2)
        return self.act(torch.maximum(fwd, rev))

    def pooled(self, h):
        """The stem's global pooling of responses h (B, C, L) -> (B, C): the largest, or with
        ``pooling="logsumexp"`` t log(mean_l exp(h_l / t)), t = ``temperature``, a smooth
        maximum: every position passes a share softmax(h / t) of the gradient, spread over many
        positions while a filter's responses are small next to t (so a motif enriched among the
        interacting pairs pulls a random filter toward it), concentrated on the best position
        once the filter responds strongly there."""
        if self.pooling == "max":
            return h.amax(dim=-1)
        t = self.temperature
        return t * (torch.logsumexp(h / t, dim=-1) - math.log(h.shape[-1]))

    def forward(self, x):
        h = self.scan(x)
        inter = self.pooled(h)
        if not self.convs:
            return inter, inter
        for conv in self.convs:
            if h.shape[-1] >= 2 * self.pool:
                h = F.max_pool1d(h, self.pool)
            h = F.relu(conv(h))
        return torch.cat([inter, h.amax(dim=-1)], dim=1), inter


class EPModel(nn.Module):
    """Two-stream enhancer-promoter model (see the module docstring).

    Parameters
    ----------
    n_cells : int
        Training cell lines (outputs of the domain classifier, rows of the prototypes).
    channels, kernel, blocks, pool : CNN tower sizes
    d : int, size of z_I, e and z_E
    env_hidden : hidden size of f_E' (0: f_E' is one linear layer)
    modules : int, K energy channels
    dropout : float, in the z_I MLP
    energy : ``interaction`` or ``linear``
    clamp_temperature : bool, clamp T to [0.5, 2]
    strands : 2 (the stem reads both strands) or 1 (the forward strand only)
    env_input : ``enhancer`` (e from the enhancer's stem features) or ``pair`` (both sequences')
    env_filters : int, 0: f_E' reads the shared stem's features; N > 0: f_E' reads a stem of N
        filters of its own (both strands, global max pooling), which only the environment's
        losses train, so the contrastive term does not compete with the task for the shared
        stem (see the module docstring)

    distance : bool, add the distance term h(d) to the logit (the pair's distance is then
        needed wherever it is scored; NaN where unknown)
    distance_span : (lo, hi) or None, log10(distance + 1) of the nearest and farthest train
        distances: h is flat beyond them

    A config.json written before ``strands``, ``env_input`` and ``distance`` existed builds
    with 1, ``pair`` and no distance term, the model it was trained as.
    """

    def __init__(self, n_cells, channels=64, kernel=15, blocks=2, pool=4, d=32, env_hidden=64,
                 modules=8, dropout=0.1, energy="interaction", clamp_temperature=False, strands=2,
                 env_input="enhancer", env_filters=0, pair_form="product", stem_norm=False,
                 stem_activation="relu", stem_pooling="max", stem_temperature=0.1, distance=False,
                 distance_span=None):
        super().__init__()
        if energy not in ENERGIES:
            raise ValueError(f"energy must be one of {ENERGIES}")
        self.energy_form = energy
        self.clamp_temperature = bool(clamp_temperature)
        self.d = d
        if env_input not in ENV_INPUTS:
            raise ValueError(f"env_input must be one of {ENV_INPUTS}")
        self.env_from = env_input
        self.tower = Tower(channels, kernel, blocks, pool, strands, norm=stem_norm, activation=stem_activation,
                           pooling=stem_pooling, temperature=stem_temperature)
        width = self.tower.out_channels
        if pair_form not in PAIR_FORMS:
            raise ValueError(f"pair_form must be one of {PAIR_FORMS}")
        self.pair_form = pair_form
        if pair_form == "bilinear":
            self.f_I = nn.Sequential(nn.Dropout(dropout), nn.Linear(width * width, d), nn.Softplus())
        else:
            self.f_I_e = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, d), nn.Softplus())
            self.f_I_p = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, d), nn.Softplus())
        if pair_form == "conjunction":          # a second enhancer term: (enhancer AND enhancer) AND promoter
            self.f_I_m = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, d), nn.Softplus())
        self.env_tower = Tower(env_filters, kernel, 0, pool, strands) if env_filters > 0 else None
        env_channels = env_filters if env_filters > 0 else channels
        env_width = env_channels if env_input == "enhancer" else 2 * env_channels
        if env_hidden > 0:
            self.f_E = nn.Sequential(nn.Linear(env_width, env_hidden), nn.ReLU(), nn.Linear(env_hidden, d))
        else:                                   # linear: z_E is a linear map of the support set's mean features
            self.f_E = nn.Linear(env_width, d)
        self.g_I = nn.Linear(d, modules)
        self.g_E = nn.Linear(d, modules)
        self.lam = nn.Parameter(torch.tensor(0.1))
        self.t = nn.Parameter(torch.tensor(0.0))
        self.lam_U = nn.Parameter(torch.full((modules, d), 0.1 / d))
        self.lam_R = nn.Parameter(torch.zeros(d))
        self.classifier = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, max(n_cells, 1)))
        self.register_buffer("prototypes", torch.zeros(max(n_cells, 1), d))
        self.register_buffer("proto_seen", torch.zeros(max(n_cells, 1)))
        self.register_buffer("env_active", torch.tensor(1.0))   # 0 while the curriculum had the environment off
        self.distance = DistanceTerm(span=distance_span) if distance else None

    # ------------------------------------------------------------------ streams
    def features(self, xe, xp):
        """z_I and e of a batch of pairs.

        Parameters
        ----------
        xe : torch.Tensor, shape (B, 4, L_E); xp : torch.Tensor, shape (B, 4, L_P)

        Returns
        -------
        z_I : (B, d); e : (B, d)
        """
        he, ie = self.tower(xe)
        hp, ip = self.tower(xp)
        if self.env_tower is not None:
            ie = self.env_tower(xe)[1]
            ip = self.env_tower(xp)[1] if self.env_from == "pair" else None
        env_in = ie if self.env_from == "enhancer" else torch.cat([ie, ip], dim=1)
        if self.pair_form == "bilinear":
            z_I = self.f_I((he[:, :, None] * hp[:, None, :]).flatten(1))
        else:
            z_I = self.f_I_e(he) * self.f_I_p(hp)
            if self.pair_form == "conjunction":
                z_I = z_I * self.f_I_m(he)
        return z_I, self.f_E(env_in)

    def environment_parameters(self):
        """The parameters of f_E' and g_E, and of the environment's own stem if it has one
        (frozen during the curriculum)."""
        own = list(self.env_tower.parameters()) if self.env_tower is not None else []
        return own + list(self.f_E.parameters()) + list(self.g_E.parameters())

    def temperature(self):
        T = F.softplus(self.t)
        return T.clamp(0.5, 2.0) if self.clamp_temperature else T

    @staticmethod
    def env_input(z_E):
        """z_E as g_E and the fallback read it: standardised across its d components (a
        LayerNorm without parameters), so that the L1 penalty on z_E can shrink its scale
        but not erase which cell line it describes."""
        return F.layer_norm(z_E, z_E.shape[-1:])

    def potentials(self, z_I, z_E):
        """U_I (B, K) and R_E (K,) (R_E = softplus(g_E(LN(z_E))))."""
        return self.g_I(z_I), F.softplus(self.g_E(self.env_input(z_E)))

    def energy(self, z_I, z_E, env=True, distance=None):
        """Logits (B,) of P(y=1 | x, c) from z_I (B, d) and the cell line's z_E (d,), plus the
        distance term h(distance) for a model that has one (distance (B,) in bp, NaN where
        unknown; None: every distance unknown).

        ``env=False``: R_E = 0 and lambda = 0 (the curriculum's first epochs)."""
        U = self.g_I(z_I)
        T = self.temperature()
        if not env:
            out = U.sum(dim=1) / T
        else:
            z = self.env_input(z_E)
            if self.energy_form == "linear":
                out = (U.sum(dim=1) + (U @ self.lam_U) @ z + self.lam_R @ z) / T
            else:
                R = F.softplus(self.g_E(z))
                out = (U - R + self.lam * U * R).sum(dim=1) / T
        if self.distance is None:
            return out
        if distance is None:
            distance = torch.full((z_I.shape[0],), float("nan"), device=z_I.device)
        return out + self.distance(distance.to(z_I.device)).to(out.dtype)

    def forward(self, xe, xp, z_E, env=True, distance=None):
        """Logits (B,) for pairs (xe, xp) in a cell line whose environment is z_E (d,), at
        distances (B,) (bp; used by a model with the distance term)."""
        z_I, _ = self.features(xe, xp)
        return self.energy(z_I, z_E, env, distance)

    def environment(self, xe, xp):
        """z_E (d,): the mean of e over a support set (xe, xp) of one cell line's pairs."""
        _, e = self.features(xe, xp)
        return e.mean(dim=0)

    def domain_logits(self, z_I, coeff=1.0):
        """Cell-line classifier on GRL(z_I): logits (B, n_cells)."""
        return self.classifier(grad_reverse(z_I, coeff))

    @torch.no_grad()
    def update_prototype(self, cell, mean_e, mu=0.9):
        """p_c <- mu p_c + (1 - mu) mean_e (the first update sets p_c = mean_e)."""
        if self.proto_seen[cell] > 0:
            self.prototypes[cell] = mu * self.prototypes[cell] + (1 - mu) * mean_e
        else:
            self.prototypes[cell] = mean_e
            self.proto_seen[cell] = 1.0


def build(config):
    """The model a resolved fit-ep config describes (untrained)."""
    m = config["model"]
    return EPModel(len(config["cells"]), channels=m["channels"], kernel=m["kernel"], blocks=m["blocks"],
                   pool=m["pool"], d=m["d"], env_hidden=m["env_hidden"], modules=m["modules"],
                   dropout=m["dropout"], energy=m["energy"], clamp_temperature=m["clamp_temperature"],
                   strands=m.get("strands", 1), env_input=m.get("env_input", "pair"),
                   env_filters=m.get("env_filters", 0), pair_form=m.get("pair_form", "product"),
                   stem_norm=bool(m.get("stem_norm", False)), stem_activation=m.get("stem_activation", "relu"),
                   stem_pooling=m.get("stem_pooling", "max"), stem_temperature=m.get("stem_temperature", 0.1),
                   distance=bool(m.get("distance", False)), distance_span=m.get("distance_span"))


def no_decay(name, param):
    """Parameters AdamW must not decay: biases and the scalars and vectors of the energy."""
    return param.ndim <= 1 or name.endswith(".bias")


# ---------------------------------------------------------------------------- losses

def immax_margins(n_pos, n_neg, margin=1.0, power=0.25):
    """(rho+, rho-): rho_y proportional to n_y^(-power), rho+ = margin."""
    if n_pos <= 0 or n_neg <= 0:
        return float(margin), float(margin)
    return float(margin), float(margin * (n_pos / n_neg) ** power)


def task_loss(logits, y, kind="immax", margins=(1.0, 1.0)):
    """Mean task loss of logits (B,) against 0/1 labels y (B,).

    ``immax``: softplus(rho_y - y~ * s), y~ = 2y - 1; ``bce``: binary cross-entropy."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, y)
    sign = 2.0 * y - 1.0
    rho = torch.where(y > 0.5, torch.full_like(y, margins[0]), torch.full_like(y, margins[1]))
    return F.softplus(rho - sign * logits).mean()


def correlation_loss(z_I, z_E, eps=1e-8):
    """Squared Pearson correlation between z_I (B, d) and z_E ((d,) or (B, d)), per pair
    across the d components, averaged over pairs."""
    z_E = z_E.expand_as(z_I)
    a = z_I - z_I.mean(dim=1, keepdim=True)
    b = z_E - z_E.mean(dim=1, keepdim=True)
    cov = (a * b).mean(dim=1)
    r = cov / torch.sqrt((a * a).mean(dim=1) * (b * b).mean(dim=1) + eps)
    return (r * r).mean()


def hierarchical_infonce(e, cells, tau=0.1):
    """InfoNCE over L2-normalised e (N, d) whose positives share the cell line.

    Candidates of anchor i: every other row. Loss of i:
    -log(sum_{j pos} exp(s_ij / tau) / sum_{j != i} exp(s_ij / tau)), s the cosine
    similarity; anchors with no positive or no negative are skipped. The rows must come
    from one forward pass (see the module docstring: a memory of earlier batches' e let
    the network tell fresh from stale vectors instead of cell lines). Returns (mean loss,
    anchors used).
    """
    z = F.normalize(e.float(), dim=1)
    N = z.shape[0]
    sim = z @ z.T / tau
    self_mask = torch.eye(N, dtype=torch.bool, device=z.device)
    same = cells[:, None] == cells[None, :]
    pos = same & ~self_mask
    ok = pos.any(dim=1) & (~same).any(dim=1)
    if not ok.any():
        return sim.sum() * 0.0, 0
    sim = sim.masked_fill(self_mask, -math.inf)
    log_all = torch.logsumexp(sim, dim=1)
    log_pos = torch.logsumexp(sim.masked_fill(~pos, -math.inf), dim=1)
    return (log_all - log_pos)[ok].mean(), int(ok.sum())


def sparsity_loss(z_I, z_E=None):
    """mean |z_I| (+ mean |z_E|)."""
    out = z_I.abs().mean()
    return out if z_E is None else out + z_E.abs().mean()


def prototype_loss(e, prototypes, seen=None):
    """Mean over rows of the per-component squared distance of e (N, d) to each row's cell
    line prototype (N, d) (or one prototype (d,)), over the rows whose prototype exists
    (``seen``, bool (N,)); 0 when none does."""
    d2 = ((e - prototypes) ** 2).mean(dim=-1)
    if seen is None:
        return d2.mean()
    return d2[seen].mean() if bool(seen.any()) else e.sum() * 0.0
