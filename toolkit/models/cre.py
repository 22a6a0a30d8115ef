"""The cross-cell-type CRE activity model.

Two backbones, one head per task:

``malinois`` (the default)
    Multi-scale stem: three weight-normalised (``norm="weight"``; or BatchNorm after
    each conv, ``norm="batch"``) Conv1d branches (kernels 7, 11, 15,
    ``stem`` channels each, LeakyReLU 0.1, dropout 0.10), concatenated, fused by a 1x1
    conv to ``width`` channels, max-pooled by 2; residual blocks at dilations 1, 2, 4
    (two k=3 convs, dropout 0.15, identity shortcut); widened to ``wide`` channels by a
    k=3 conv and max-pooled by 2; two more residual blocks (dilations 1, 2, dropout
    0.20); global average and max pooling concatenated (2 x ``wide``).
``resnet``
    Conv1d(4 -> ``width``, k=15) + BatchNorm + GELU + dropout, ``res_blocks`` residual
    blocks of two k=7 convs with BatchNorm, a dilated stack (k=3, dilations 2, 4, 8),
    global average pooling; weight norm on every conv.

Side inputs (a motif prior, descriptor features or any numeric columns) are
concatenated to the pooled embedding after Dropout(``side_dropout``) (late fusion).
Heads: Linear(in -> h1), LeakyReLU, Dropout(0.30), Linear(h1 -> h2),
LeakyReLU, Dropout(0.20), Linear(h2 -> 1), one independent head per task. Conv
weights use Kaiming normal initialisation (a = 0.1, fan_out);
Linear weights the same with fan_in (fan_out on a 1-output layer would start the
predictions at tens of SDs); biases zero.

Presets. ``malinois`` is the full-size network (weight norm, input masking 0.02, head
dropout 0.3/0.2). ``cpu`` is sized for minutes on a CPU and, because the malinois settings
underfit at that size, uses BatchNorm (``norm="batch"``), lr 3e-3, no input masking, head
dropout 0.1/0.1, an ensemble of 3 networks (``members=3``) and ``kmer_prior=True``: a
:class:`KmerRidgeBranch`, a k-mer (k = 1-6, both strands) ridge regression fitted on the
train rows (penalty by cross-validation within them, toolkit.train.side.crossfit_kmer_ridge),
whose predictions are averaged with the network's; the network trains on its own output and
validation scores the mean. The measurements behind these choices are in
docs/decisions/0009-fit-cre-cpu-preset.md. The config keys ``norm``, ``head_dropout`` and
``kmer_prior`` (model), ``lr`` and ``mask_prob`` (train) and the ``--ensemble`` flag give
either choice to any preset.

Input: one-hot float tensor (B, 4, L); an N base is an all-zero column. Any L works
(pooling is global), so a model trained on 230 nt can score 200 nt.
"""

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

PREDICTOR = "toolkit.train.serve:CREPredictor"
"""The class ``predict`` serves this family's model directories with (module:class; see
toolkit.train.serve.Predictor for what it offers)."""

PRESETS = {
    # the full-size network and schedule, for a GPU
    "malinois": {"arch": "malinois", "stem": 64, "width": 256, "wide": 384, "head_hidden": [256, 64],
                 "res_blocks": 6, "batch_size": 256, "epochs": 80, "min_epochs": 20, "patience": 12,
                 "warmup_epochs": 5, "lr": 3e-4, "mask_prob": 0.02, "norm": "weight", "head_dropout": [0.3, 0.2],
                 "kmer_prior": False, "members": 1},
    # minutes on a CPU for a few thousand sequences; BatchNorm, lr 3e-3, less regularisation
    # and the k-mer ridge branch because malinois's settings underfit at this size (module docstring)
    "cpu": {"arch": "malinois", "stem": 32, "width": 96, "wide": 128, "head_hidden": [64, 32],
            "res_blocks": 2, "batch_size": 64, "epochs": 12, "min_epochs": 12, "patience": 4,
            "warmup_epochs": 1, "lr": 3e-3, "mask_prob": 0.0, "norm": "batch", "head_dropout": [0.1, 0.1],
            "kmer_prior": True, "members": 3},
}


def _init(module):
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            w = m.parametrizations.weight.original1 if hasattr(m, "parametrizations") else m.weight
            mode = "fan_out" if isinstance(m, nn.Conv1d) else "fan_in"
            nn.init.kaiming_normal_(w, a=0.1, mode=mode, nonlinearity="leaky_relu")
            if hasattr(m, "parametrizations"):
                with torch.no_grad():  # g = |v| per output channel: the layer starts as plain Kaiming
                    m.parametrizations.weight.original0.copy_(
                        torch.linalg.vector_norm(w.flatten(1), dim=1).reshape_as(m.parametrizations.weight.original0))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _wn_conv(cin, cout, k, dilation=1):
    return weight_norm(nn.Conv1d(cin, cout, k, padding=dilation * (k - 1) // 2, dilation=dilation))


def _conv(cin, cout, k, dilation=1, norm="weight"):
    """A same-padded Conv1d: weight-normalised (``weight``) or followed by BatchNorm (``batch``)."""
    if norm == "weight":
        return _wn_conv(cin, cout, k, dilation)
    return nn.Sequential(nn.Conv1d(cin, cout, k, padding=dilation * (k - 1) // 2, dilation=dilation, bias=False),
                         nn.BatchNorm1d(cout))


class _WNResBlock(nn.Module):
    def __init__(self, ch, dilation, dropout, norm="weight"):
        super().__init__()
        self.c1 = _conv(ch, ch, 3, dilation, norm)
        self.c2 = _conv(ch, ch, 3, dilation, norm)
        self.drop = nn.Dropout(dropout)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x):
        return self.act(x + self.c2(self.drop(self.act(self.c1(x)))))


class MalinoisBackbone(nn.Module):
    """The malinois backbone (multi-scale stem, dilated residual blocks); output (B, 2 * wide)."""

    def __init__(self, stem=64, width=256, wide=384, norm="weight", **_):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(_conv(4, stem, k, norm=norm), nn.LeakyReLU(0.1), nn.Dropout(0.10)) for k in (7, 11, 15))
        self.fuse = nn.Sequential(_conv(3 * stem, width, 1, norm=norm), nn.LeakyReLU(0.1), nn.MaxPool1d(2))
        self.stage_b = nn.Sequential(*(_WNResBlock(width, d, 0.15, norm) for d in (1, 2, 4)))
        self.widen = nn.Sequential(_conv(width, wide, 3, norm=norm), nn.LeakyReLU(0.1), nn.MaxPool1d(2))
        self.stage_d = nn.Sequential(*(_WNResBlock(wide, d, 0.20, norm) for d in (1, 2)))
        self.out_dim = 2 * wide

    def forward(self, x):
        h = torch.cat([b(x) for b in self.branches], dim=1)
        h = self.stage_d(self.widen(self.stage_b(self.fuse(h))))
        return torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)


class _BNResBlock(nn.Module):
    def __init__(self, ch, k, dropout):
        super().__init__()
        self.body = nn.Sequential(
            _wn_conv(ch, ch, k), nn.BatchNorm1d(ch), nn.GELU(), nn.Dropout(dropout),
            _wn_conv(ch, ch, k), nn.BatchNorm1d(ch))
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(x + self.body(x))


class ResNetBackbone(nn.Module):
    """The resnet backbone (BatchNorm ResNet + dilated stack); output (B, width)."""

    def __init__(self, width=256, res_blocks=6, **_):
        super().__init__()
        layers = [_wn_conv(4, width, 15), nn.BatchNorm1d(width), nn.GELU(), nn.Dropout(0.10)]
        layers += [_BNResBlock(width, 7, 0.10) for _ in range(res_blocks)]
        for d in (2, 4, 8):
            layers += [_wn_conv(width, width, 3, d), nn.BatchNorm1d(width), nn.GELU(), nn.Dropout(0.10)]
        self.body = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x):
        return self.body(x).mean(dim=-1)


BACKBONES = {"malinois": MalinoisBackbone, "resnet": ResNetBackbone}


class KmerRidgeBranch(nn.Module):
    """A fitted k-mer (k = 1..kmax, both strands) ridge regression as a fixed layer.

    Output per task: ``bias + sum_k mean_i sum_kmer u_k[kmer] * [kmer at i]``, the
    indicator of k-mer b_1..b_k at window i being the product x[b_1, i] ... x[b_k, i+k-1]
    of one-hot entries: exactly 0 or 1 for a one-hot input (a window with N is 0) and a
    polynomial in x, so gradients and integrated gradients pass through it smoothly.
    The weights are buffers (saved in model.pt, never trained) set by ``set_ridge``.
    """

    def __init__(self, n_tasks, kmax=6, chunk=32):
        super().__init__()
        self.kmax, self.chunk = kmax, chunk
        for k in range(1, kmax + 1):
            self.register_buffer(f"u{k}", torch.zeros(4 ** k, n_tasks))   # first base most significant
        self.register_buffer("bias", torch.zeros(n_tasks))

    def set_ridge(self, u, bias):
        """u: list of kmax arrays (4^k, T), weights of the per-window k-mer frequencies; bias (T,)."""
        with torch.no_grad():
            for k in range(1, self.kmax + 1):
                getattr(self, f"u{k}").copy_(torch.as_tensor(u[k - 1]))
            self.bias.copy_(torch.as_tensor(bias))

    def forward(self, x):
        outs = []
        for a in range(0, x.shape[0], self.chunk):
            xc = x[a:a + self.chunk].float()
            y = self.bias.expand(xc.shape[0], -1)
            hit = xc                                               # (B, 4^k, L - k + 1)
            for k in range(1, min(self.kmax, xc.shape[-1]) + 1):
                if k > 1:
                    hit = (hit[:, :, None, :-1] * xc[:, None, :, k - 1:]).flatten(1, 2)
                y = y + hit.mean(dim=-1) @ getattr(self, f"u{k}")
            outs.append(y)
        return torch.cat(outs)


class _Net(nn.Module):
    """One ensemble member: backbone + optional side features + one MLP head per task."""

    def __init__(self, n_tasks, arch, n_side, side_dropout, head_hidden, head_dropout, **backbone):
        super().__init__()
        self.backbone = BACKBONES[arch](**backbone)
        self.n_side = n_side
        self.side_drop = nn.Dropout(side_dropout) if n_side else None
        d = self.backbone.out_dim + n_side
        h1, h2 = head_hidden
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(d, h1), nn.LeakyReLU(0.1), nn.Dropout(head_dropout[0]), nn.Linear(h1, h2),
                          nn.LeakyReLU(0.1), nn.Dropout(head_dropout[1]), nn.Linear(h2, 1))
            for _ in range(n_tasks))

    def forward(self, x, side=None):
        h = self.backbone(x)
        if self.n_side:
            h = torch.cat([h, self.side_drop(side)], dim=1)
        return torch.cat([head(h) for head in self.heads], dim=1)


class CREModel(nn.Module):
    """``members`` independently initialised networks (backbone + optional side features
    + one MLP head per task), averaged, and an optional fixed k-mer ridge branch.

    Parameters
    ----------
    n_tasks : int
    arch : str, key of BACKBONES, or ``mm-transformer`` (toolkit.models.mm)
    n_side : int
        Width of the side-feature vector (0 for none).
    side_dropout : float
    head_hidden : list of two ints
    kinds : list of str or None
        Task types (regression, binary, count); the k-mer branch joins regression tasks only.
    modalities, mm : the mm-transformer's modality slices of the side vector and its sizes
    members : int
        Ensemble size. Each member has its own initialisation and normalisation
        statistics and is trained on its own loss (the sum over members is minimised,
        gradients clipped per member), so a member trains exactly as a lone network
        would on the same batches; the model's output is the members' mean.
    backbone options : stem, width, wide, res_blocks
    """

    def __init__(self, n_tasks, arch="malinois", n_side=0, side_dropout=0.3, head_hidden=(256, 64),
                 head_dropout=(0.3, 0.2), kmer_prior=False, members=1, kinds=None, modalities=(), mm=None,
                 **backbone):
        super().__init__()
        self.n_tasks = n_tasks
        self.n_side = n_side
        if arch == "mm-transformer":       # PyTorch's default initialisation for the transformer
            from .mm import MMNet

            self.nets = nn.ModuleList(MMNet(n_tasks, modalities, **(mm or {})) for _ in range(members))
        else:
            self.nets = nn.ModuleList(_Net(n_tasks, arch, n_side, side_dropout, head_hidden, head_dropout, **backbone)
                                      for _ in range(members))
            _init(self)
        self.kmer = KmerRidgeBranch(n_tasks) if kmer_prior else None
        # the ridge is averaged into regression outputs only (binary logits and count log
        # rates are on other scales); recomputed from the config, never saved
        mix = [0.5 if k == "regression" else 0.0 for k in (kinds or ["regression"] * n_tasks)]
        self.register_buffer("kmer_mix", torch.tensor(mix), persistent=False)

    def forward(self, x, side=None, kmer=True, each=False):
        """x: (B, 4, L) one-hot; side: (B, n_side) or None. Returns (B, n_tasks).

        The members' mean; with a k-mer ridge branch, the mean of that and the ridge's
        prediction. ``kmer=False`` leaves the ridge out; ``each=True`` returns the
        members' outputs (members, B, n_tasks) without the ridge (what trains)."""
        ys = [net(x, side) for net in self.nets]
        if each:
            return torch.stack(ys)
        y = ys[0] if len(ys) == 1 else torch.stack(ys).mean(dim=0)
        if self.kmer is not None and kmer:
            y = y + self.kmer_mix.to(y.dtype) * (self.kmer(x).to(y.dtype) - y)
        return y

    def member_parameters(self):
        """One parameter list per member (for per-member gradient clipping)."""
        return [list(net.parameters()) for net in self.nets]


def build(config):
    """The model a resolved fit-cre config describes (untrained)."""
    m = config["model"]
    return CREModel(len(config["targets"]), arch=m["arch"], n_side=m.get("n_side", 0),
                    side_dropout=m.get("side_dropout", 0.3), head_hidden=m["head_hidden"],
                    head_dropout=m.get("head_dropout", (0.3, 0.2)), norm=m.get("norm", "weight"),
                    kmer_prior=m.get("kmer_prior", False), members=m.get("members", 1),
                    kinds=config.get("task_types"), modalities=(config.get("side") or {}).get("modalities", []),
                    mm=m.get("mm"),
                    stem=m["stem"], width=m["width"], wide=m["wide"], res_blocks=m["res_blocks"])


def no_decay(name, param):
    """Parameters AdamW must not decay: biases, norm parameters, weight-norm gains."""
    return param.ndim <= 1 or name.endswith(".bias") or "original0" in name


# ---------------------------------------------------------------------------- loss

def loss(pred, y, w_se, task_w, delta, kinds=None, pos_weight=None, regression="huber"):
    """Masked, SE- and task-weighted loss; also the per-task mean loss and the per-task
    signal of the task-weight EMA (detached): the mean squared residual of regression
    tasks, the mean loss of the others.

    pred, y, w_se : (B, T) float tensors (y NaN where a label is missing); task_w : (T,)
    kinds : (T,) long tensor, 0 regression, 1 binary, 2 count (default all regression): regression tasks
    take Huber(delta) (or squared error with ``regression="mse"``), binary tasks binary
    cross-entropy on logits with ``pos_weight`` (T,), count tasks the Poisson negative
    log-likelihood of a log rate (without the log y! constant)."""
    F = torch.nn.functional
    mask = torch.isfinite(y)
    y0 = torch.where(mask, y, torch.zeros_like(y))
    sq = (pred - y0) ** 2
    elem = F.huber_loss(pred, y0, reduction="none", delta=delta) if regression == "huber" else sq
    signal = sq
    if kinds is not None and bool((kinds != 0).any()):
        k = kinds.to(pred.device)[None, :]
        pw = (pos_weight if pos_weight is not None else torch.ones(pred.shape[1])).to(pred.device)
        bce = F.binary_cross_entropy_with_logits(pred, y0, pos_weight=pw, reduction="none")
        pois = torch.exp(pred.clamp(max=30.0)) - y0 * pred
        elem = torch.where(k == 1, bce, torch.where(k == 2, pois, elem))
        signal = torch.where(k == 0, sq, elem)
    m = mask.float()
    tw = task_w.to(pred.device)[None, :]
    loss = (tw * w_se * m * elem).sum() / ((tw * m).sum() + 1e-8)
    cnt = m.sum(dim=0)
    per_task = ((m * elem).sum(dim=0) / cnt.clamp(min=1)).detach()
    sig = ((m * signal).sum(dim=0) / cnt.clamp(min=1)).detach()
    return loss, per_task, sig, cnt > 0
