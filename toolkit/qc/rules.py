"""seqqc: the QC rules of the CRE design (001, DATA USAGE PLAN, steps 1-6), in order.

Each rule looks only at rows no earlier rule rejected, so every rejected row has
exactly one reason and the report's counts add up:
``rows_in = rows_out + rows_rejected + rows_merged``.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io.tables import parse_numeric, se_columns, standard_frame, target_columns, target_cell_name
from ..seq.arrays import PackedSeqs
from .profile import profile

RULES = (
    "empty_sequence",
    "alphabet",
    "length",
    "n_fraction",
    "nonfinite_target",
    "nonfinite_se",
    "se_out_of_bounds",
    "se_filter",
)
WINDOW_REASONS = ("unknown_chrom", "out_of_bounds")
LENGTH_POLICIES = ("auto", "drop", "trim-pad", "none")
SE_RULES = ("A", "B", "none")
MERGE_METHODS = ("none", "median", "ivw")
RULE_A_ADVICE_FRACTION = 0.30


@dataclass
class QCConfig:
    """seqqc options with the design's defaults."""

    length: int = None            # expected length; None = the most common length
    length_policy: str = "auto"   # auto: drop if off-length rows are < length_tolerance, else trim/pad
    length_tolerance: float = 0.005
    max_n_frac: float = 0.0
    targets: object = None        # None = recognised target columns
    se_bounds: tuple = (0.0, 5.0)
    se_rule: str = "A"
    max_se: float = 0.5
    target_cell_col: str = "target_cell"
    winsorize: tuple = None       # (low_pct, high_pct), e.g. (0.1, 99.9)
    merge: str = "none"
    extra: dict = field(default_factory=dict)

    def validate(self):
        if self.length is not None and self.length < 1:
            raise ConfigError("--length must be a positive integer")
        if self.length_policy not in LENGTH_POLICIES:
            raise ConfigError(f"unknown length policy '{self.length_policy}'", hint=f"use one of {', '.join(LENGTH_POLICIES)}")
        if not 0.0 <= self.max_n_frac <= 1.0:
            raise ConfigError("--max-n-frac must be between 0 and 1")
        if self.se_rule not in SE_RULES:
            raise ConfigError(f"unknown SE rule '{self.se_rule}'", hint="use A, B or none")
        lo, hi = self.se_bounds
        if not lo < hi:
            raise ConfigError("--se-bounds needs LOW < HIGH")
        if self.winsorize is not None:
            a, b = self.winsorize
            if not 0.0 <= a < b <= 100.0:
                raise ConfigError("--winsorize needs 0 <= LOW < HIGH <= 100 (percentiles)")
        if self.merge not in MERGE_METHODS:
            raise ConfigError(f"unknown merge method '{self.merge}'", hint="use none, median or ivw")


@dataclass
class QCResult:
    """Output of :func:`run_qc`: kept rows, rejected rows and the JSON-ready report."""

    kept: pd.DataFrame
    rejects: pd.DataFrame
    report: dict


def _fmt(values):
    """Format modified floats compactly and losslessly enough for l2fc tables."""
    return np.array([("" if not np.isfinite(v) else repr(float(np.float64(f"{v:.10g}")))) for v in values], dtype=object)


def run_qc(table, config):
    """Apply the QC rules to a :class:`~toolkit.io.tables.SeqTable`.

    Returns
    -------
    QCResult
        ``kept``: ``id`` + input columns (sequence column renamed ``sequence``,
        cleaned), plus ``qc_flag`` when any row was trimmed or padded and
        ``n_merged``/``merged_ids`` when duplicates were merged.
        ``rejects``: ``id`` + the input columns as read + ``qc_reason``, ``qc_detail``.
    """
    config.validate()
    df = table.df
    n = len(df)
    cols = [c for c in df.columns if not c.startswith("_")]
    targets = target_columns(cols, config.targets)
    ses = se_columns(cols, targets)
    if config.se_rule == "B" and ses and config.target_cell_col not in cols:
        raise ConfigError(
            f"--se-rule B needs a '{config.target_cell_col}' column", file=table.name,
            hint="use --se-rule A, or name the column with --target-cell-col",
        )
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)
    counts = {}

    def reject(mask, name, details=None):
        """Reject rows in ``mask`` not rejected yet; ``details(idx)`` describes them (computed lazily)."""
        mask = mask & (reason == "")
        idx = np.flatnonzero(mask)
        reason[idx] = name
        if details is not None and len(idx):
            detail[idx] = details(idx) if callable(details) else details
        counts[name] = counts.get(name, 0) + len(idx)
        return mask

    # windows that could not be fetched from the genome (BED input)
    if "_qc_reject" in df:
        wr = df["_qc_reject"].to_numpy(dtype=object)
        for name in WINDOW_REASONS:
            reject(wr == name, name)
    n_pad = df["_n_pad"].to_numpy(dtype=np.int64) if "_n_pad" in df else np.zeros(n, dtype=np.int64)

    # 1. uppercase and strip
    raw = df[table.seq_col]
    seqs = raw.str.strip().str.upper()
    changed_case = int((seqs != raw).sum())
    seqs = seqs.to_numpy(dtype=object)
    packed = PackedSeqs(seqs)
    lengths = packed.lengths

    # 2. alphabet
    reject(lengths == 0, "empty_sequence")
    bad = packed.invalid()
    reject(bad > 0, "alphabet", lambda idx: [f"{k} character(s) outside ACGTN" for k in bad[idx]])

    # 3. length policy
    alive = reason == ""
    target_len = config.length
    if target_len is None and alive.any():
        vals, cnt = np.unique(lengths[alive], return_counts=True)
        target_len = int(vals[np.argmax(cnt)])
    policy = config.length_policy
    off = alive & (lengths != (target_len or 0))
    off_fraction = float(off.sum() / max(alive.sum(), 1))
    applied = policy
    if policy == "auto":
        applied = "drop" if off_fraction < config.length_tolerance else "trim-pad"
    flags = np.full(n, "", dtype=object)
    if applied == "drop":
        reject(off, "length", lambda idx: [f"length {k} != {target_len}" for k in lengths[idx]])
    elif applied == "trim-pad":
        for i in np.flatnonzero(off):
            s, L = seqs[i], lengths[i]
            if L > target_len:
                a = (L - target_len) // 2
                seqs[i] = s[a:a + target_len]
                flags[i] = f"trimmed_from_{L}"
            else:
                a = (target_len - L) // 2
                seqs[i] = "N" * a + s + "N" * (target_len - L - a)
                n_pad[i] += target_len - L
                flags[i] = f"padded_from_{L}"
        packed = PackedSeqs(seqs)
        lengths = packed.lengths

    # 4. N fraction (Ns added by padding or clipping do not count)
    n_count = packed.count_bytes("N") - n_pad
    real_len = np.maximum(lengths - n_pad, 1)
    n_frac = n_count / real_len
    reject(n_frac > config.max_n_frac, "n_fraction",
           lambda idx: [f"N fraction {f:.4f} > {config.max_n_frac}" for f in n_frac[idx]])

    # 5. non-finite targets and standard errors
    tvals = {t: parse_numeric(table, t) for t in targets}
    svals = {t: parse_numeric(table, c) for t, c in ses.items()}
    for t in targets:
        reject(~np.isfinite(tvals[t]), "nonfinite_target", f"{t} is missing or not finite")
    for t, c in ses.items():
        reject(~np.isfinite(svals[t]), "nonfinite_se", f"{c} is missing or not finite")

    # 6. SE sanity bounds (lo, hi), exclusive
    lo, hi = config.se_bounds
    for t, c in ses.items():
        v = svals[t]
        reject((v <= lo) | (v >= hi), "se_out_of_bounds",
               lambda idx, v=v, c=c: [f"{c} = {x:.4g} outside ({lo:g}, {hi:g})" for x in v[idx]])

    # 7. lfcSE filter
    before_se = int((reason == "").sum())
    rule_b_unmatched = 0
    if ses and config.se_rule == "A":
        stack = np.column_stack([svals[t] for t in ses])
        worst = np.max(stack, axis=1)
        reject(worst > config.max_se, "se_filter",
               lambda idx: [f"max lfcSE {x:.4g} > {config.max_se:g} (rule A)" for x in worst[idx]])
    elif ses and config.se_rule == "B":
        cell = df[config.target_cell_col].to_numpy(dtype=object)
        by_cell = {target_cell_name(t): svals[t] for t in ses}
        own = np.full(n, np.nan)
        for name, v in by_cell.items():
            own = np.where(cell == name, v, own)
        unmatched = (reason == "") & np.isnan(own)
        rule_b_unmatched = int(unmatched.sum())
        reject(np.nan_to_num(own, nan=-np.inf) > config.max_se, "se_filter",
               lambda idx: [f"target-cell lfcSE {x:.4g} > {config.max_se:g} (rule B)" for x in own[idx]])
    se_removed = counts.get("se_filter", 0)
    se_removed_fraction = se_removed / before_se if before_se else 0.0
    advice = None
    if config.se_rule == "A" and ses and se_removed_fraction > RULE_A_ADVICE_FRACTION:
        advice = (f"Rule A removed {se_removed_fraction:.1%} of the rows that reached it (> 30%): "
                  "the design advises raising --max-se to 0.6, or --se-rule B with SE-weighted training")

    keep = reason == ""
    for name in RULES + WINDOW_REASONS:
        counts.setdefault(name, 0)

    # 8. winsorize targets (percentiles over kept rows)
    out_targets = {}
    winsorized = {}
    if config.winsorize is not None and keep.any():
        a, b = config.winsorize
        for t in targets:
            v = tvals[t].copy()
            qa, qb = np.percentile(v[keep], [a, b])
            clipped = keep & ((v < qa) | (v > qb))
            winsorized[t] = {"low": float(qa), "high": float(qb), "values_clipped": int(clipped.sum())}
            v[keep] = np.clip(v[keep], qa, qb)
            out_targets[t] = (v, clipped)

    # assemble kept table
    ids = table.ids()
    out = standard_frame(table, seqs)
    for t, (v, clipped) in out_targets.items():
        col = out[t].to_numpy(dtype=object).copy()
        col[clipped] = _fmt(v[clipped])
        out[t] = col
    if (flags != "").any():
        out["qc_flag"] = flags
    kept = out.loc[keep].reset_index(drop=True)

    # 9. merge exact duplicates
    merged_rows = 0
    if config.merge != "none" and len(kept):
        kept, merged_rows = merge_duplicates(kept, targets, ses, config.merge)

    rej_cols = df.loc[~keep, cols].copy()
    if "id" not in rej_cols.columns:
        rej_cols.insert(0, "id", ids[~keep])
    rej_cols["qc_reason"] = reason[~keep]
    rej_cols["qc_detail"] = detail[~keep]
    rej_cols["qc_line"] = table.lines[~keep]
    rejects = rej_cols.reset_index(drop=True)

    report = {
        "input": table.name,
        "format": table.fmt,
        "rows_in": int(n),
        "rows_out": int(len(kept)),
        "rows_rejected": int(len(rejects)),
        "rows_merged": int(merged_rows),
        "removed_by_rule": {k: int(v) for k, v in counts.items()},
        "sequences_case_or_space_changed": changed_case,
        "length_policy": {"requested": policy, "applied": applied, "length": target_len,
                          "off_length_fraction": off_fraction, "rows_trimmed_or_padded": int((flags != "").sum())},
        "targets": targets,
        "se_columns": ses,
        "se_rule": config.se_rule if ses else "none (no lfcSE columns)",
        "max_se": config.max_se,
        "se_filter_removed_fraction": se_removed_fraction,
        "rule_b_rows_without_target_cell_se": rule_b_unmatched,
        "advice": advice,
        "winsorized": winsorized,
        "profile_in": profile(seqs[lengths > 0] if n else seqs, {t: tvals[t] for t in targets},
                              {ses[t]: svals[t] for t in ses}),
        "profile_out": profile(kept["sequence"].to_numpy(dtype=object),
                               {t: pd.to_numeric(kept[t], errors="coerce").to_numpy(dtype=np.float64) for t in targets},
                               {ses[t]: pd.to_numeric(kept[ses[t]], errors="coerce").to_numpy(dtype=np.float64) for t in ses}),
    }
    assert report["rows_in"] == report["rows_out"] + report["rows_rejected"] + report["rows_merged"]
    return QCResult(kept, rejects, report)


def merge_duplicates(kept, targets, ses, method):
    """Merge rows with identical cleaned sequences.

    ``median``: per-target median, SE columns set to the median too.
    ``ivw``: inverse-variance weighted mean w = 1/SE^2 with SE = sqrt(1/sum(w));
    targets without an SE column use the arithmetic mean.
    The first row of each group keeps its other columns; ``n_merged`` and
    ``merged_ids`` record what was merged. Returns (table, rows merged away).
    """
    seq = kept["sequence"]
    first = ~seq.duplicated(keep="first")
    dup_any = seq.duplicated(keep=False)
    if not dup_any.any():
        out = kept.copy()
        out["n_merged"] = "1"
        out["merged_ids"] = ""
        return out, 0
    codes, uniques = pd.factorize(seq)
    ngroups = len(uniques)
    sizes = np.bincount(codes, minlength=ngroups)
    out = kept.loc[first.to_numpy()].copy()
    grp_of_out = codes[first.to_numpy()]
    for t in targets:
        y = pd.to_numeric(kept[t], errors="coerce").to_numpy(dtype=np.float64)
        if method == "ivw" and t in ses:
            se = pd.to_numeric(kept[ses[t]], errors="coerce").to_numpy(dtype=np.float64)
            w = 1.0 / se ** 2
            sw = np.bincount(codes, weights=w, minlength=ngroups)
            swy = np.bincount(codes, weights=w * y, minlength=ngroups)
            my, mse = swy / sw, np.sqrt(1.0 / sw)
        elif method == "ivw":
            my = np.bincount(codes, weights=y, minlength=ngroups) / sizes
            mse = None
        else:
            s = pd.Series(y).groupby(codes).median()
            my = s.reindex(range(ngroups)).to_numpy()
            mse = None
            if t in ses:
                se = pd.to_numeric(kept[ses[t]], errors="coerce")
                mse = se.groupby(codes).median().reindex(range(ngroups)).to_numpy()
        multi = sizes[grp_of_out] > 1
        col = out[t].to_numpy(dtype=object).copy()
        col[multi] = _fmt(my[grp_of_out][multi])
        out[t] = col
        if mse is not None and t in ses:
            scol = out[ses[t]].to_numpy(dtype=object).copy()
            scol[multi] = _fmt(mse[grp_of_out][multi])
            out[ses[t]] = scol
    ids = kept["id"].astype(str)
    joined = ids.groupby(codes).agg(";".join).reindex(range(ngroups)).to_numpy()
    out["n_merged"] = sizes[grp_of_out].astype(str)
    out["merged_ids"] = np.where(sizes[grp_of_out] > 1, joined[grp_of_out], "")
    out = out.reset_index(drop=True)
    return out, int(len(kept) - len(out))
