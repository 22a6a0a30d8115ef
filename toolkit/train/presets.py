"""Training defaults and the settings a ``--config FILE`` may hold, without torch.

A fit-* command resolves its configuration in one order: the defaults here < the
preset's values (``toolkit.models.*.PRESETS``) < a ``--config`` file < the flags given.
The resolved values go to the model directory's config.json under ``train`` and
``model``, with the same key names as a config file uses, so a config file is a partial
config.json: ``[train]`` and ``[model]`` tables (TOML) or objects (JSON).

This module imports neither torch nor click, so that ``--help`` of every command, which
lists the keys, starts fast. The trainers read their defaults from it.
"""

import difflib
import json
import math

from ..errors import ConfigError

CRE_TRAIN_DEFAULTS = {
    "batch_size": 256, "epochs": 80, "min_epochs": 20, "patience": 12, "min_delta": 0.002,
    "lr": 3e-4, "betas": [0.9, 0.98], "eps": 1e-8, "weight_decay": 0.05, "warmup_epochs": 5, "clip": 1.0,
    "huber_delta": 1.0, "se_cap": 25.0, "task_weight_warmup": 5, "task_weight_ema": 0.98, "task_weight_cap": 2.0,
    "rc_prob": 0.5, "rc_lambda": 0.05, "shift": 3, "shift_prob": 0.5, "mask_prob": 0.02, "best_k": 3,
    "tie_margin": 0.001, "kmer_folds": 5, "regression_loss": "huber", "collapse_sd": 0.2, "collapse_r": 0.1,
    "collapse_epochs": 3, "steps_per_epoch": 0, "precision": "auto",
}
"""fit-cre's training settings (config.json ``train``) where neither the preset nor the user sets them."""

EP_TRAIN_DEFAULTS = {
    "batch_size": 64, "support": 32, "epochs": 15, "min_epochs": 6, "patience": 3, "lr": 2e-3,
    "betas": [0.9, 0.999], "weight_decay": 0.01, "warmup_epochs": 1, "clip": 1.0, "curriculum_epochs": 2,
    "environment": True, "alpha": 0.1, "beta": 0.1, "gamma": 0.05, "delta": 0.01, "eta": 0.05, "weight_step": 0.01,
    "alpha_max": 0.2, "beta_max": 0.2, "gamma_max": 0.1, "delta_max": 0.02, "eta_max": 0.1,
    "tau": 0.1, "mu": 0.9, "contrast": 32, "grl_coeff": 1.0, "corr_eps": 1e-8,
    "task_loss": "immax", "margin": 1.0, "margin_power": 0.25, "rc_prob": 0.5,
    "env_lr_scale": 1.0, "eval_support": 256, "enriched_filters": 0, "task_env": "support",
    "precision": "auto",
}
"""fit-ep's training settings (config.json ``train``)."""

EP_LOSS_WEIGHTS = ("alpha", "beta", "gamma", "delta", "eta")
"""The auxiliary loss weights in the order of the ``loss_weights`` key."""

PHYSINFORMER_TRAIN_DEFAULTS = {
    "batch_size": 32, "epochs": 50, "lr": 1e-4, "lr_mult": 10.0, "pct_start": 0.1, "div_factor": 25.0,
    "final_div_factor": 1e4, "weight_decay": 0.01, "betas": [0.9, 0.999], "clip": 1.0, "aux_lr_mult": 0.1,
    "best_k": 3, "steps_per_epoch": 0, "precision": "auto", "prior_folds": 5, "baseline": True, "nll_beta": 0.0,
}
"""fit-physinformer's training settings (config.json ``train``)."""

CRE_MM_SIZES = {"d_model": 128, "patch": 6, "seq_layers": 4, "seq_heads": 4, "fusion_layers": 6, "fusion_heads": 8,
                "dropout": 0.1, "mlp_hidden": 128, "cnn_filters": 64, "head_hidden": 64}
"""The mm-transformer's sizes (config.json ``model.mm``)."""


class Key:
    """One setting a config file may hold: its kind, its bounds and what it means.

    kind : "int", "float", "bool", "str", "ints" or "floats" (a list; ``length`` items if given)
    lo, hi : bounds (inclusive unless ``lo_open`` / ``hi_open``)
    choices : the allowed strings (kind "str")
    preset : True when the preset sets it (else the default is the family's table, or ``default``)
    """

    def __init__(self, kind, doc, lo=None, hi=None, lo_open=False, hi_open=False, choices=None, length=None,
                 preset=False, default=None):
        self.kind, self.doc, self.lo, self.hi, self.default = kind, doc, lo, hi, default
        self.lo_open, self.hi_open, self.choices, self.length, self.preset = lo_open, hi_open, choices, length, preset

    def describe(self):
        """The kind and range in words: ``integer >= 1``, ``number in [0, 1]``, ``huber or mse``."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return " or ".join(self.choices)
        base = "integer" if self.kind in ("int", "ints") else "number"
        if self.lo is not None and self.hi is not None:
            rng = f" in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            rng = f" {'>' if self.lo_open else '>='} {_num(self.lo)}"
        else:
            rng = ""
        if self.kind in ("ints", "floats"):
            n = f"{self.length} " if self.length else ""
            return f"list of {n}{base}s{rng}"
        return base + rng

    def check(self, value):
        """The value as config.json holds it; ValueError (the reason) when it does not fit."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if self.kind == "str":
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(f"expected {self.describe()}")
            return value
        if self.kind in ("ints", "floats"):
            if not isinstance(value, list) or not value or (self.length and len(value) != self.length):
                raise ValueError(f"expected a {self.describe()}")
            return [self._scalar(v, self.kind[:-1]) for v in value]
        return self._scalar(value, self.kind)

    def _scalar(self, v, kind):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected {'an integer' if kind == 'int' else 'a number'}, not {json.dumps(v)}")
        if kind == "int":
            if not isinstance(v, int):
                raise ValueError(f"expected an integer, not {v!r}")
        else:
            v = float(v)
            if not math.isfinite(v):
                raise ValueError("expected a finite number")
        low_bad = self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo)
        high_bad = self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi)
        if low_bad or high_bad:
            raise ValueError(f"{_num(v)} is out of range: expected {self.describe()}")
        return v


def _num(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def _int(doc, lo=None, **kw):
    return Key("int", doc, lo=lo, **kw)


def _pos(doc, **kw):
    return Key("float", doc, lo=0, lo_open=True, **kw)


def _nonneg(doc, **kw):
    return Key("float", doc, lo=0, **kw)


def _prob(doc, **kw):
    return Key("float", doc, lo=0, hi=1, **kw)


_BETAS = Key("floats", "AdamW's betas (the two moment decays).", lo=0, hi=1, hi_open=True, length=2)

PRECISION_KEY = Key("str", "Arithmetic of training (also --precision): auto (bf16 on a CUDA device that supports "
                    "it, else fp32), fp32, bf16, or fp16 (CUDA only, with a gradient scaler).",
                    choices=("auto", "fp32", "bf16", "fp16"))

CRE_KEYS = {
    "train": {
        "batch_size": _int("Sequences per step (also --batch-size).", 2, preset=True),
        "epochs": _int("Maximum epochs (also --epochs).", 1, preset=True),
        "min_epochs": _int("Never stop early before this epoch.", 1, preset=True),
        "patience": _int("Stop after this many epochs without a gain of min_delta.", 1, preset=True),
        "min_delta": _nonneg("Smallest gain of the mean validation score that counts."),
        "lr": _pos("Peak learning rate (AdamW); 5e-4 for the mm-transformer unless set.", preset=True),
        "betas": _BETAS,
        "eps": _pos("AdamW's epsilon."),
        "weight_decay": _nonneg("AdamW weight decay (not on biases, norms, weight-norm gains)."),
        "warmup_epochs": _int("Linear warm-up from lr/100, then cosine to lr/100.", 0, preset=True),
        "clip": _pos("Gradient norm clipping (per network of an ensemble)."),
        "huber_delta": _pos("Huber delta, in train-SD units."),
        "se_cap": _pos("Cap of the SE weights 1/(SE^2 + 1e-6)."),
        "task_weight_warmup": _int("Epochs of equal task weights before the inverse-variance EMA weights.", 0),
        "task_weight_ema": _prob("Decay of the moving average of each task's loss behind its weight.", hi_open=True),
        "task_weight_cap": _pos("A task's weight is at most this times the mean task weight."),
        "rc_prob": _prob("Reverse-complement augmentation probability (0: off)."),
        "rc_lambda": _nonneg("RC-consistency penalty weight (0: off)."),
        "shift": _int("Largest random shift (bp); vacated positions are N.", 0),
        "shift_prob": _prob("Probability that a training sequence is shifted."),
        "mask_prob": _prob("Per-base input masking probability.", preset=True),
        "best_k": _int("Best checkpoints kept.", 1),
        "tie_margin": _nonneg("Validation scores closer than this are a tie, broken by the MinGap correlation."),
        "kmer_folds": _int("Train folds over which the k-mer ridge penalty is cross-validated.", 2),
        "regression_loss": Key("str", "Loss of regression tasks.", choices=("huber", "mse")),
        "collapse_sd": _prob("Collapse guard: a task whose validation predictions vary less than this times its "
                             "targets' SD (and correlate below collapse_r) has collapsed (0: guard off)."),
        "collapse_r": _prob("Collapse guard: correlation below which a flat task counts."),
        "collapse_epochs": _int("Collapse guard: collapsed epochs in a row before stopping.", 1),
        "steps_per_epoch": _int("Optimisation steps per epoch: the first N batches of each epoch's shuffled order, "
                                "all rows when the split has fewer (0: every batch). For benchmarks and very large "
                                "tables.", 0),
        "precision": PRECISION_KEY,
    },
    "model": {
        "arch": Key("str", "Network (also --arch).", choices=("malinois", "resnet", "mm-transformer"), preset=True),
        "stem": _int("Filters of the first convolution.", 1, preset=True),
        "width": _int("Filters of the residual blocks.", 1, preset=True),
        "wide": _int("Filters of the wide multi-scale layer.", 1, preset=True),
        "res_blocks": _int("Residual blocks.", 0, preset=True),
        "head_hidden": Key("ints", "Hidden sizes of each task head.", lo=1, length=2, preset=True),
        "side_dropout": Key("float", "Dropout of the side-input (features, modalities) branch.", lo=0, hi=1,
                            hi_open=True, default=0.3),
        "norm": Key("str", "malinois backbone: weight-normalised convolutions (the malinois preset) or "
                           "convolutions followed by BatchNorm.", choices=("weight", "batch"), preset=True),
        "head_dropout": Key("floats", "Dropout after the first and second layer of each head (malinois "
                                      "preset: 0.3, 0.2).",
                            lo=0, hi=1, hi_open=True, length=2, preset=True),
        "kmer_prior": Key("bool", "Average the network's output with a k-mer (k = 1-6, both strands) ridge "
                                  "regression fitted on the train rows (false for the mm-transformer unless set).",
                          preset=True),
        "members": _int("Networks trained together and averaged (also --ensemble; 1 for the mm-transformer "
                        "unless set).", 1, hi=32, preset=True),
        "mm": {
            "d_model": _int("mm-transformer: model width.", 1),
            "patch": _int("mm-transformer: k-mer patch length.", 1),
            "seq_layers": _int("mm-transformer: sequence encoder layers.", 1),
            "seq_heads": _int("mm-transformer: sequence encoder attention heads.", 1),
            "fusion_layers": _int("mm-transformer: cross-modal fusion layers.", 1),
            "fusion_heads": _int("mm-transformer: fusion attention heads.", 1),
            "dropout": Key("float", "mm-transformer: dropout.", lo=0, hi=1, hi_open=True),
            "mlp_hidden": _int("mm-transformer: hidden size of an mlp modality branch.", 1),
            "cnn_filters": _int("mm-transformer: filters of a cnn modality branch.", 1),
            "head_hidden": _int("mm-transformer: hidden size of each task head.", 1),
        },
    },
}
"""fit-cre's config keys; ``model.mm`` is a table of its own (the mm-transformer only)."""

EP_KEYS = {
    "train": {
        "batch_size": _int("Query pairs per batch; every batch holds one cell line (also --batch-size).", 2,
                           preset=True),
        "support": _int("Pairs per support set in the training batches (also --support-size).", 1, preset=True),
        "epochs": _int("Maximum epochs (also --epochs).", 1, preset=True),
        "min_epochs": _int("Never stop early before this epoch.", 1),
        "patience": _int("Stop after this many epochs without a higher validation AUPR.", 1),
        "lr": _pos("Peak learning rate (AdamW).", preset=True),
        "betas": _BETAS,
        "weight_decay": _nonneg("AdamW weight decay (not on biases and energy scalars)."),
        "env_lr_scale": _pos("Learning rate of the environment stream (f_E', g_E and the env_filters stem) "
                             "relative to the rest.", preset=True),
        "eval_support": _int("Pairs per cell line whose mean environment feature is its z_E when pairs are "
                             "scored: validation, the --leave-one-cell-out test and predict's default "
                             "(a mean over more pairs is a less noisy z_E).", 1),
        "task_env": Key("str", "The z_E the task loss reads in a training batch: support, the mean e of the batch's "
                               "support set; prototype, the cell line's running mean of e (the prototype, as "
                               "noise-free as the eval_support z_E pairs are scored with), its gradient passed "
                               "to the support set's e.", choices=("support", "prototype"), preset=True),
        "enriched_filters": _int("Shared-stem filters that start as the 8-mers most enriched among the interacting "
                                 "train pairs' promoters (half) and enhancers (half), at most model.channels; "
                                 "0: all random.", 0, preset=True),
        "warmup_epochs": _int("Linear warm-up from lr/100, then cosine to lr/100.", 0),
        "clip": _pos("Gradient norm clipping."),
        "curriculum_epochs": _int("First epochs with f_E' and g_E frozen, R_E = 0 and lambda = 0.", 0),
        "environment": Key("bool", "Train the environment stream after the curriculum (false: the sequence-only "
                                   "reference model, the curriculum's state in every epoch; also --no-environment)."),
        "loss_weights": Key("floats", "Initial weights of the correlation, invariance, contrastive, sparsity and "
                                      "prototype losses (alpha, beta, gamma, delta, eta); each cap (alpha_max, ...) "
                                      "becomes twice its weight. Not written itself: config.json holds the ten.",
                            lo=0, length=5, preset=True),
        **{w: _nonneg(f"Initial weight of the {t} loss (after loss_weights).", preset=True)
           for w, t in zip(EP_LOSS_WEIGHTS, ("correlation", "invariance", "contrastive", "sparsity", "prototype"))},
        **{w + "_max": _nonneg(f"Largest weight of the {t} loss (after loss_weights).", preset=True)
           for w, t in zip(EP_LOSS_WEIGHTS, ("correlation", "invariance", "contrastive", "sparsity", "prototype"))},
        "weight_step": _nonneg("Growth of each loss weight per epoch after the curriculum, up to its cap."),
        "tau": _pos("Temperature of the hierarchical contrastive (InfoNCE) loss."),
        "mu": _prob("Momentum of the cell-line prototypes."),
        "contrast": _int("Pairs of other cell lines drawn per step for the contrastive loss.", 1),
        "grl_coeff": _nonneg("Gradient reversal coefficient of the invariance loss."),
        "corr_eps": _pos("Epsilon under the square root of the correlation loss."),
        "task_loss": Key("str", "immax: logistic loss with class-dependent margins (AdaptiveIMMAX); "
                                "bce: cross-entropy.", choices=("immax", "bce")),
        "margin": _nonneg("IMMAX margin of the interacting class (the other class gets "
                          "margin * (n+/n-)^margin_power)."),
        "margin_power": _nonneg("Exponent of the class-count ratio in the IMMAX margins."),
        "rc_prob": _prob("Probability of reverse-complementing each enhancer and each promoter in training."),
        "precision": PRECISION_KEY,
    },
    "model": {
        "channels": _int("Filters of the shared sequence tower's stem (and of its blocks).", 1, preset=True),
        "kernel": _int("Stem kernel width.", 1, preset=True),
        "blocks": _int("Residual blocks of the sequence tower.", 0, preset=True),
        "pool": _int("Pooling width of the sequence tower.", 1, preset=True),
        "d": _int("Size of z_I and z_E.", 1, preset=True),
        "env_hidden": _int("Hidden size of the environment stream (0: one linear layer, so z_E is a linear map of "
                           "the support set's mean detector responses).", 0, preset=True),
        "modules": _int("Energy channels K (U_I and R_E are K-vectors; 1: scalar U_I and R_E).", 1,
                        preset=True),
        "dropout": Key("float", "Dropout.", lo=0, hi=1, hi_open=True, preset=True),
        "strands": _int("Strands read (1: forward; 2: both).", 1, hi=2, preset=True),
        "env_input": Key("str", "What the environment stream reads.", choices=("enhancer", "pair"), preset=True),
        "env_filters": _int("0: f_E' reads the shared stem's features; N: a stem of N filters of its "
                            "own, trained by the environment's losses only.", 0, preset=True),
        "energy": Key("str", "interaction: sigma(sum_k (U_k - R_k + lambda U_k R_k) / T); linear: "
                             "sigma((U + U Lambda_U z_E + lambda_R z_E) / T).",
                      choices=("interaction", "linear"), preset=True),
        "clamp_temperature": Key("bool", "Clamp T = softplus(t) to [0.5, 2].", default=False),
        "pair_form": Key("str", "How z_I joins the two sequences: product, softplus(W_E h_E) * softplus(W_P h_P); "
                                "bilinear, softplus(W (h_E outer h_P)), every enhancer feature with every promoter "
                                "feature; conjunction, softplus(W_E h_E) * softplus(W_M h_E) * softplus(W_P h_P), two "
                                "enhancer terms (e.g. a motif and a marker) with a promoter term.",
                         choices=("product", "bilinear", "conjunction"), preset=True),
        "stem_activation": Key("str", "The shared stem's responses before its global max pooling: relu, or linear "
                                      "(as they are, so every filter passes a gradient at its best position and "
                                      "none can die).", choices=("relu", "linear"), preset=True),
        "stem_pooling": Key("str", "The shared stem's global pooling: max, or logsumexp (log of the mean of "
                                   "exp(response) over positions: a smooth maximum through which every position "
                                   "passes a share of the gradient).", choices=("max", "logsumexp"), preset=True),
        "stem_temperature": _pos("Temperature t of the shared stem's logsumexp pooling, t log(mean exp(response / "
                                 "t)): the smaller, the closer to the maximum.", preset=True),
        "stem_norm": Key("bool", "Batch-normalise the stem's responses (both strands together) before the ReLU.",
                         preset=True),
        "distance": Key("bool", "Add a learned function of log10(enhancer-promoter distance + 1) to the logit (off "
                                "when no train row has a distance); the distance is then read wherever the model "
                                "scores pairs.", preset=True),
    },
}
"""fit-ep's config keys."""

_PI_MODEL = {
    "embed": _int("PhysInformer: PWM-stem embedding size.", 1, preset=True),
    "channels": Key("ints", "PhysInformer: filters of the three stem convolutions.", lo=1, length=3, preset=True),
    "kernels": Key("ints", "PhysInformer: kernel widths of the three stem convolutions.", lo=1, length=3,
                   preset=True),
    "d_state": _int("PhysInformer: SSM state size.", 1, preset=True),
    "ssm_layers": _int("PhysInformer: SSM layers.", 1, preset=True),
    "pyramid_hidden": _int("PhysInformer: hidden size of the feature pyramid.", 1, preset=True),
    "attn_heads": _int("PhysInformer: attention-pooling heads.", 1, preset=True),
    "head_hidden": _int("PhysInformer: hidden size of each family head.", 1, preset=True),
    "attn_dropout": Key("float", "PhysInformer: dropout on the attention weights of the pyramid's global path (0 "
                                 "lets a CPU use its fused attention kernels).", lo=0, hi=1, hi_open=True, preset=True),
}
_PRIOR_MODEL = {
    "physics_prior": Key("bool", "Add the physics prior, a ridge regression of every descriptor on k-mer "
                                 "frequencies, the motifs' site statistics and parameter-track statistics, fitted "
                                 "on the train rows, to the network's output (the network learns the rest).", preset=True),
    "prior_kmax": _int("Longest k-mer of the physics prior (0: none; TileFormer's presets use none).", 0, preset=True),
    "prior_tracks": Key("bool", "Give the physics prior the statistics of biophysical parameter "
                                "tracks along the sequence (nearest-neighbour thermodynamics, step geometry and "
                                "stiffness energies, DNAshape, bendability: spreads, percentiles, windowed extrema, "
                                "autocorrelations, curvature, periodicity, windowed base entropy; for TileFormer's psi "
                                "targets also the minor-groove electrostatic potential).", preset=True),
}
"""Physics-prior keys of both architectures."""
_TF_MODEL = {
    "d_model": _int("TileFormer: model width.", 1, preset=True),
    "n_heads": _int("TileFormer: attention heads.", 1, preset=True),
    "n_layers": _int("TileFormer: transformer layers.", 1, preset=True),
    "d_ff": _int("TileFormer: feed-forward size.", 1, preset=True),
}
PHYSINFORMER_KEYS = {
    "train": {
        "batch_size": _int("Sequences per step (also --batch-size).", 2, preset=True),
        "epochs": _int("Epochs; the one-cycle schedule spans all of them (also --epochs).", 1, preset=True),
        "lr": _pos("Base learning rate; the one-cycle peak is lr_mult times this.", preset=True),
        "lr_mult": _pos("Peak learning rate as a multiple of lr."),
        "pct_start": _prob("Fraction of the steps spent warming up to the peak.", lo_open=True, hi_open=True),
        "div_factor": _pos("The schedule starts at peak / div_factor."),
        "final_div_factor": _pos("The schedule ends at peak / div_factor / final_div_factor."),
        "weight_decay": _nonneg("AdamW weight decay (not on biases, norms, log-variances)."),
        "betas": _BETAS,
        "clip": _pos("Gradient norm clipping."),
        "aux_lr_mult": _pos("Auxiliary heads' learning rate as a multiple of the main schedule's."),
        "best_k": _int("Best checkpoints kept.", 1),
        "steps_per_epoch": _int("Optimisation steps per epoch: the first N batches of each epoch's shuffled order "
                                "(0: every batch). For benchmarks and very large tables.", 0),
        "precision": PRECISION_KEY,
        "nll_beta": Key("float", "β of the β-NLL loss (0: the plain Gaussian NLL; 1: every descriptor's mean gets "
                                 "the squared-error gradient, however well it is already predicted).", lo=0, hi=1),
        "prior_folds": _int("Cross-validation folds that choose the physics prior's ridge penalties.", 2),
        "baseline": Key("bool", "Fit the k-mer ridge baseline on the same train rows at the end and report its "
                                "validation figures beside the model's (baseline.json)."),
    },
    "model": {
        **_PI_MODEL,
        **_PRIOR_MODEL,
        **_TF_MODEL,
        "dropout": Key("float", "Dropout.", lo=0, hi=1, hi_open=True, preset=True),
        "aux_embed": _int("Auxiliary head A: embedding size.", 1, preset=True),
        "aux_channels": Key("ints", "Auxiliary head A: filters of its two convolutions.", lo=1, length=2, preset=True),
        "aux_hidden": _int("Auxiliary heads: hidden size.", 1, preset=True),
        "grad_checkpoint": Key("bool", "Gradient checkpointing of the stem and SSM layers (less memory, "
                                       "also --grad-checkpoint).", default=False),
    },
}
"""fit-physinformer's config keys: ``PhysInformer:`` keys for --arch physinformer, ``TileFormer:``
keys for --arch tileformer."""

PHYSINFORMER_DATA_DEFAULTS = {
    "augment": 0, "augment_mix": {"mutate": 0.4, "shuffle": 0.4, "genome": 0.2}, "mutate_fraction": 0.1,
    "prune": True, "leak_near": "hamming", "leak_max_mismatch": 2, "leak_kmer_k": 12, "leak_kmer_threshold": 0.5,
}
"""fit-physinformer's data settings (config.json ``data``)."""

_PDD = PHYSINFORMER_DATA_DEFAULTS
PHYSINFORMER_KEYS["data"] = {
    "augment": _int("Training sequences added to the train rows of a plain sequence table: mutated copies, "
                    "dinucleotide shuffles, genome windows (also --augment).", 0, default=_PDD["augment"]),
    "augment_mix": {
        "mutate": _nonneg("Weight of mutated copies of train sequences.", default=_PDD["augment_mix"]["mutate"]),
        "shuffle": _nonneg("Weight of dinucleotide shuffles of train sequences.",
                           default=_PDD["augment_mix"]["shuffle"]),
        "genome": _nonneg("Weight of genome windows (only with --genome; else the others share its part).",
                          default=_PDD["augment_mix"]["genome"]),
    },
    "mutate_fraction": _prob("Share of a mutated copy's positions substituted.", lo_open=True,
                             default=_PDD["mutate_fraction"]),
    "prune": Key("bool", "Drop the descriptors that repeat an earlier one on the train rows (descfeat --prune's "
                         "rule).", default=_PDD["prune"]),
    "leak_near": Key("str", "Near-duplicates of val and test rows kept out of the augmented rows, as dgsplit "
                            "--near groups them (none: identical or reverse complement only).",
                     choices=("none", "hamming", "kmer"), default=_PDD["leak_near"]),
    "leak_max_mismatch": _int("leak_near hamming: substitutions (dgsplit --max-mismatch).", 0, hi=10,
                              default=_PDD["leak_max_mismatch"]),
    "leak_kmer_k": _int("leak_near kmer: k (dgsplit --kmer-k).", 4, hi=31, default=_PDD["leak_kmer_k"]),
    "leak_kmer_threshold": _prob("leak_near kmer: Jaccard threshold (dgsplit --kmer-threshold).", lo_open=True,
                                 default=_PDD["leak_kmer_threshold"]),
}

PHYSINFORMER_ONLY = tuple(_PI_MODEL)
TILEFORMER_ONLY = tuple(_TF_MODEL)

KEYS = {"fit-cre": CRE_KEYS, "fit-ep": EP_KEYS, "fit-physinformer": PHYSINFORMER_KEYS}
DEFAULTS = {"fit-cre": CRE_TRAIN_DEFAULTS, "fit-ep": EP_TRAIN_DEFAULTS, "fit-physinformer": PHYSINFORMER_TRAIN_DEFAULTS}


def read_config_file(path, command):
    """The settings of a ``--config`` file, checked against ``command``'s keys.

    Parameters
    ----------
    path : str
        A TOML file (``[train]`` and ``[model]`` tables) or a JSON file (``{"train": {...},
        "model": {...}}``); told apart by the first non-blank character (``{`` is JSON).
    command : str
        ``fit-cre``, ``fit-ep`` or ``fit-physinformer``.

    Returns
    -------
    dict ``{"train": {...}, "model": {...}}`` (both present, possibly empty) with every value
    as config.json holds it (integers given for numbers become floats).

    Raises
    ------
    ConfigError naming the file (and the line where the key is found) for a file that
    cannot be read or parsed, an unknown section or key, or a value of the wrong kind.
    """
    keys = KEYS[command]
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file ({exc.strerror or exc})", file=path,
                          hint="give --config a TOML or JSON file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the config file is not UTF-8 text", file=path,
                          hint="give --config a TOML or JSON file") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON ({exc.msg})", file=path, line=exc.lineno,
                              hint="check the file with a JSON validator") from None
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML or JSON ({exc})", file=path,
                              hint="a config file holds [train] and [model] tables of key = value lines") from None
    if not isinstance(data, dict):
        raise ConfigError("a config file holds a table (TOML) or an object (JSON)", file=path,
                          hint='e.g. {"train": {"lr": 0.001}}')
    out = {k: {} for k in keys}
    for section, values in data.items():
        if section not in keys:
            raise ConfigError(f"unknown section '{section}'", file=path, line=_line_of(text, section),
                              hint=f"a {command} config file holds only the tables {', '.join('[' + k + ']' for k in keys)}; its keys are listed "
                                   f"in '{command} --help'")
        if not isinstance(values, dict):
            raise ConfigError(f"'{section}' is not a table of settings", file=path, line=_line_of(text, section),
                              hint=f"write [{section}] and then key = value lines")
        out[section] = _check_table(values, keys[section], section, path, text, command)
    return out


def _check_table(values, keys, prefix, path, text, command):
    out = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        spec = keys.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, [k for k in keys], n=1)
            raise ConfigError(f"unknown key '{key}' in [{prefix}]", file=path, line=_line_of(text, key),
                              hint=(f"did you mean '{close[0]}'? " if close else "")
                              + f"Every key of {command}'s [{prefix}] is listed in '{command} --help'")
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"'{name}' is not a table of settings", file=path, line=_line_of(text, key),
                                  hint=f"write [{name}] and then key = value lines")
            out[key] = _check_table(value, spec, name, path, text, command)
            continue
        try:
            out[key] = spec.check(value)
        except ValueError as exc:
            raise ConfigError(f"'{name}': {exc}", file=path, line=_line_of(text, key),
                              hint=f"{key}: {spec.doc}") from None
    return out


def _line_of(text, key):
    """The 1-based line where ``key`` is set (``key =``, ``"key":`` or ``[key]``), when exactly one
    line does; else None."""
    import re

    k = re.escape(key)
    pat = re.compile(rf'^\s*(?:"{k}"\s*:|{k}\s*=|\[\s*(?:[\w.-]+\.)?{k}\s*\])|[{{,]\s*"{k}"\s*:')
    hits = [i + 1 for i, ln in enumerate(text.splitlines()) if pat.search(ln)]
    return hits[0] if len(hits) == 1 else None


def describe_keys(command):
    """(key, text) for every config key of ``command``, for --help and the man page:
    ``train.lr`` -> ``number > 0. Peak learning rate (AdamW). Default: the preset's.``"""
    defaults = DEFAULTS[command]
    rows = []

    def walk(table, prefix):
        for key, spec in table.items():
            if isinstance(spec, dict):
                walk(spec, f"{prefix}.{key}")
                continue
            name = f"{prefix}.{key}"
            if prefix == "train" and key in defaults:
                d = defaults[key]
                default = "the preset's" if spec.preset else json.dumps(d)
            elif prefix == "model.mm":
                default = json.dumps(CRE_MM_SIZES[key])
            else:
                default = "the preset's" if spec.preset else json.dumps(spec.default)
            rows.append((name, f"{spec.describe()}. {spec.doc} Default: {default}."))

    walk(KEYS[command], "")
    return [(name.lstrip("."), text) for name, text in rows]


def config_epilog(command):
    """The --help epilog: how a config file looks and every key's name (meanings in the man page)."""
    names = {}
    for name, _ in describe_keys(command):
        section, _, key = name.rpartition(".")
        names.setdefault(section, []).append(key)
    lines = ["Settings (--config FILE, TOML or JSON; a key given there overrides the preset, a flag overrides "
             "both; unknown keys are refused; the resolved values are written to DIR/config.json; "
             f"each key's meaning, range and default: man {command}):", ""]
    for section, keys in names.items():
        lines += [f"[{section}] " + ", ".join(keys), ""]
    lines += ["\b", "Example file (TOML):", "  [train]", "  lr = 0.001", "  patience = 5"]
    return "\n".join(lines)

