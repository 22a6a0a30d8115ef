"""fit-ep --leave-one-cell-out: for each cell line, train on the other cell lines' pairs off the
held-out chromosomes, stop on the validation chromosomes, and score the held-out cell line's
pairs on the test chromosomes next to the distance and region-propensity baselines (one model
directory per fold, loco.tsv and loco_predictions.tsv).

No printing: messages go through the command's ``log`` object; failures are toolkit.errors
exceptions.
"""

from . import ep_data as ED
from . import prepare as prep


def _safe(name):
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name))


def leave_one_cell_out(input, out_dir, settings, held_cells, val_chroms, test_chroms, dev, resume, no_baseline,
                        log):
    """Train one model per held-out cell line and score its test pairs next to the baselines."""
    import json
    import os
    import time

    import numpy as np

    from .. import __version__
    from ..errors import ConfigError, InputError
    from ..io import pairs as P
    from ..split.allocate import by_column_and_chromosome
    from . import dist
    from . import ep as trainer
    from . import modeldir as MD

    group = dist.group()
    run_path = os.path.join(out_dir, "loco.json")
    if resume:
        if not os.path.exists(run_path):
            raise ConfigError(f"{out_dir} holds no --leave-one-cell-out run (no loco.json)",
                              hint="drop --resume to start one")
        saved = MD.read_json(run_path)
        settings = {**settings, **{k: saved["settings"][k] for k in ("genome", "lengths", "clip", "columns")}}
        held_cells, val_chroms, test_chroms = (",".join(saved["held_out"]), ",".join(saved["val_chroms"]),
                                               ",".join(saved["test_chroms"]))
    elif os.path.exists(run_path) or os.path.exists(os.path.join(out_dir, MD.CONFIG)):
        raise ConfigError(f"{out_dir} already holds a run", hint="choose a new -o DIR, or add --resume")
    if group.main:
        MD.lock(out_dir)                # a second run writing this directory stops at once
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    layout, rows, _ = P.read_pairs(input, ED.layout_args(settings, need_split=False), keep=None)
    rows = rows["all"]
    name = rows.name
    if not layout.coords:
        raise InputError("--leave-one-cell-out holds chromosomes out, but the table has no enhancer_chrom / "
                         "promoter_chrom columns", file=name, line=1,
                         hint="give the TargetFinder coordinates (or add the chrom columns to a sequence table)")
    lengths = ED.window_lengths(settings, layout)
    aux = ED.encode_rows(rows, layout, settings, lengths)
    lengths = ED.settle_lengths(lengths, aux["seqs"])
    cells_all = aux["cells"]
    present = sorted(set(cells_all.tolist()))
    held = present if not held_cells else [c.strip() for c in held_cells.split(",") if c.strip()]
    unknown = [c for c in held if c not in present]
    if unknown:
        raise ConfigError(f"--cells: cell line(s) not in the table: {', '.join(unknown)}", file=name,
                          hint=f"cell lines are: {', '.join(present)}")
    if len(present) < 2:
        raise InputError("--leave-one-cell-out needs at least two cell lines", file=name, column=layout.cell)
    vc = [c.strip() for c in val_chroms.split(",") if c.strip()]
    tc = [c.strip() for c in test_chroms.split(",") if c.strip()]
    chroms = P.chromosomes(rows, layout)
    if group.main:
        os.makedirs(out_dir, exist_ok=True)
    if not resume and group.main:
        MD.write_json(run_path, {"toolkit_version": __version__, "input": name, "held_out": held,
                                 "val_chroms": vc, "test_chroms": tc,
                                 "settings": {"genome": os.path.abspath(settings["genome"]) if settings["genome"]
                                              else None, "lengths": lengths, "clip": settings["clip"],
                                              "columns": settings["columns"]}})
    from . import data as D

    codes_e = D.encode(aux["seqs"]["enhancer"], lengths["enhancer"])
    codes_p = D.encode(aux["seqs"]["promoter"], lengths["promoter"])
    names = ("train", "val", "test", "excluded")
    summary, pred_frames = [], []
    for c in held:
        t0 = time.time()
        split, _, _ = by_column_and_chromosome(np.arange(len(rows)), cells_all, [c], chroms, val=vc, test=tc)
        part = {k: np.flatnonzero(split == i) for i, k in enumerate(names)}
        fold_dir = os.path.join(out_dir, f"heldout-{_safe(c)}")
        done = os.path.join(fold_dir, "test_predictions.tsv")
        sub = {k: _subset(aux, part[k]) for k in ("train", "val", "test")}
        for k in ("train", "val", "test"):
            if len(part[k]) == 0 or sub[k]["y"].sum() == 0:
                raise InputError(f"holding out {c}: the {k} set has {len(part[k])} pairs and "
                                 f"{int(sub[k]['y'].sum())} interacting ones", file=name,
                                 hint="choose --val-chroms / --test-chroms that hold pairs of every cell line")
        if resume and os.path.exists(done):
            import pandas as pd

            frame = pd.read_csv(done, sep="\t", dtype=str, keep_default_na=False)
            log.info(f"fit-ep: {c}: already done ({done})")
        else:
            cells_list = sorted(set(sub["train"]["cells"].tolist()))
            splits = {}
            for k in ("train", "val", "test"):
                lut = {x: i for i, x in enumerate(cells_list)}
                splits[k] = trainer.PairSplit(codes_e[part[k]], codes_p[part[k]], sub[k]["y"], sub[k]["cells"],
                                              [lut.get(x, -1) for x in sub[k]["cells"]], sub[k]["distance"])
            fold_resume = resume and os.path.exists(os.path.join(fold_dir, MD.CONFIG))
            group.barrier()             # every rank has looked before rank 0 writes the fold's config
            data = {"layout": layout, "lengths": lengths, "cells": cells_list, "input": name,
                    "data_sha1": ED.data_sha1(splits, sub), "distance_span": ED.distance_span(sub["train"]),
                    "n": {"train": len(part["train"]), "val": len(part["val"]), "test": 0, "excluded": 0}}
            if fold_resume:
                config = MD.read_config(fold_dir, kinds={"ep"})
                prep.check_same_data(config, data, ED.SAME_DATA)
            else:
                config = ED.resolve_config(data, settings, dev, extra={"leave_one_cell_out": {
                    "held_out": c, "val_chroms": vc, "test_chroms": tc,
                    "rows": {k: int(len(part[k])) for k in names},
                    "note": "test rows (the held-out cell line on test chromosomes) are scored by the driver "
                            "after training, never by the trainer"}})
                if group.main:
                    os.makedirs(fold_dir, exist_ok=True)
                    MD.write_json(os.path.join(fold_dir, MD.CONFIG), config)
                    y = sub["train"]["y"]
                    MD.write_json(os.path.join(fold_dir, MD.NORMALIZATION),
                                  {"train_positives": int(y.sum()), "train_negatives": int(len(y) - y.sum()),
                                   "train_prior": float(y.mean())})
            log.info(f"fit-ep: holding out {c}: {len(part['train']):,} train, {len(part['val']):,} val pairs "
                     f"(other cell lines off {','.join(tc)}), {len(part['test']):,} test pairs ({c} on "
                     f"{','.join(tc)}), {len(part['excluded']):,} excluded")
            result = trainer.train(config, splits["train"], splits["val"], fold_dir, dev,
                                   log=(lambda m, c=c: log.info(f"fit-ep: {c}: {m}")), resume=fold_resume)
            if group.main:              # rank 0 scores the test pairs and writes; the other ranks go on
                frame = _score_test(fold_dir, splits["test"], sub, config, dev, no_baseline)
                from ..io.streams import AtomicOutput
                from ..io.tables import write_tsv

                with AtomicOutput(done) as fh:
                    write_tsv(frame, fh)
                log.info(f"fit-ep: {c}: {result['stopped']} after {result['epochs']} epochs (best "
                         f"{result['best']['epoch']}, val AUPR {result['best']['val_aupr']:.3f}); "
                         f"{time.time() - t0:.0f} s")
        if not group.main:
            continue
        pred_frames.append(frame)
        summary.append(_loco_row(c, frame, settings["seed"]))
        r = summary[-1]
        log.info(f"fit-ep: {c}: test AUPR fit-ep {r['aupr_fit_ep']:.3f} [{r['aupr_fit_ep_low']:.3f}, "
                 f"{r['aupr_fit_ep_high']:.3f}], distance {r['aupr_distance']:.3f}, propensity "
                 f"{r['aupr_propensity']:.3f}, prior {r['prior']:.3f} ({r['n_test']} pairs)")
    if not group.main:
        return
    import pandas as pd

    from ..io.streams import AtomicOutput
    from ..io.tables import write_tsv

    table = pd.DataFrame(summary)
    with AtomicOutput(os.path.join(out_dir, "loco.tsv")) as fh:
        write_tsv(table.map(_fmt), fh)
    with AtomicOutput(os.path.join(out_dir, "loco_predictions.tsv")) as fh:
        write_tsv(pd.concat(pred_frames, ignore_index=True), fh)
    json.dumps(summary)  # every value is plain
    log.info(f"fit-ep: leave-one-cell-out over {len(held)} cell line(s) in {out_dir}: loco.tsv, loco_predictions.tsv")


def _fmt(v):
    if isinstance(v, float):
        return "NaN" if v != v else f"{v:.6g}"
    return str(v)


def _subset(aux, idx):
    return {"seqs": {k: [v[i] for i in idx] for k, v in aux["seqs"].items()}, "y": aux["y"][idx],
            "cells": aux["cells"][idx], "distance": None if aux["distance"] is None else aux["distance"][idx],
            "keys": {k: v[idx] for k, v in aux["keys"].items()}, "ids": aux["ids"][idx], "lines": aux["lines"][idx]}


def _score_test(fold_dir, test_split, sub, config, dev, no_baseline):
    """The held-out cell line's test pairs scored by the fold's best model (support sets drawn
    from the test pairs, labels unused) and by the baselines fitted on the fold's train rows."""
    import numpy as np
    import pandas as pd

    from . import ep as trainer
    from .serve import load

    pred = load(fold_dir, dev)
    groups = trainer.support_sets(test_split.cell_names, int(config["support_size"]), int(config["seed"]))
    logits, _, _, _ = trainer.score_pairs(pred.model, test_split, groups, dev, pred.env)
    test = sub["test"]
    frame = pd.DataFrame({"id": test["ids"], "cell": test["cells"], "label": test["y"].astype(int).astype(str),
                          "distance": ["NaN" if test["distance"] is None or not np.isfinite(v) else f"{v:.10g}"
                                       for v in (test["distance"] if test["distance"] is not None
                                                 else np.full(len(test["y"]), np.nan))]})
    frame["pred_label"] = [f"{v:.10g}" for v in trainer.sigmoid(logits)]
    sup = np.zeros(len(test["y"]), dtype=int)
    for _, (_, s) in groups.items():
        sup[s] = 1
    frame["support_set"] = sup.astype(str)
    if not no_baseline:
        for k, p in ED.baseline_predictions(sub["train"], test).items():
            frame[f"pred_{k}"] = ["NaN" if p is None or not np.isfinite(v) else f"{v:.10g}"
                                  for v in (p if p is not None else np.full(len(test["y"]), np.nan))]
    return frame


def _loco_row(cell, frame, seed, n_boot=1000):
    """One loco.tsv row: AUPR (and AUROC) of fit-ep and the baselines with 95% bootstrap intervals
    (the same resamples for all three) and the paired differences."""
    import numpy as np

    from ..evaluate import Task, evaluate

    y = frame["label"].astype(float).to_numpy()
    p = frame["pred_label"].astype(float).to_numpy()
    row = {"held_out": cell, "n_test": len(y), "positives": int(y.sum()), "prior": float(y.mean())}
    comps = [c for c in ("distance", "propensity") if f"pred_{c}" in frame.columns]
    for comp in comps or [None]:
        q = frame[f"pred_{comp}"].astype(float).to_numpy() if comp else None
        if comp and not np.isfinite(q).any():
            row[f"aupr_{comp}"] = float("nan")
            continue
        res = evaluate([Task(name="label", truth=y, pred=p, pred_name="fit-ep", kind="binary", compare=q,
                             compare_name=comp)], n_boot=n_boot, seed=seed)
        for r in res.records:
            if r.section == "metrics" and r.metric in ("aupr", "auroc"):
                key = "fit_ep" if r.prediction == "fit-ep" else comp
                row[f"{r.metric}_{key}"] = r.value
                row[f"{r.metric}_{key}_low"] = r.ci_low
                row[f"{r.metric}_{key}_high"] = r.ci_high
            if r.section == "compare" and r.metric == "delta_aupr":
                row[f"delta_aupr_vs_{comp}"] = r.value
                row[f"delta_aupr_vs_{comp}_low"] = r.ci_low
                row[f"delta_aupr_vs_{comp}_high"] = r.ci_high
    order = ["held_out", "n_test", "positives", "prior"]
    for key in ["fit_ep"] + comps:
        for m in ("aupr", "auroc"):
            order += [f"{m}_{key}", f"{m}_{key}_low", f"{m}_{key}_high"]
    for comp in comps:
        order += [f"delta_aupr_vs_{comp}", f"delta_aupr_vs_{comp}_low", f"delta_aupr_vs_{comp}_high"]
    return {k: row.get(k, float("nan")) for k in order}
