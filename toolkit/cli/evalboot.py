"""evalboot: metrics of predictions against measurements, with bootstrap intervals."""

import math
import sys

import click

from . import options as opt

FORMATS = ("auto", "table", "tsv", "json")
TASK_TYPES = ("binary", "regression")


def _split_cols(text, flag):
    if text is None:
        return None
    cols = [c.strip() for c in text.split(",")]
    if not all(cols):
        raise click.BadParameter("expected comma-separated column names", param_hint=f"'{flag}'")
    if len(set(cols)) != len(cols):
        raise click.BadParameter("a column is named twice", param_hint=f"'{flag}'")
    return cols


def _winsor(text):
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter("expected two percentiles LOW,HIGH, e.g. 5,95", param_hint="'--winsorize'") from None
    if not (0 <= low < 50 < high <= 100):
        raise click.BadParameter("expected 0 <= LOW < 50 < HIGH <= 100", param_hint="'--winsorize'")
    return low / 100.0, (100.0 - high) / 100.0


def _task_types(entries):
    out = {}
    for entry in entries:
        for item in entry.split(","):
            col, sep, kind = item.partition("=")
            if not sep or not col.strip() or kind.strip() not in TASK_TYPES:
                raise click.BadParameter(f"expected COL=binary or COL=regression, got '{item}'",
                                         param_hint="'--task-type'")
            out[col.strip()] = kind.strip()
    return out


@opt.command("evalboot", moved_options={"winsor": "it is now --winsorize LOW,HIGH (the same percentiles)"})
@opt.input_argument
@opt.output_option
@click.option("--truth", metavar="COLS", default=None,
              help="Comma-separated truth columns or shell patterns such as 'thermo_*' (default: every column X "
                   "that has a pred_X column); a column a pattern matches is used when its prediction column exists.")
@click.option("--pred", metavar="COLS", default=None,
              help="Prediction columns, one per --truth column, in the same order, or one template whose '*' "
                   "stands for the truth column, e.g. 'pred_*' (default: pred_<truth>).")
@click.option("--compare", metavar="COLS", default=None,
              help="A second prediction set, one column per --truth column (or a template such as base_*): "
                   "paired bootstrap differences "
                   "(--pred minus --compare) and the Fisher z test of Pearson's r, Holm-Bonferroni across tasks.")
@click.option("--group-col", metavar="COL", default=None,
              help="Resample whole groups of this column (cluster bootstrap), e.g. group_id from dgsplit; the "
                   "Fisher z test of --compare then takes the number of groups, not rows, as its sample size "
                   "(its n).")
@click.option("--target-cell-col", metavar="COL", default="target_cell", show_default=True,
              help="Column naming each row's target cell for MinGap (if present); otherwise the top observed "
                   "cell.")
@click.option("--task-type", "task_type", metavar="COL=TYPE", multiple=True,
              help="binary or regression for a truth column (repeatable; default: binary when its values "
                   "are only 0 and 1).")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Binary tasks: a row is called positive when its prediction >= this (F1, precision, recall).")
@click.option("--winsorize", "winsor", metavar="LOW,HIGH", default="5,95", show_default=True,
              help="Winsorize at these percentiles: truth and prediction, each clipped to its LOW and HIGH "
                   "percentile, for winsor_pearson.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(0, 100_000), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% percentile intervals (0: point estimates only).")
@opt.seed_option
@click.option("--output-format", "out_format", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="table (readable), tsv or json; auto = table on a terminal, json for an -o path ending "
                   "in .json, else tsv.")
@click.option("--plot", metavar="PNG", default=None,
              help="Write a figure to this PNG file, one column per task. Regression tasks: prediction "
                   "against observed with the identity line (titled with Pearson r, Spearman rho, MAE and n); "
                   "the residual (pred - observed) against the prediction, with its median in 20 bins of the "
                   "prediction (of 10 rows or more) and the residual SD; calibration: mean observed against mean predicted in the "
                   "10 deciles of the prediction, with the identity line and the least-squares line through "
                   "the 10 points (slope and intercept on the panel). With two or more cell tasks, a last "
                   "row: Pearson r of predicted against observed MinGap in each quintile of the observed "
                   "MinGap (the report uses quartiles), with each cell's r and n per quintile. Binary tasks: "
                   "calibration (fraction positive in ten bins of the score) and the score of each class.")
@click.option("--per-descriptor", "per_descriptor", is_flag=True,
              help="Many tasks (e.g. PhysInformer's descriptors): instead of every task's metrics, the "
                   "distribution over tasks of Pearson, Spearman, R2, MSE and MAE (mean, median, quartiles), "
                   "overall and per family (name prefix before the first '_'), and the 5 best and 5 worst "
                   "by Pearson, with bootstrap intervals.")
@click.option("--descriptors-out", "descriptors_out", metavar="TSV", default=None,
              help="Write every task's metrics and intervals to this TSV (implies --per-descriptor).")
def cli(input, output, truth, pred, compare, group_col, target_cell_col, task_type, threshold, winsor, n_boot,
        seed, out_format, plot, per_descriptor, descriptors_out, quiet, verbose):
    """Evaluate predictions against measurements, with bootstrap intervals.

    Reads a TSV/CSV table with truth and prediction columns (predict writes
    pred_<target> next to each target) and reports, per task and averaged
    over tasks (macro): Pearson, Spearman, R2, RMSE, MAE, median absolute
    error, winsorized Pearson and SD(pred)/SD(truth), each with a 95%
    percentile interval from the same bootstrap resamples of rows (or of
    --group-col groups). Binary tasks (truth 0/1) get AUROC, AUPR (read it
    against prior, the fraction of positives: a random ranking's AUPR), F1,
    precision and recall at --threshold, and for probabilities the Brier
    score, expected calibration error and calibration bins. With <CELL>_lfcSE
    columns: MSE weighted by 1/SE^2 and metrics by SE quartile. With two or
    more cell tasks (<CELL>_l2fc, <CELL>_log2FC): MinGap specificity (target
    cell minus the best other cell, Gosai et al. 2024), observed against
    predicted, overall and by observed-MinGap quartile, and how often the
    top predicted cell is the top observed one. Rows with a missing truth or
    prediction are left out of that task and counted. A warning goes to
    standard error when a prediction's SD is under 20% of its truth's (a
    model collapsed to near-constant output).

    Output: one record per number with the columns section, task,
    prediction, subset, metric, value, ci_low, ci_high (2.5th and 97.5th
    percentiles over the resamples), n (rows used), p_value and p_adj (for
    --compare: paired bootstrap or Fisher z p-value, Holm-adjusted across
    tasks; with --group-col the Fisher z test counts groups, not rows, since
    rows of a group are not independent). TSV for pipes and files, a readable table on a terminal, JSON
    with --output-format json.

    --per-descriptor (for many tasks, such as every descriptor a PhysInformer
    model predicts) reports each metric's distribution over the tasks
    instead: records of section 'descriptors' (task: 'all' or a family, the
    name's prefix before the first '_'; subset: mean, median, q1 or q3; n:
    tasks with a value) and of sections 'best' and 'worst' (the 5 tasks with
    the highest and lowest Pearson r; subset 'rank k'); the intervals come
    from the same resamples, every task recomputed in each.
    --descriptors-out writes the full per-task table.

    \b
    Examples:
      predict --model models/cre test.tsv | evalboot --truth HepG2_l2fc --pred pred_HepG2_l2fc
      predict --model models/cre test.tsv | evalboot --group-col group_id --plot fit.png > metrics.tsv
      evalboot preds.tsv --truth K562_l2fc,HepG2_l2fc --compare base_K562,base_HepG2 -o eval.json
      descfeat test.tsv | predict -m models/pi | evalboot --per-descriptor --descriptors-out per_desc.tsv
      evalboot preds.tsv --truth 'thermo_*,bend_*' --pred 'pred_*' --per-descriptor --bootstrap 200
    """
    from ..errors import ConfigError, InputError
    from ..evaluate import Task, evaluate, infer_kind
    from ..io.streams import AtomicOutput
    from ..io.tables import se_columns, target_cell_name

    log = opt.Log("evalboot", quiet, verbose)
    opt.require_input(input)
    truth_cols = _split_cols(truth, "--truth")
    pred_cols = _split_cols(pred, "--pred")
    cmp_cols = _split_cols(compare, "--compare")
    limits = _winsor(winsor)
    kinds = _task_types(task_type)
    if truth_cols and pred_cols and len(truth_cols) != len(pred_cols) and not _template(pred_cols) \
            and not any(_is_pattern(c) for c in truth_cols):
        raise click.BadParameter(f"{len(pred_cols)} columns for {len(truth_cols)} --truth columns",
                                 param_hint="'--pred'")
    per_descriptor = per_descriptor or descriptors_out is not None
    if per_descriptor:
        for flag, given in (("--compare", cmp_cols), ("--task-type", kinds), ("--plot", plot)):
            if given:
                raise click.UsageError(f"{flag} does not go with --per-descriptor")
    opt.distinct_outputs(**{"-o": output, "--descriptors-out": descriptors_out, "--plot": plot})
    out = AtomicOutput(output, inputs=[input])  # refuses to write over the input before any work
    fig_out = AtomicOutput(plot, inputs=[input], text=False, by_name=True) if plot else None
    desc_out = AtomicOutput(descriptors_out, inputs=[input]) if descriptors_out else None
    if out_format == "auto":
        if str(output).endswith((".json", ".json.gz")):
            out_format = "json"
        elif output in (None, "-") and sys.stdout.isatty():
            out_format = "table"
        else:
            out_format = "tsv"

    df, lines, name = _read_table(input)
    cols = list(df.columns)
    truth_cols, pred_cols, dropped = _expand_columns(cols, truth_cols, pred_cols, name)
    if dropped:
        log.detail(f"evalboot: {len(dropped)} column(s) matched by --truth have no prediction column: "
                   + _list(dropped))
    truth_cols, pred_cols = _resolve_columns(cols, truth_cols, pred_cols, name)
    c_t = _check_template(cols, cmp_cols, "--compare")
    if c_t is not None:
        cmp_cols = [c_t.replace("*", t) for t in truth_cols]
    if cmp_cols is not None and len(cmp_cols) != len(truth_cols):
        raise click.BadParameter(f"{len(cmp_cols)} columns for {len(truth_cols)} truth columns "
                                 f"({', '.join(truth_cols)})", param_hint="'--compare'")
    for flag, names in (("--compare", cmp_cols or []), ("--group-col", [group_col] if group_col else [])):
        for c in names:
            if c not in cols:
                raise ConfigError(f"{flag} column '{c}' is not in the input", file=name, line=1,
                                  hint=f"columns are: {_list(cols)}")
    for c in kinds:
        if c not in truth_cols:
            raise ConfigError(f"--task-type names '{c}', which is not a truth column", file=name,
                              hint=f"truth columns are: {', '.join(truth_cols)}")
    if len(df) < 3:
        raise InputError(f"too few rows: {len(df)}", file=name, hint="evalboot needs at least 3 rows")
    if per_descriptor:
        _per_descriptor(df, lines, name, truth_cols, pred_cols, group_col, n_boot, seed, out, out_format, desc_out,
                        log)
        return
    if len(truth_cols) > 50:
        log.info(f"evalboot: {len(truth_cols)} tasks; --per-descriptor summarises them (distributions overall "
                 "and per family, 5 best and 5 worst)")

    se_map = se_columns(cols, truth_cols)
    tasks = []
    for i, t in enumerate(truth_cols):
        y = _numeric(df, t, lines, name)
        kind = kinds.get(t) or infer_kind(y)
        tasks.append(Task(
            name=t, truth=y, pred=_numeric(df, pred_cols[i], lines, name), pred_name=pred_cols[i], kind=kind,
            se=_numeric(df, se_map[t], lines, name) if t in se_map else None, se_name=se_map.get(t),
            compare=_numeric(df, cmp_cols[i], lines, name) if cmp_cols else None,
            compare_name=cmp_cols[i] if cmp_cols else None, cell=target_cell_name(t)))
    if target_cell_col not in cols and target_cell_col != "target_cell":
        raise ConfigError(f"--target-cell-col '{target_cell_col}' is not in the input", file=name, line=1,
                          hint=f"columns are: {_list(cols)}")
    target_cell = df[target_cell_col].to_numpy(dtype=object) if target_cell_col in cols else None
    groups = df[group_col].to_numpy(dtype=object) if group_col else None

    log.detail(f"{len(df)} rows; tasks: " + "; ".join(
        f"{t.name} ~ {t.pred_name} ({t.kind}{', SE ' + t.se_name if t.se_name else ''})" for t in tasks))
    result = evaluate(tasks, n_boot=n_boot, seed=seed, groups=groups, target_cell=target_cell, winsor=limits,
                      threshold=threshold, source=name, group_name=group_col, target_cell_name=target_cell_col)
    result.meta = {"input": name, **result.meta}

    fig = _figure(tasks, seed, target_cell, target_cell_col) if fig_out is not None else None
    _write(out, result, out_format, _render_table)
    if fig is not None:
        with fig_out as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    _summary(log, result, tasks, n_boot, seed, plot)


def _figure(tasks, seed, target_cell, target_cell_col):
    from ..errors import ConfigError

    try:
        from ..evaluate.plots import scatter_residuals

        return scatter_residuals(tasks, seed=seed, target_cell=target_cell, target_cell_name=target_cell_col)
    except ImportError as exc:
        raise ConfigError(f"--plot needs matplotlib ({exc})", hint="install it: python3 -m pip install matplotlib") \
            from None


def _list(cols, k=20):
    return ", ".join(cols[:k]) + (", ..." if len(cols) > k else "")


def _read_table(path):
    """A TSV or CSV table, every column as text: (DataFrame, file line of each row, name)."""
    import numpy as np
    import pandas as pd

    from ..errors import InputError
    from ..io import tables
    from ..io.streams import display_name, open_binary, sniff_text

    name = display_name(path)
    stream = open_binary(path)
    text = sniff_text(stream, name)
    fmt = tables.detect_format(text, None if path in (None, "-") else str(path))
    if fmt not in ("tsv", "csv"):
        raise InputError(f"this looks like {fmt.upper()}, not a table of truth and predictions", file=name,
                         hint="give the TSV or CSV table that predict writes")
    parts = list(tables._iter_delimited(stream, name, "\t" if fmt == "tsv" else ",", tables.CHUNK_ROWS))
    if not parts:
        raise InputError("the input has a header but no data rows", file=name,
                         hint="check the file or the command before the pipe")
    if len(parts) == 1:
        return parts[0][0], parts[0][1], name
    return (pd.concat([p[0] for p in parts], ignore_index=True), np.concatenate([p[1] for p in parts]), name)


def _is_pattern(text):
    return any(ch in text for ch in "*?[")


def _template(names):
    """Is this --pred/--compare value one template such as pred_* (one '*', no other pattern)?"""
    return names is not None and len(names) == 1 and names[0].count("*") == 1 and not any(
        ch in names[0] for ch in "?[")


def _expand_columns(cols, truth, pred, name):
    """Shell patterns in --truth and a template in --pred.

    A --truth entry that is not a column but a pattern (``*``, ``?``, ``[...]``) stands for
    the columns it matches, in input order; a --pred value that is one name with a single
    ``*`` is a template, the ``*`` standing for each truth column (``pred_*``). Columns
    matched by a pattern whose prediction column is missing are left out. Returns (truth,
    pred, the matched columns left out); lists given without patterns come back unchanged.
    """
    import fnmatch

    from ..errors import ConfigError

    p_t = _check_template(cols, pred, "--pred")
    matched = set()
    if truth is not None and any(c not in cols and _is_pattern(c) for c in truth):
        out = []
        for c in truth:
            if c in cols or not _is_pattern(c):
                out.append(c)
                continue
            hits = [x for x in cols if fnmatch.fnmatchcase(x, c)]
            if not hits:
                raise ConfigError(f"--truth: no column matches '{c}'", file=name, line=1,
                                  hint=f"columns are: {_list(cols)}")
            out += hits
            matched.update(hits)
        truth = list(dict.fromkeys(out))
    elif truth is None and p_t is not None:
        truth = [c for c in cols if p_t.replace("*", c) in cols]
        if not truth:
            raise ConfigError(f"no column X has a prediction column {p_t.replace('*', 'X')}", file=name, line=1,
                              hint=f"columns are: {_list(cols)}")
    if truth is None or not (matched or p_t):
        return truth, pred, []
    pred = [p_t.replace("*", t) for t in truth] if p_t is not None else [f"pred_{t}" for t in truth]
    keep = [i for i, t in enumerate(truth) if t not in matched or pred[i] in cols]
    if not keep:
        raise ConfigError(f"no column matched by --truth has a prediction column ({p_t or 'pred_*'})", file=name,
                          line=1, hint=f"columns are: {_list(cols)}")
    dropped = [t for i, t in enumerate(truth) if i not in set(keep)]
    return [truth[i] for i in keep], [pred[i] for i in keep], dropped


def _check_template(cols, names, flag):
    """The template of a --pred/--compare value (e.g. pred_*), or None when it names columns."""
    if names is None or not any(c not in cols and "*" in c for c in names):
        return None
    if not _template(names):
        raise click.BadParameter("a template is one name with a single '*' standing for the truth column, "
                                 "e.g. pred_*", param_hint=f"'{flag}'")
    return names[0]


def _per_descriptor(df, lines, name, truth_cols, pred_cols, group_col, n_boot, seed, out, out_format, desc_out,
                    log):
    """--per-descriptor: distributions of per-task metrics (toolkit.evaluate.descriptors)."""
    import numpy as np

    from ..evaluate.descriptors import METRICS, evaluate_descriptors

    truth = np.column_stack([_numeric(df, c, lines, name) for c in truth_cols])
    pred = np.column_stack([_numeric(df, c, lines, name) for c in pred_cols])
    groups = df[group_col].to_numpy(dtype=object) if group_col else None
    result = evaluate_descriptors(truth, pred, truth_cols, pred_cols, n_boot=n_boot, seed=seed, groups=groups,
                                  group_name=group_col)
    result.meta = {"input": name, "mode": "per-descriptor", **result.meta}
    _write(out, result, out_format, _render_descriptors)
    if desc_out is not None:
        cols = ["descriptor", "family", "prediction", "n"] + [f"{m}{s}" for m in METRICS if m in result.table[0]
                                                             for s in ("", "_ci_low", "_ci_high")]
        with desc_out as fh:
            fh.write("\t".join(cols) + "\n")
            for r in result.table:
                fh.write("\t".join(_fmt(r[c]) for c in cols) + "\n")
    meta = result.meta
    boot = f"{n_boot} bootstrap resamples of {meta['resampling']}, seed {seed}" if n_boot else "no bootstrap"
    overall = {r.subset: r.value for r in result.records
               if r.section == "descriptors" and r.task == "all" and r.metric == "pearson"}
    log.info(f"evalboot: {meta['rows']} rows, {meta['descriptors']} tasks in {len(meta['families'])} "
             f"famil{'y' if len(meta['families']) == 1 else 'ies'} (per-descriptor); Pearson r mean "
             f"{overall['mean']:.3f}, median {overall['median']:.3f}; {boot}")
    for note in result.notes:
        log.info(f"evalboot: {note}")


def _render_descriptors(result):
    """--per-descriptor as readable tables: one per metric (a row per family), best and worst."""
    from tabulate import tabulate

    meta = result.meta
    lines = [f"Per-descriptor agreement: {meta['descriptors']} tasks, {meta['rows']} rows"]
    if meta.get("bootstrap"):
        lines.append(f"value [95% interval]: {meta['bootstrap']} bootstrap resamples of {meta['resampling']}, "
                     f"seed {meta['seed']}")
    recs = [r for r in result.records if r.section == "descriptors"]
    for m in meta["metrics"]:
        fams, body = [], {}
        for r in recs:
            if r.metric != m:
                continue
            if r.task not in body:
                fams.append(r.task)
                body[r.task] = {"n": f"{r.n:,}"}
            body[r.task][r.subset] = _cell(r)
        rows = [[f, body[f]["n"]] + [body[f].get(s, "") for s in ("mean", "median", "q1", "q3")] for f in fams]
        lines += ["", f"{m} over tasks",
                  tabulate(rows, headers=["family", "tasks", "mean", "median", "q1", "q3"], tablefmt="simple",
                           disable_numparse=True)]
    for section, title in (("best", "5 best by Pearson r"), ("worst", "5 worst by Pearson r")):
        rows, index = [], {}
        for r in result.records:
            if r.section != section:
                continue
            if (r.subset, r.task) not in index:
                index[(r.subset, r.task)] = len(rows)
                rows.append([r.subset.replace("rank ", ""), r.task, f"{r.n:,}"] + [""] * len(meta["metrics"]))
            rows[index[(r.subset, r.task)]][3 + meta["metrics"].index(r.metric)] = _cell(r)
        if rows:
            lines += ["", title, tabulate(rows, headers=["rank", "task", "n"] + list(meta["metrics"]),
                                          tablefmt="simple", disable_numparse=True)]
    for note in result.notes:
        lines += ["", f"note: {note}"]
    return "\n".join(lines) + "\n"


def _resolve_columns(cols, truth, pred, name):
    """The truth and prediction columns: as given, or pred_X paired with X."""
    from ..errors import ConfigError, InputError
    from ..io.tables import target_columns

    def need(c, flag):
        if c not in cols:
            raise ConfigError(f"{flag} column '{c}' is not in the input", file=name, line=1,
                              hint=f"columns are: {_list(cols)}")

    if truth is None and pred is None:
        truth = [c for c in cols if f"pred_{c}" in cols]
        if not truth:
            known = target_columns(cols)
            if known and len(cols) > 1:
                raise InputError(f"no prediction column: expected {', '.join('pred_' + c for c in known)} "
                                 f"next to {', '.join(known)}", file=name, line=1,
                                 hint="name the columns with --truth COLS --pred COLS")
            hint = "name them with --truth COLS --pred COLS"
            if len(cols) == 1:
                hint = ("the header has a single column, so the delimiter may be wrong (tables are TSV or CSV) "
                        "or " + hint)
            raise InputError(f"no truth column found among the columns: {', '.join(repr(c) for c in cols[:12])}"
                             " (expected X with a prediction column pred_X)", file=name, line=1, hint=hint)
        return truth, [f"pred_{c}" for c in truth]
    if truth is None:
        for c in pred:
            need(c, "--pred")
        truth = [c[5:] if c.startswith("pred_") else None for c in pred]
        if None in truth:
            raise click.BadParameter("give --truth too when a prediction column is not named pred_<truth>",
                                     param_hint="'--pred'")
    for c in truth:
        need(c, "--truth")
    if pred is None:
        pred = [f"pred_{c}" for c in truth]
        for c in pred:
            if c not in cols:
                raise ConfigError(f"no prediction column '{c}' for truth column '{c[5:]}'", file=name, line=1,
                                  hint="name the prediction columns with --pred COLS")
    for c in pred:
        need(c, "--pred")
    return truth, pred


def _numeric(df, column, lines, name):
    """A text column as float64; empty/NA/NaN/inf are missing (NaN, excluded), other text is an error."""
    from ..io.tables import parse_numeric_values

    return parse_numeric_values(df[column], lines, name, column,
                                hint="fix the value, or leave it empty (NA) to leave the row out")


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return str(v)
    v = float(v)
    if not math.isfinite(v):
        return ""
    return format(v, ".12g")


def _write_tsv(fh, result):
    from ..evaluate.report import COLUMNS

    fh.write("\t".join(COLUMNS) + "\n")
    for r in result.records:
        fh.write("\t".join(_fmt(v) for v in r.as_tuple()) + "\n")


def _write_json(fh, result):
    import json

    from ..evaluate.report import COLUMNS

    doc = {"meta": result.meta, "warnings": result.warnings, "notes": result.notes,
           "results": [dict(zip(COLUMNS, r.as_tuple())) for r in result.records]}
    json.dump(opt._finite(doc), fh, indent=2, default=opt._json_default, allow_nan=False)
    fh.write("\n")


SECTION_TITLES = {
    "metrics": "Metrics",
    "se": "SE-aware: MSE weighted by 1/SE^2",
    "se_quartile": "By SE quartile",
    "specificity": "Specificity (MinGap = target cell minus the best other cell)",
    "calibration": "Calibration (binary tasks)",
    "compare": "Comparison: --pred minus --compare (paired bootstrap; p_adj: Holm across tasks)",
}


def _render_table(result):
    """Readable tables, one per section: a row per (subset, metric), a column per task."""
    from tabulate import tabulate

    meta = result.meta
    lines = []
    if meta.get("bootstrap"):
        lines.append(f"value [95% interval]: {meta['bootstrap']} bootstrap resamples of {meta['resampling']}, "
                     f"seed {meta['seed']}")
    second = set(meta.get("compare") or [])
    second.add("macro(" + ",".join(meta.get("compare") or []) + ")")
    tables = []
    for section, title in SECTION_TITLES.items():
        recs = [r for r in result.records if r.section == section]
        if section == "metrics" and meta.get("compare"):
            tables.append((title + " of --pred", [r for r in recs if r.prediction not in second]))
            tables.append((title + " of --compare", [r for r in recs if r.prediction in second]))
        elif recs:
            tables.append((title, recs))
    for title, recs in tables:
        columns, subsets, counts = [], {}, {}
        for r in recs:
            col = (r.task, r.prediction)
            if col not in columns:
                columns.append(col)
            subsets.setdefault(r.subset, {}).setdefault(r.metric, {})[col] = _cell(r)
            if r.n is not None:
                counts.setdefault(r.subset, {})[col] = f"{r.n:,}"
        body = []
        for subset, metrics in subsets.items():
            label = "" if subset == "all" else subset
            for metric, cells in metrics.items():
                body.append([label, metric] + [cells.get(c, "") for c in columns])
            if subset in counts:
                body.append([label, "n"] + [counts[subset].get(c, "") for c in columns])
        headers = ["subset", "metric"] + [_header(t, p) for t, p in columns]
        lines += ["", title, tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)]
    for w in result.warnings:
        lines += ["", f"warning: {w}"]
    return "\n".join(lines).lstrip("\n") + "\n"


def _header(task, prediction):
    if task == "macro":
        return "macro"
    if prediction == f"pred_{task}":
        return task
    return f"{task}\n{prediction}"


def _cell(r):
    def g(x):
        return "" if x is None or not math.isfinite(x) else f"{x:.4g}"

    text = g(r.value)
    if math.isfinite(r.ci_low) and math.isfinite(r.ci_high):
        text += f" [{g(r.ci_low)}, {g(r.ci_high)}]"
    if math.isfinite(r.p_value):
        text += f" p={r.p_value:.2g}"
        if math.isfinite(r.p_adj):
            text += f" (Holm {r.p_adj:.2g})"
    return text


def _summary(log, result, tasks, n_boot, seed, plot):
    meta = result.meta
    kinds = ", ".join(f"{t.name} ~ {t.pred_name}" + (f" vs {t.compare_name}" if t.compare_name else "")
                      + (" (binary)" if t.kind == "binary" else "") for t in tasks)
    boot = f"{n_boot} bootstrap resamples of {meta['resampling']}, seed {seed}" if n_boot else "no bootstrap"
    log.info(f"evalboot: {meta['rows']} rows, {len(tasks)} task{'s' if len(tasks) != 1 else ''} ({kinds}); {boot}")
    for note in result.notes:
        log.info(f"evalboot: {note}")
    for w in result.warnings:
        log.warn(w)
    if plot:
        log.info(f"evalboot: plot written to {plot}")


def _write(out, result, out_format, render):
    """Write ``result`` to the output ``out`` as json, a rendered table, or TSV."""
    with out as fh:
        if out_format == "json":
            _write_json(fh, result)
        elif out_format == "table":
            fh.write(render(result))
        else:
            _write_tsv(fh, result)


main = cli

if __name__ == "__main__":
    cli()
