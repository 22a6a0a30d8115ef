"""Target types and transforms of fit-cre, pure.

Task types
----------
``regression``
    Real values; the model predicts the transformed target, loss Huber (or MSE).
    Default transform: ``zscore`` (train mean and SD).
``binary``
    0/1 labels; the model predicts a logit, loss binary cross-entropy with logits and a
    positive-class weight n_negative / n_positive (train split). ``predict`` writes the
    probability. No transform.
``count``
    Non-negative integers; the model predicts a log rate, loss Poisson negative
    log-likelihood. ``predict`` writes the expected count. No transform.

Transforms (regression only), applied in the order given, fitted on the train split,
stored in normalization.json and inverted by ``predict``:

``log1p``  log(1 + x), for x > -1 (inverse expm1)
``asinh``  asinh(x), log-like for |x| >> 1, defined everywhere (inverse sinh)
``rank``   the train empirical CDF (mid-ranks, linear between at most 1,001 quantiles)
           into (0, 1); its inverse maps back through the same quantiles (so values
           beyond the train range are clipped to it)
``zscore`` (x - mean) / SD of the train values
``none``   nothing (the raw values: counts in the thousands give a loss in the thousands)

Checks (:func:`check`): a constant target, a "binary" column that is not 0/1, a
"count" column that is not non-negative integers, and a regression target that holds
only 0 and 1 (without an explicit ``--task-type``) are refused with the fix in the
message; a regression target on an absurd scale (max |x| > 1e6, or non-negative
with max / median > 1e4) without log1p, asinh or rank is warned about.
"""

import math

import numpy as np

from ..errors import ConfigError, InputError

TASK_TYPES = ("regression", "binary", "count")
TRANSFORMS = ("none", "log1p", "asinh", "rank", "zscore")
DEFAULT_TRANSFORM = {"regression": ["zscore"], "binary": [], "count": []}
RANK_POINTS = 1001


def parse_assignments(items, flag, allowed, targets, split_values=False):
    """``COL=VALUE`` options (repeatable; VALUE may be comma-separated when
    ``split_values``) -> {col: value or [values]}; every value must be in ``allowed``
    and every column a target."""
    out = {}
    for item in items or ():
        col, eq, val = item.partition("=")
        col, val = col.strip(), val.strip()
        if not eq or not col or not val:
            raise ConfigError(f"{flag} '{item}' is not COL=VALUE", hint=f"e.g. {flag} {targets[0] if targets else 'COL'}="
                              f"{allowed[-1]}")
        if col not in targets:
            raise ConfigError(f"{flag}: '{col}' is not a target", hint=f"targets are: {', '.join(targets)}")
        vals = [v.strip() for v in val.split(",")] if split_values else [val]
        bad = [v for v in vals if v not in allowed]
        if bad:
            raise ConfigError(f"{flag} {col}: unknown '{bad[0]}'", hint=f"choose from {', '.join(allowed)}")
        out[col] = vals if split_values else vals[0]
    return out


def check(values, name, task_type, chain, explicit, file=None):
    """Refuse targets that cannot train as asked; return warnings (strings).

    values : train-split values (NaN = missing); chain : the transforms to apply;
    explicit : whether the task type was given by the user.
    """
    v = values[np.isfinite(values)]
    if v.size < 3:
        raise InputError(f"target '{name}' has fewer than 3 values in the train split", file=file, column=name)
    if not np.ptp(v) > 0:
        raise InputError(f"target '{name}' is constant in the train split ({v[0]:g})", file=file, column=name,
                         hint="drop it from --targets")
    warnings = []
    is01 = bool(np.all((v == 0) | (v == 1)))
    if task_type == "binary":
        if not is01:
            raise InputError(f"target '{name}' is binary but holds values other than 0 and 1 (e.g. "
                             f"{v[(v != 0) & (v != 1)][0]:g})", file=file, column=name,
                             hint=f"recode it as 0/1, or use --task-type {name}=regression")
    elif task_type == "count":
        if np.any(v < 0) or np.any(np.abs(v - np.round(v)) > 1e-6):
            raise InputError(f"target '{name}' is a count but holds negative or non-integer values", file=file,
                             column=name, hint=f"use --task-type {name}=regression with --target-transform "
                                               f"{name}=log1p,zscore")
    else:
        if is01:
            msg = f"target '{name}' holds only 0 and 1"
            if not explicit:
                raise InputError(msg + ": a regression head on 0/1 labels trains badly", file=file,
                                 column=name, hint=f"give --task-type {name}=binary (or {name}=regression to "
                                                   "insist)")
            warnings.append(msg + f"; trained as a regression as asked (--task-type {name}=binary fits it)")
        if not any(t in chain for t in ("log1p", "asinh", "rank")):
            big = float(np.max(np.abs(v)))
            med = float(np.median(np.abs(v)))
            if big > 1e6 or (v.min() >= 0 and big > 1e4 * max(med, 1e-12) and big > 100):
                warnings.append(f"target '{name}' spans {v.min():.4g} to {v.max():.4g} (median {np.median(v):.4g}): "
                                f"a few rows will dominate the loss; use --target-transform {name}=log1p,zscore "
                                "(or asinh / rank)")
    return warnings


def fit(values, chain):
    """Fit a transform chain on train values; returns its parameters (JSON-able)."""
    x = np.asarray(values, dtype=np.float64)
    steps = []
    for t in chain:
        p = {"name": t}
        if t == "rank":
            ok = np.sort(x[np.isfinite(x)])
            q = np.linspace(0.0, 1.0, min(RANK_POINTS, ok.size))
            xs = np.quantile(ok, q)
            xs, first = np.unique(xs, return_index=True)
            # mid-rank CDF of each quantile value among the train values
            lo = np.searchsorted(ok, xs, side="left")
            hi = np.searchsorted(ok, xs, side="right")
            p.update({"x": xs.tolist(), "p": ((lo + hi) / (2.0 * ok.size)).tolist()})
        elif t == "zscore":
            ok = x[np.isfinite(x)]
            p.update({"mean": float(ok.mean()), "sd": float(ok.std())})
            if not p["sd"] > 0:
                p["sd"] = 1.0
        steps.append(p)
        x = _step(x, p, inverse=False)
    return {"chain": list(chain), "steps": steps}


def _step(x, p, inverse):
    t = p["name"]
    with np.errstate(invalid="ignore", divide="ignore"):
        if t == "log1p":
            return np.expm1(x) if inverse else np.where(x > -1, np.log1p(np.maximum(x, -1 + 1e-300)), np.nan)
        if t == "asinh":
            return np.sinh(x) if inverse else np.arcsinh(x)
        if t == "rank":
            xs, ps = np.asarray(p["x"]), np.asarray(p["p"])
            return np.interp(x, ps, xs) if inverse else np.where(np.isfinite(x), np.interp(x, xs, ps), np.nan)
        if t == "zscore":
            return x * p["sd"] + p["mean"] if inverse else (x - p["mean"]) / p["sd"]
    return x


def params_of(entry):
    """The fitted chain of a normalization.json target entry (model directories of
    earlier versions stored only a z-score's mean and SD)."""
    if "transform" in entry:
        return entry["transform"]
    return {"chain": ["zscore"], "steps": [{"name": "zscore", "mean": entry["mean"], "sd": entry["sd"]}]}


def forward(values, params):
    """Apply a fitted chain (NaN stays NaN)."""
    x = np.asarray(values, dtype=np.float64)
    for p in params["steps"]:
        x = _step(x, p, inverse=False)
    return x


def inverse(values, params):
    """Undo a fitted chain (model space -> original units)."""
    x = np.asarray(values, dtype=np.float64)
    for p in reversed(params["steps"]):
        x = _step(x, p, inverse=True)
    return x


def bad_for_chain(values, chain):
    """Indices of finite values a chain cannot take (log1p of x <= -1)."""
    if "log1p" not in chain:
        return np.zeros(0, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    # only the values log1p actually sees (after the steps before it) matter; before log1p
    # there can only be asinh/zscore/rank, which the user ordered: check the raw values
    # when log1p comes first, which is the only sensible order
    return np.flatnonzero(np.isfinite(x) & (x <= -1)) if chain[0] == "log1p" else np.zeros(0, dtype=np.int64)


def to_output(pred, task_type, params=None):
    """Model outputs of one task -> what ``predict`` writes: the de-transformed value
    (regression), the probability (binary) or the expected count (count)."""
    pred = np.asarray(pred, dtype=np.float64)
    if task_type == "binary":
        return 1.0 / (1.0 + np.exp(-pred))
    if task_type == "count":
        return np.exp(np.minimum(pred, 80.0))
    return inverse(pred, params) if params else pred


def binary_scores(score, label):
    """(AUROC, AUPR) of scores against 0/1 labels over finite pairs (evalboot's
    definitions, toolkit.evaluate.metrics.Binary); NaN without both classes."""
    from ..evaluate.metrics import Binary

    ok = np.isfinite(score) & np.isfinite(label)
    y = label[ok]
    if not ok.any() or y.min() == y.max():
        return math.nan, math.nan
    m = Binary(y, score[ok]).compute(np.ones((1, int(ok.sum()))))
    return float(m["auroc"][0]), float(m["aupr"][0])
