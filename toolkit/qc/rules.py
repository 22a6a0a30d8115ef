"""seqqc: the QC rules for CRE activity tables, in order (empty sequence, alphabet, length,
N fraction, non-finite targets and SEs, SE bounds, the SE filter), then the optional
winsorising and merging of duplicates.

Each rule looks only at rows no earlier rule rejected, so every rejected row has
exactly one reason and the report's counts add up:
``rows_in = rows_out + rows_rejected + rows_merged``.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io.tables import CHUNK_ROWS, parse_numeric, se_columns, standard_frame, target_columns, target_cell_name
from ..seq.arrays import PackedSeqs
from .profile import ProfileAccumulator

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
WINDOW_REASONS = ("unknown_chrom", "out_of_bounds", "empty_region", "partial_window")
LENGTH_POLICIES = ("auto", "drop", "trim-pad", "none")
SE_RULES = ("A", "B", "none")
MERGE_METHODS = ("none", "median", "ivw")
RULE_A_ADVICE_FRACTION = 0.30


@dataclass
class QCConfig:
    """seqqc options with their defaults."""

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
    """Format modified floats compactly (10 significant digits)."""
    return np.array([("" if not np.isfinite(v) else repr(float(np.float64(f"{v:.10g}")))) for v in values],
                    dtype=object)


def run_qc(table, config):
    """Apply the QC rules to a whole :class:`~toolkit.io.tables.SeqTable` (see :class:`QCRun`)."""
    run = QCRun(config)
    kept, rejects = run.process(table)
    final, report = run.finish()
    return QCResult(final if final is not None else kept, rejects, report)


class QCRun:
    """The QC rules applied to a stream of table chunks, in bounded memory.

    Call :meth:`process` for each chunk (it returns the chunk's kept and
    rejected rows), then :meth:`finish` for the report. Decisions that need the
    library as a whole are taken on the first chunk (up to 100,000 rows): the
    default length (the most common one) and the ``auto`` length policy.
    Winsorizing and duplicate merging need every kept row: with either, kept
    rows are held back by :meth:`process` (it returns None for them) and
    :meth:`finish` returns them all.

    Output tables: ``id`` + input columns (sequence column renamed ``sequence``,
    cleaned), plus ``qc_flag`` under the trim-pad policy and
    ``n_merged``/``merged_ids`` when duplicates are merged. Rejects: ``id`` + the
    input columns as read + ``qc_reason``, ``qc_detail``, ``qc_line``.
    """

    def __init__(self, config):
        config.validate()
        self.config = config
        self.started = False
        self.counts = {name: 0 for name in WINDOW_REASONS + RULES}
        self.rows_in = 0
        self.rows_kept = 0
        self.rows_rejected = 0
        self.changed_case = 0
        self.off_length = 0
        self.alive_at_length = 0
        self.flagged = 0
        self.before_se = 0
        self.rule_b_unmatched = 0
        self.held = []
        self.buffering = config.winsorize is not None or config.merge != "none"
        self.name = None
        self.fmt = None

    def _start(self, table):
        cfg = self.config
        self.name, self.fmt = table.name, table.fmt
        cols = [c for c in table.df.columns if not c.startswith("_")]
        self.targets = target_columns(cols, cfg.targets)
        self.ses = se_columns(cols, self.targets)
        if cfg.se_rule == "B" and self.ses and cfg.target_cell_col not in cols:
            raise ConfigError(f"--se-rule B needs a '{cfg.target_cell_col}' column", file=table.name, line=1,
                              hint="use --se-rule A, or name the column with --target-cell-col")
        self.prof_in = ProfileAccumulator(self.targets, list(self.ses.values()))
        self.prof_out = ProfileAccumulator(self.targets, list(self.ses.values()))
        # length decisions on the first chunk
        seqs = table.df[table.seq_col].str.strip().str.upper().to_numpy(dtype=object)
        packed = PackedSeqs(seqs)
        ok = (packed.lengths > 0) & (packed.invalid() == 0)
        if "_qc_reject" in table.df:  # windows already rejected (e.g. partial tiles) do not count
            ok &= table.df["_qc_reject"].to_numpy(dtype=object) == ""
        self.length = cfg.length
        if self.length is None and ok.any():
            vals, cnt = np.unique(packed.lengths[ok], return_counts=True)
            self.length = int(vals[np.argmax(cnt)])
        off = float((ok & (packed.lengths != (self.length or 0))).sum() / max(ok.sum(), 1))
        self.first_off_fraction = off
        self.policy = cfg.length_policy
        if self.policy == "auto":
            self.policy = "drop" if off < cfg.length_tolerance else "trim-pad"
        self.started = True

    def decide(self, table):
        """Take the library-wide decisions (default length, ``auto`` policy) on ``table``, the
        input's first chunk, before any rows are processed: a run over part of the input
        (seqqc --shard) then decides as the run over all of it does."""
        if not self.started:
            self._start(table)

    def process(self, table):
        """QC one chunk. Returns (kept DataFrame or None while buffering, rejects DataFrame)."""
        if not self.started:
            self._start(table)
        cfg = self.config
        df = table.df
        n = len(df)
        reason = np.full(n, "", dtype=object)
        detail = np.full(n, "", dtype=object)
        counts = self.counts

        def reject(mask, name, details=None):
            """Reject rows in ``mask`` not rejected yet; ``details(idx)`` describes them (computed lazily)."""
            idx = np.flatnonzero(mask & (reason == ""))
            reason[idx] = name
            if details is not None and len(idx):
                detail[idx] = details(idx) if callable(details) else details
            counts[name] += len(idx)

        # windows that could not be fetched from the genome (BED input)
        if "_qc_reject" in df:
            wr = df["_qc_reject"].to_numpy(dtype=object)
            wd = df["_qc_detail"].to_numpy(dtype=object) if "_qc_detail" in df else None
            for name in WINDOW_REASONS:
                reject(wr == name, name, None if wd is None else (lambda idx: wd[idx]))
        n_pad = df["_n_pad"].to_numpy(dtype=np.int64).copy() if "_n_pad" in df else np.zeros(n, dtype=np.int64)

        # 1. uppercase and strip
        raw = df[table.seq_col]
        cleaned = raw.str.strip().str.upper()
        self.changed_case += int((cleaned != raw).sum())
        seqs = cleaned.to_numpy(dtype=object)
        packed = PackedSeqs(seqs)
        lengths = packed.lengths

        # 2. alphabet
        reject(lengths == 0, "empty_sequence")
        bad = packed.invalid()
        reject(bad > 0, "alphabet", lambda idx: [f"{k} character(s) outside ACGTN" for k in bad[idx]])

        # 3. length policy
        L = self.length
        alive = reason == ""
        off = alive & (lengths != (L or 0))
        self.alive_at_length += int(alive.sum())
        self.off_length += int(off.sum())
        flags = np.full(n, "", dtype=object)
        if self.policy == "drop":
            reject(off, "length", lambda idx: [f"length {k} != {L}" for k in lengths[idx]])
        elif self.policy == "trim-pad":
            for i in np.flatnonzero(off):
                s, k = seqs[i], lengths[i]
                if k > L:
                    a = (k - L) // 2
                    seqs[i] = s[a:a + L]
                    flags[i] = f"trimmed_from_{k}"
                else:
                    a = (L - k) // 2
                    seqs[i] = "N" * a + s + "N" * (L - k - a)
                    n_pad[i] += L - k
                    flags[i] = f"padded_from_{k}"
            if off.any():
                packed = PackedSeqs(seqs)
                lengths = packed.lengths
            self.flagged += int(off.sum())

        # 4. N fraction (Ns added by padding or clipping do not count)
        n_frac = (packed.count_bytes("N") - n_pad) / np.maximum(lengths - n_pad, 1)
        reject(n_frac > cfg.max_n_frac, "n_fraction",
               lambda idx: [f"N fraction {f:.4f} > {cfg.max_n_frac}" for f in n_frac[idx]])

        # 5. non-finite targets and standard errors
        tvals = {t: parse_numeric(table, t) for t in self.targets}
        svals = {t: parse_numeric(table, c) for t, c in self.ses.items()}
        for t in self.targets:
            reject(~np.isfinite(tvals[t]), "nonfinite_target", f"{t} is missing or not finite")
        for t, c in self.ses.items():
            reject(~np.isfinite(svals[t]), "nonfinite_se", f"{c} is missing or not finite")

        # 6. SE sanity bounds (lo, hi), exclusive
        lo, hi = cfg.se_bounds
        for t, c in self.ses.items():
            v = svals[t]
            reject((v <= lo) | (v >= hi), "se_out_of_bounds",
                   lambda idx, v=v, c=c: [f"{c} = {x:.4g} outside ({lo:g}, {hi:g})" for x in v[idx]])

        # 7. lfcSE filter
        self.before_se += int((reason == "").sum())
        if self.ses and cfg.se_rule == "A":
            worst = np.max(np.column_stack([svals[t] for t in self.ses]), axis=1)
            reject(worst > cfg.max_se, "se_filter",
                   lambda idx: [f"max lfcSE {x:.4g} > {cfg.max_se:g} (rule A)" for x in worst[idx]])
        elif self.ses and cfg.se_rule == "B":
            cell = df[cfg.target_cell_col].to_numpy(dtype=object)
            own = np.full(n, np.nan)
            for t in self.ses:
                own = np.where(cell == target_cell_name(t), svals[t], own)
            self.rule_b_unmatched += int(((reason == "") & np.isnan(own)).sum())
            reject(np.nan_to_num(own, nan=-np.inf) > cfg.max_se, "se_filter",
                   lambda idx: [f"target-cell lfcSE {x:.4g} > {cfg.max_se:g} (rule B)" for x in own[idx]])

        keep = reason == ""
        valid = lengths > 0
        self.prof_in.add(seqs[valid], {t: v[valid] for t, v in tvals.items()},
                         {self.ses[t]: v[valid] for t, v in svals.items()})

        out = standard_frame(table, seqs)
        if self.policy == "trim-pad":
            out["qc_flag"] = flags
        kept = out.loc[keep].reset_index(drop=True)
        rej = df.loc[~keep, [c for c in df.columns if not c.startswith("_")]].copy()
        if "id" not in rej.columns:
            rej.insert(0, "id", table.ids()[~keep])
        rej["qc_reason"] = reason[~keep]
        rej["qc_detail"] = detail[~keep]
        rej["qc_line"] = table.lines[~keep]
        rej = rej.reset_index(drop=True)
        self.rows_in += n
        self.rows_rejected += len(rej)
        if self.buffering:
            self.held.append(kept)
            return None, rej
        self.rows_kept += len(kept)
        self._profile_out(kept)
        return kept, rej

    def _profile_out(self, kept):
        num = {t: pd.to_numeric(kept[t], errors="coerce").to_numpy(dtype=np.float64) for t in self.targets}
        se = {c: pd.to_numeric(kept[c], errors="coerce").to_numpy(dtype=np.float64) for c in self.ses.values()}
        self.prof_out.add(kept["sequence"].to_numpy(dtype=object), num, se)

    def finish(self):
        """Finish the run. Returns (held-back kept rows or None, report dict)."""
        cfg = self.config
        final = None
        merged_rows = 0
        winsorized = {}
        if self.buffering:
            final = pd.concat(self.held, ignore_index=True) if self.held else pd.DataFrame()
            self.held = []
            if cfg.winsorize is not None and len(final):
                final, winsorized = winsorize(final, self.targets, cfg.winsorize)
            if cfg.merge != "none" and len(final):
                final, merged_rows = merge_duplicates(final, self.targets, self.ses, cfg.merge)
            self.rows_kept = len(final)
            if len(final):
                self._profile_out(final)
        se_removed = self.counts["se_filter"]
        se_fraction = se_removed / self.before_se if self.before_se else 0.0
        advice = None
        if cfg.se_rule == "A" and self.ses and se_fraction > RULE_A_ADVICE_FRACTION:
            advice = (f"Rule A removed {se_fraction:.1%} of the rows that reached it (> 30%): "
                      "consider raising --max-se to 0.6, or --se-rule B with SE-weighted training")
        report = {
            "input": self.name,
            "format": self.fmt,
            "rows_in": int(self.rows_in),
            "rows_out": int(self.rows_kept),
            "rows_rejected": int(self.rows_rejected),
            "rows_merged": int(merged_rows),
            "removed_by_rule": {k: int(v) for k, v in self.counts.items()},
            "sequences_case_or_space_changed": self.changed_case,
            "length_policy": {"requested": cfg.length_policy, "applied": self.policy, "length": self.length,
                              "decided_on_first_rows": CHUNK_ROWS,
                              "off_length_fraction_first_rows": self.first_off_fraction,
                              "off_length_fraction": self.off_length / max(self.alive_at_length, 1),
                              "rows_trimmed_or_padded": self.flagged},
            "targets": self.targets,
            "se_columns": self.ses,
            "se_rule": cfg.se_rule if self.ses else "none (no lfcSE columns)",
            "max_se": cfg.max_se,
            "se_filter_removed_fraction": se_fraction,
            "rule_b_rows_without_target_cell_se": self.rule_b_unmatched,
            "advice": advice,
            "winsorized": winsorized,
            "profile_in": self.prof_in.result(),
            "profile_out": self.prof_out.result(),
        }
        if report["rows_in"] != report["rows_out"] + report["rows_rejected"] + report["rows_merged"]:
            raise RuntimeError("seqqc bookkeeping does not add up")  # a bug, never bad data
        return final, report


def winsorize(kept, targets, percentiles):
    """Clip each target column to the given percentiles of its kept values.

    Returns (table with clipped values rewritten, {target: {low, high, values_clipped}}).
    """
    a, b = percentiles
    out = kept.copy()
    info = {}
    for t in targets:
        v = pd.to_numeric(out[t], errors="coerce").to_numpy(dtype=np.float64)
        qa, qb = np.percentile(v, [a, b])
        clipped = (v < qa) | (v > qb)
        col = out[t].to_numpy(dtype=object).copy()
        col[clipped] = _fmt(np.clip(v[clipped], qa, qb))
        out[t] = col
        info[t] = {"low": float(qa), "high": float(qb), "values_clipped": int(clipped.sum())}
    return out, info


def _ivw(y, se, codes, ngroups):
    """Inverse-variance weighted mean and its SE per group, computed with weights relative
    to the group's smallest SE, ``(se_min / se)^2`` in (0, 1], so that an SE below ~1e-154
    (whose square underflows) or above ~1e154 gives the right answer, not 1/0 or inf/inf.
    Rows with SE 0 in a group carry all the weight (their mean, SE 0).

    y, se, codes: (n,) arrays; returns (ngroups,) mean and SE.
    """
    s0 = pd.Series(se).groupby(codes).min().reindex(range(ngroups)).to_numpy()
    ref = s0[codes]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(ref > 0, (ref / se) ** 2, (se == 0).astype(np.float64))
        sw = np.bincount(codes, weights=w, minlength=ngroups)
        swy = np.bincount(codes, weights=w * y, minlength=ngroups)
        return swy / sw, s0 / np.sqrt(sw)


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
            my, mse = _ivw(y, se, codes, ngroups)
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
