"""evalboot --compare with --group-col: the Fisher z test of two correlations takes the number
of groups, not of rows, as its sample size (rows of a group are not independent).

Real data: the 400-row lentiMPRA table, whose rows are 200 elements each measured in the
forward and the reverse orientation (one group per element); the two predictions are made
from the measurement with seeded noise."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss

from conftest import DATA, read_tsv, run_cli

LENTI = DATA / "lentimpra_HepG2_400.tsv"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    df = pd.read_csv(LENTI, sep="\t")
    rng = np.random.default_rng(5)
    df["pred_mean_value"] = (0.8 * df["mean_value"] + rng.normal(0, 0.4, len(df))).round(4)
    df["base_mean_value"] = (0.5 * df["mean_value"] + rng.normal(0, 0.6, len(df))).round(4)
    df["element"] = df["seq_id"].str.replace("_Reversed:", "", regex=False)
    path = tmp_path_factory.mktemp("groups") / "pred.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path, df


def meng_rosenthal_rubin(r1, r2, r12, n):
    """z of two dependent correlations sharing a variable (Meng, Rosenthal & Rubin 1992, eq. 1),
    written from the paper, and its two-sided p-value from scipy's normal distribution."""
    rbar2 = (r1 ** 2 + r2 ** 2) / 2
    f = min((1 - r12) / (2 * (1 - rbar2)), 1.0)
    h = (1 - f * rbar2) / (1 - rbar2)
    z = (np.arctanh(r1) - np.arctanh(r2)) * math.sqrt((n - 3) / (2 * (1 - r12) * h))
    return z, 2 * ss.norm.sf(abs(z))


def fisher_record(args):
    res = run_cli("evalboot", [*args, "--truth", "mean_value", "--pred", "pred_mean_value",
                               "--compare", "base_mean_value", "--bootstrap", "0", "--output-format", "tsv"])
    assert res.exit_code == 0, res.stderr
    out = read_tsv(res.stdout)
    rec = out[(out["section"] == "compare") & (out["metric"] == "fisher_z")]
    assert len(rec) == 1
    return rec.iloc[0], res.stderr


def test_fisher_z_uses_the_number_of_groups(table):
    path, df = table
    groups = df["element"].nunique()
    assert groups == 200 and len(df) == 400
    y, a, b = df["mean_value"], df["pred_mean_value"], df["base_mean_value"]
    r1, r2, r12 = ss.pearsonr(y, a)[0], ss.pearsonr(y, b)[0], ss.pearsonr(a, b)[0]

    rows, _ = fisher_record([path])
    z_rows, p_rows = meng_rosenthal_rubin(r1, r2, r12, len(df))
    assert int(rows["n"]) == len(df)
    assert float(rows["value"]) == pytest.approx(z_rows, rel=1e-6)
    assert float(rows["p_value"]) == pytest.approx(p_rows, rel=1e-4)

    grouped, stderr = fisher_record([path, "--group-col", "element"])
    z_groups, p_groups = meng_rosenthal_rubin(r1, r2, r12, groups)
    assert int(grouped["n"]) == groups
    assert float(grouped["value"]) == pytest.approx(z_groups, rel=1e-6)
    assert float(grouped["p_value"]) == pytest.approx(p_groups, rel=1e-4)
    assert abs(float(grouped["value"])) < abs(float(rows["value"]))       # fewer independent units
    assert "fisher_z takes the 200 groups as its sample size" in stderr


def test_help_says_what_group_col_does_to_the_z_test():
    res = run_cli("evalboot", ["--help"])
    text = " ".join(res.stdout.split())
    assert "Fisher z test of --compare then takes the number of groups" in text
