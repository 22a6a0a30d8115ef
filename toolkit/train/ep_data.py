"""fit-ep's run on a split pair table: the train and val pairs read and encoded (sequences, or
windows of a genome around coordinates), the resolved configuration, and the distance and
region-propensity baselines fitted on the same rows. Leave-one-cell-out is
toolkit.train.ep_loco.

No printing: messages go through the command's ``log`` object (``info``, ``warn``, ``detail``);
failures are toolkit.errors exceptions.
"""

from . import prepare as prep
from .presets import EP_LOSS_WEIGHTS
from .presets import EP_TRAIN_DEFAULTS as _DEFAULTS

SAME_DATA = "resume with the same input table (and genome)"
"""What to do when a resumed run's rows differ from those it started with."""


def fit(input, out_dir, settings, dev, resume, no_baseline, log):
    """Train one enhancer-promoter model on the train and val pairs of a split table into the
    model directory ``out_dir`` (config.json, normalization.json, the trainer's files and,
    rank 0 unless ``no_baseline``, baseline.json).

    ``settings``: fit-ep's data options, preset, --config file, seed and training flags
    (see toolkit.cli.fit_ep); ``log``: the command's log object.
    """
    import os

    from . import dist
    from . import ep as trainer
    from . import modeldir as MD

    group = dist.group()
    config, _ = MD.open_run(out_dir, "ep", resume, lock=group.main)
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    if config is not None:
        settings = _settings_from_config(config, settings)
    data = load_split(input, settings, config)
    if config is None:
        config = resolve_config(data, settings, dev)
        if group.main:
            prep.write_run(out_dir, config, data["normalization"])
    else:
        prep.check_same_data(config, data, SAME_DATA)
    log.info(f"fit-ep: {data['n']['train']:,} train, {data['n']['val']:,} val pairs "
             f"({data['n']['test']:,} test and {data['n']['excluded']:,} excluded rows not read); "
             f"{len(config['cells'])} training cell line(s): {', '.join(config['cells'])}; train prior "
             f"{data['normalization']['train_prior']:.4f}; {config['data']['layout']}, windows "
             f"{config['data']['lengths']['enhancer']}/{config['data']['lengths']['promoter']} bp; preset "
             f"{config['preset']}, energy {config['model']['energy']} (K = {config['model']['modules']}), distance term "
             f"{'on' if config['model'].get('distance') else 'off'}, device "
             f"{dev}" + (", resuming" if resume else "")
             + (f"; {group.world} processes (DistributedDataParallel)" if group.active else ""))
    result = trainer.train(config, data["train"], data["val"], out_dir, dev, log=log.info, resume=resume)
    best = result["best"]
    log.info(f"fit-ep: {result['stopped']} after {result['epochs']} epochs; best epoch {best['epoch']}: val AUPR "
             f"{best['val_aupr']:.4f} (prior {data['val_prior']:.4f}), AUROC {best['val_auroc']:.4f}; threshold "
             f"{best['threshold']:.4g} (val F1 {best['val_f1']:.3f}); model in {out_dir}")
    if not no_baseline and group.main:
        base = _baselines(data["aux"]["train"], data["aux"]["val"])
        MD.write_json(os.path.join(out_dir, "baseline.json"), _clean(base))
        log.info("fit-ep: baselines on the same rows: " + "; ".join(
            f"{k} val AUPR {v['val_aupr']:.4f}" if "val_aupr" in v else f"{k}: {v['note']}"
            for k, v in base.items() if isinstance(v, dict)))


def _settings_from_config(config, given):
    """On --resume the data settings of the run (the flags given now are ignored)."""
    d = config["data"]
    return {**given, "genome": d["genome"] if given["genome"] is None else given["genome"],
            "lengths": dict(d["lengths"]), "clip": d["clip"], "columns": dict(d["columns"])}


def layout_args(settings, need_split):
    c = settings["columns"]
    return {"enhancer_col": c["enhancer"], "promoter_col": c["promoter"], "cell_col": c["cell"],
            "label_col": c["label"], "distance_col": c["distance"], "need_label": True, "need_split": need_split,
            "genome": settings["genome"]}


def encode_rows(rows, layout, settings, lengths=None):
    """Labels, cells, distances, region keys and sequences of some rows (checked in that
    order: sequences first, so that an empty sequence is named before anything else)."""
    from ..io import pairs as P

    seqs = P.sequences(rows, layout, settings["genome"], lengths or settings["lengths"], settings["clip"])
    y = P.labels(rows, layout)
    cells = P.cells(rows, layout)
    dist = P.distances(rows, layout)
    keys = _region_keys(rows, layout, seqs)
    return {"seqs": seqs, "y": y, "cells": cells, "distance": dist, "keys": keys, "ids": rows.ids,
            "lines": rows.lines}


def _region_keys(rows, layout, seqs):
    """Region identity for the propensity baseline: where the table has coordinates, the
    5-kb bin of the element's centre (toolkit.models.ep_baselines.region_keys, so that
    overlapping windows of two cell lines count as one region); else the sequence itself."""
    import numpy as np

    from ..io.pairs import integer_column
    from ..models.ep_baselines import region_keys

    out = {}
    for el in ("enhancer", "promoter"):
        if el in layout.coords:
            c, s, e = layout.coords[el]
            out[el] = region_keys(rows.df[c].str.strip().to_numpy(dtype=object), integer_column(rows, s),
                                   integer_column(rows, e))
        else:
            out[el] = np.asarray(seqs[el], dtype=object)
    return out


def _split_of(aux, cells_list, lengths):
    from . import data as D
    from .ep import PairSplit

    lut = {c: i for i, c in enumerate(cells_list)}
    idx = [lut.get(c, -1) for c in aux["cells"]]
    return PairSplit(D.encode(aux["seqs"]["enhancer"], lengths["enhancer"]),
                     D.encode(aux["seqs"]["promoter"], lengths["promoter"]), aux["y"], aux["cells"], idx,
                     aux["distance"])


def _check_classes(aux, which, name, layout):
    from ..errors import InputError

    y = aux["y"]
    if y.sum() == 0 or y.sum() == len(y):
        cls = "interacting (label 1)" if y.sum() == 0 else "non-interacting (label 0)"
        raise InputError(f"the {which} rows hold no {cls} pair", file=name, column=layout.label,
                         hint="both classes are needed to train and to compute AUPR; check the split")


def load_split(input, settings, config):
    """Read the train and val rows of a split pair table (test and excluded rows unseen)."""
    import numpy as np

    from ..errors import InputError
    from ..io import pairs as P
    from ..io.streams import display_name
    from .ep import immax_margins

    layout, rows, dropped = P.read_pairs(input, layout_args(settings, need_split=True), keep=("train", "val"))
    name = display_name(input)
    for k in ("train", "val"):
        if rows[k] is None:
            raise InputError(f"no '{k}' rows", file=name, column="split",
                             hint="dgsplit writes train, val and test rows (dgsplit pairs.csv --holdout cell=K562 "
                                  "--holdout-chrom), or use --leave-one-cell-out")
    lengths = config["data"]["lengths"] if config is not None else window_lengths(settings, layout)
    aux = {k: encode_rows(rows[k], layout, settings, lengths) for k in ("train", "val")}
    if config is None:
        lengths = settle_lengths(lengths, aux["train"]["seqs"])
    _check_classes(aux["train"], "train", name, layout)
    _check_classes(aux["val"], "val", name, layout)
    cells_list = sorted(set(aux["train"]["cells"].tolist())) if config is None else list(config["cells"])
    splits = {k: _split_of(aux[k], cells_list, lengths) for k in ("train", "val")}
    y = aux["train"]["y"]
    margins = immax_margins(float(y.sum()), float(len(y) - y.sum()))
    norm = {"train_positives": int(y.sum()), "train_negatives": int(len(y) - y.sum()),
            "train_prior": float(y.mean()), "immax_margins_at_margin_1": {"positive": margins[0],
                                                                          "negative": margins[1]},
            "note": "class counts of the train rows (the IMMAX margins follow them); no feature scalers"}
    return {"train": splits["train"], "val": splits["val"], "aux": aux, "layout": layout, "lengths": lengths,
            "cells": cells_list, "normalization": norm, "val_prior": float(np.mean(aux["val"]["y"])),
            "n": {"train": len(y), "val": len(aux["val"]["y"]), "test": dropped.get("test", 0),
                  "excluded": dropped.get("excluded", 0)},
            "data_sha1": data_sha1(splits, aux), "input": name, "distance_span": distance_span(aux["train"])}


def distance_span(aux):
    """[lo, hi]: log10(distance + 1) of the nearest and the farthest of these rows' distances
    (the distance term is flat beyond them), or None when no row has one."""
    import numpy as np

    d = aux["distance"]
    d = d[np.isfinite(d)] if d is not None else np.zeros(0)
    return [float(np.log10(d.min() + 1)), float(np.log10(d.max() + 1))] if len(d) else None


def data_sha1(splits, aux):
    """Hash of the train and val rows as the model reads them: sequences, labels, cell lines
    and distances."""
    import hashlib

    h = hashlib.sha1()
    for k in ("train", "val"):
        h.update(splits[k].e.numpy().tobytes())
        h.update(splits[k].p.numpy().tobytes())
        h.update(aux[k]["y"].tobytes())
        h.update("\t".join(aux[k]["cells"].tolist()).encode())
        if splits[k].dist.isfinite().any():
            h.update(splits[k].dist.numpy().tobytes())
    return h.hexdigest()


def window_lengths(settings, layout):
    """Window lengths for coordinates (given, else 3,000 / 2,000); for sequences the given
    lengths or None (settled on the train sequences by :func:`settle_lengths`)."""
    from ..io.pairs import DEFAULT_WINDOWS

    given = settings["lengths"]
    if layout.kind == "coordinates":
        return {el: given.get(el) or DEFAULT_WINDOWS[el] for el in ("enhancer", "promoter")}
    return dict(given)


def settle_lengths(lengths, train_seqs):
    """Lengths still None become the longest train sequence of that element."""
    return {el: (lengths.get(el) or max(len(s) for s in train_seqs[el])) for el in ("enhancer", "promoter")}


def resolve_config(data, settings, dev, extra=None):
    """The resolved configuration: defaults < preset < the --config file < the flags."""
    import os

    from .. import __version__
    from ..models.ep import PRESETS

    preset = settings["preset"]
    if preset == "auto":
        preset = "full" if dev.type == "cuda" else "cpu"
    p = PRESETS[preset]
    file_train = dict(settings["file"]["train"])
    train = dict(_DEFAULTS)
    for key in ("batch_size", "support", "epochs", "lr", "env_lr_scale", "enriched_filters", "task_env"):
        train[key] = p[key]
    for k, v in zip(EP_LOSS_WEIGHTS, file_train.pop("loss_weights", p["loss_weights"])):
        train[k], train[k + "_max"] = v, 2 * v
    train.update(file_train)
    train.update({k: v for k, v in settings["flags"].items() if v is not None})
    model = {k: p[k] for k in ("channels", "kernel", "blocks", "pool", "d", "env_hidden", "modules",
                               "dropout", "strands", "env_input", "env_filters", "energy", "pair_form", "stem_norm")}
    for key in ("stem_activation", "stem_pooling", "stem_temperature"):
        model[key] = p[key]
    model["clamp_temperature"] = False
    model["distance"] = bool(p.get("distance", False))
    model.update(settings["file"]["model"])
    if model["distance"] and data.get("distance_span") is None:
        model["distance"] = False       # no train row has a distance: the model reads the sequences only
    if model["distance"]:
        model["distance_span"] = data["distance_span"]
    layout = data["layout"]
    cols = {"enhancer": layout.seq.get("enhancer"), "promoter": layout.seq.get("promoter"), "cell": layout.cell,
            "label": layout.label, "distance": layout.distance}
    genome = settings["genome"]
    cfg = {"kind": "ep", "toolkit_version": __version__, "targets": [layout.label], "cells": data["cells"],
           "preset": preset, "seed": settings["seed"], "model": model, "train": train,
           "data": {"layout": layout.kind, "columns": cols, "coordinates": {k: list(v) for k, v in layout.coords.items()},
                    "genome": os.path.abspath(genome) if genome else None, "lengths": dict(data["lengths"]),
                    "clip": bool(settings["clip"])},
           "support_size": train["eval_support"], "input": data["input"], "data_sha1": data["data_sha1"],
           "rows": {"train": data["n"]["train"], "val": data["n"]["val"], "test_not_read": data["n"]["test"],
                    "excluded_not_read": data["n"]["excluded"]}}
    if extra:
        cfg.update(extra)
    return cfg


def _baselines(train, val):
    """Distance and region-propensity baselines fitted on ``train``, scored on ``val``."""
    import numpy as np

    from .ep import binary_metrics

    out = {"val_prior": float(np.mean(val["y"]))}
    preds = baseline_predictions(train, val)
    for name, p in preds.items():
        if p is None:
            out[name] = {"note": "no distance column and no coordinates"}
            continue
        m = binary_metrics(val["y"], p)
        out[name] = {"val_aupr": m["aupr"], "val_auroc": m["auroc"], "model": _BASELINE_TEXT[name]}
    return out


_BASELINE_TEXT = {
    "distance": "logistic regression on log10(distance + 1), fitted on the train rows",
    "propensity": "smoothed interaction rate of the enhancer and of the promoter region in the train rows "
                  "(unseen regions get the prior)",
}


def baseline_predictions(train, test):
    """P(interaction) of ``test`` rows by the distance and propensity baselines fitted on ``train``."""
    import numpy as np

    from ..models.ep_baselines import DistanceBaseline, PropensityBaseline

    out = {"distance": None}
    if train["distance"] is not None and test["distance"] is not None:
        ok = np.isfinite(train["distance"]) & (train["distance"] >= 0)
        if ok.sum() >= 2 and 0 < train["y"][ok].sum() < ok.sum():
            model = DistanceBaseline().fit(train["distance"][ok], train["y"][ok])
            p = np.full(len(test["y"]), np.nan)
            tok = np.isfinite(test["distance"]) & (test["distance"] >= 0)
            p[tok] = model.predict_proba(test["distance"][tok])
            out["distance"] = p
    prop = PropensityBaseline().fit(train["keys"]["enhancer"], train["keys"]["promoter"], train["y"])
    out["propensity"] = np.asarray(prop.predict_proba(test["keys"]["enhancer"], test["keys"]["promoter"]),
                                   dtype=np.float64)
    return out


def _clean(obj):
    import math

    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
