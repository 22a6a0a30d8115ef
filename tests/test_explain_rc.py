"""predict --explain explains the predictions predict writes: reverse-complement averaging
included. ISM against every single mutant predicted by predict itself; saliency and IG
of the strand-averaged function against forward-strand maps of the sequence and of its
reverse complement, and against autograd and finite differences done here; IG's
completeness error written per sequence and task."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import EXAMPLES, read_tsv, run_cli
from toolkit.cli.predict import cli as predict_cli

TARGETS = ["HepG2_l2fc", "K562_l2fc", "WTC11_l2fc"]
COMP = str.maketrans("ACGTN", "TGCAN")
L = 64


def _central(rows, a, b):
    """Rows a..b-1 of the real table, cut to the central L bases as the model sees them (so that
    model positions are sequence positions)."""
    seqs = [s[(len(s) - L) // 2:(len(s) - L) // 2 + L] for s in rows["sequence"].iloc[a:b]]
    assert all(len(s) == L and set(s) <= set("ACGT") for s in seqs)
    return seqs


def invoke(cli, args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """The bundled real lentiMPRA 3-cell table through seqqc | dgsplit, cut to 200 train, 40 val
    and 40 other rows."""
    import pandas as pd

    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    df = pd.concat([df[df["split"] == k].head(n) for k, n in (("train", 200), ("val", 40), ("test", 40))])
    path = tmp_path_factory.mktemp("ex") / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    return df


@pytest.fixture(scope="module")
def model(rows, tmp_path_factory):
    """A quick fit-cre model (cpu preset, 1 epoch, one member, trained with reverse complements) on
    the central 64 nt of each sequence (--length 64), so that attribution stays fast."""
    from toolkit.cli.fit_cre import cli as fit_cli

    out = tmp_path_factory.mktemp("m") / "cre"
    res = invoke(fit_cli, ["-o", out, "--targets", ",".join(TARGETS), "--preset", "cpu", "--epochs", "1",
                           "--ensemble", "1", "--batch-size", "32", "--length", str(L), "--no-baseline", "-q"],
                 input=rows.to_csv(sep="\t", index=False))
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["rc_prob"] > 0 and cfg["length"] == L
    return out


def _table(seqs, ids=None):
    ids = ids or [f"s{i}" for i in range(len(seqs))]
    return "id\tsequence\n" + "".join(f"{i}\t{s}\n" for i, s in zip(ids, seqs))


def _explain(model, seqs, method, tmp_path, *extra):
    """Run predict --explain; returns (predictions float (n, T), maps (n, T, 4, L), h5 datasets dict)."""
    import h5py

    e = tmp_path / f"{method}-{len(list(tmp_path.iterdir()))}.h5"
    res = invoke(predict_cli, ["-m", model, "-q", "--explain", method, "-e", e, *extra], input=_table(seqs))
    assert res.exit_code == 0, res.output
    pred = read_tsv(res.stdout)[[f"pred_{t}" for t in TARGETS]].to_numpy(dtype=float)
    with h5py.File(e) as h5:
        data = {k: h5[k][()] for k in h5}
    return pred, data[method], data


def _predict(model, seqs, *extra):
    res = invoke(predict_cli, ["-m", model, "-q", *extra], input=_table(seqs))
    assert res.exit_code == 0, res.output
    return read_tsv(res.stdout)[[f"pred_{t}" for t in TARGETS]].to_numpy(dtype=float)


def _rc_map(m):
    """Attribution map (..., 4, L) of a reverse-complement sequence in the forward sequence's
    coordinates: base b at position p of the RC is base 3 - b at position L - 1 - p forward."""
    return m[..., ::-1, ::-1]


@pytest.mark.parametrize("flag", [[], ["--no-rc-average"]])
def test_ism_is_every_single_mutant_predicted(model, rows, tmp_path, flag):
    seqs = _central(rows, 0, 2)
    _, ism, _ = _explain(model, seqs, "ism", tmp_path, *flag)
    assert ism.shape == (2, 3, 4, L)
    # brute force: a table of every single-nucleotide mutant, predicted by predict
    muts, where = [], []
    for i, s in enumerate(seqs):
        for p in range(len(s)):
            for b in "ACGT":
                if b != s[p]:
                    muts.append(s[:p] + b + s[p + 1:])
                    where.append((i, "ACGT".index(b), p))
    ref = _predict(model, seqs, *flag)
    mut = _predict(model, muts, *flag)
    want = np.zeros_like(ism, dtype=float)
    for k, (i, b, p) in enumerate(where):
        want[i, :, b, p] = mut[k] - ref[i]
    assert np.abs(want).max() > 0.01
    if not flag:  # the strands disagree: explaining the forward strand alone would show
        fwd = _predict(model, muts, "--no-rc-average") - np.repeat(_predict(model, seqs, "--no-rc-average"), 3 * L, 0)
        assert np.abs(fwd - np.array([want[i, :, b, p] for i, b, p in where])).max() > 1e-3
    assert np.allclose(ism, want, rtol=1e-4, atol=2e-5), np.abs(ism - want).max()


def _onehot(s):
    x = np.zeros((4, len(s)), dtype=np.float32)
    for p, c in enumerate(s):
        if c in "ACGT":
            x[("ACGT").index(c), p] = 1.0
    return x


def _sd(model):
    norm = json.loads((model / "normalization.json").read_text())
    return np.array([norm["targets"][t]["transform"]["steps"][-1]["sd"] for t in TARGETS])


def test_saliency_is_the_gradient_of_the_strand_averaged_prediction(model, rows, tmp_path):
    from toolkit.train.serve import load

    seqs = _central(rows, 2, 4)
    rcs = [s.translate(COMP)[::-1] for s in seqs]
    _, avg, _ = _explain(model, seqs, "saliency", tmp_path)
    _, fwd, _ = _explain(model, seqs + rcs, "saliency", tmp_path, "--no-rc-average")
    # chain rule: d/dx 0.5 (f(x) + f(rc x)) = 0.5 (f'(x) + f'(rc x) mapped back to forward coordinates)
    want = 0.5 * (fwd[:2] + _rc_map(fwd[2:]))
    assert np.abs(avg - fwd[:2]).max() > 1e-3 * np.abs(avg).max()
    assert np.allclose(avg, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
    # against autograd of the network here: forward strand, and the strand average with the RC
    # branch fed the one-hot of the reverse-complement string, its gradient mapped back base by base
    # (the network is piecewise linear with max pooling: finite differences do not converge on it)
    net = load(str(model), torch.device("cpu")).model.eval()
    sd = _sd(model)

    def grad(strings, t):
        x = torch.tensor(np.stack([_onehot(s) for s in strings]), requires_grad=True)
        (g,) = torch.autograd.grad(net(x, None)[:, t].sum(), x)
        return g.numpy().astype(np.float64) * sd[t]

    for t in range(3):
        gf, gr = grad(seqs, t), grad(rcs, t)
        back = np.zeros_like(gr)
        for c in range(4):
            for p in range(L):
                back[:, "ACGT".index("TGCA"[c]), L - 1 - p] = gr[:, c, p]
        assert np.allclose(fwd[:2, t], gf, rtol=1e-4, atol=1e-6 * np.abs(gf).max())
        assert np.allclose(avg[:, t], 0.5 * (gf + back), rtol=1e-4, atol=1e-6 * np.abs(gf).max())


def _check_completeness(model, seqs, tmp_path, *flag):
    pred, ig, data = _explain(model, seqs, "ig", tmp_path, *flag)
    err = data["ig_completeness_error"]
    assert err.shape == (len(seqs), 3) and err.dtype == np.float32
    # f(zero baseline) is the prediction of an all-N sequence, as predict writes it
    base = _predict(model, ["N" * L], *[f for f in flag if "rc" in f])[0]
    delta = pred - base
    want = np.abs(ig.sum(axis=(2, 3), dtype=np.float64) - delta) / np.abs(delta)
    assert np.allclose(err, want, rtol=1e-3, atol=1e-4)
    return err


@pytest.mark.parametrize("flag", [[], ["--no-rc-average"]])
def test_ig_completeness_error_is_written(model, rows, tmp_path, flag):
    err = _check_completeness(model, _central(rows, 4, 6), tmp_path, "--ig-steps", "4", *flag)
    assert np.isfinite(err).all()


@pytest.mark.slow
def test_ig_completeness_error_is_small_at_the_default_steps(model, rows, tmp_path):
    err = _check_completeness(model, _central(rows, 4, 12), tmp_path)
    assert np.median(err) < 0.05


def test_ig_explains_the_strand_averaged_prediction(model, rows, tmp_path):
    # the straight path from the zero baseline to rc(x) is the RC of the path to x, so IG of the
    # averaged function is the mean of the strands' forward IG, the RC one mapped back
    seqs = _central(rows, 8, 10)
    rcs = [s.translate(COMP)[::-1] for s in seqs]
    _, avg, _ = _explain(model, seqs, "ig", tmp_path, "--ig-steps", "8")
    _, fwd, _ = _explain(model, seqs + rcs, "ig", tmp_path, "--ig-steps", "8", "--no-rc-average")
    want = 0.5 * (fwd[:2] + _rc_map(fwd[2:]))
    assert np.abs(avg - fwd[:2]).max() > 1e-3 * np.abs(avg).max()
    assert np.allclose(avg, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_cli_default_ig_steps_is_the_library_default():
    from toolkit.train.serve import IG_STEPS

    opt = next(p for p in predict_cli.params if p.name == "ig_steps")
    assert opt.default == IG_STEPS


def test_ism_of_a_motif_prior_model_gives_each_mutant_its_own_motif_scores(rows, tmp_path):
    # the motif prior is computed from the sequence, so predicting a mutant recomputes it
    from toolkit.cli.fit_cre import cli as fit_cli

    out = tmp_path / "mp"
    settings = tmp_path / "no_kmer_prior.toml"
    settings.write_text("[model]\nkmer_prior = false\n")
    res = invoke(fit_cli, ["-o", out, "--targets", ",".join(TARGETS), "--preset", "cpu", "--epochs", "1",
                           "--ensemble", "1", "--batch-size", "32", "--length", str(L), "--no-baseline",
                           "--config", settings, "--motif-prior", "HepG2", "-q"],
                 input=rows.to_csv(sep="\t", index=False))
    assert res.exit_code == 0, res.output
    seqs = _central(rows, 0, 1)
    _, ism, _ = _explain(out, seqs, "ism", tmp_path)
    s = seqs[0]
    muts = [s[:p] + b + s[p + 1:] for p in range(L) for b in "ACGT" if b != s[p]]
    want = np.zeros_like(ism, dtype=float)
    d = _predict(out, muts) - _predict(out, seqs)[0]
    for k, (p, b) in enumerate((p, b) for p in range(L) for b in "ACGT" if b != s[p]):
        want[0, :, "ACGT".index(b), p] = d[k]
    assert np.allclose(ism, want, rtol=1e-4, atol=2e-5), np.abs(ism - want).max()


def test_contribution_scores_hand_worked():
    """The logo letters: for saliency/IG the map at the observed base; for ISM minus the mean of
    the three substitutions (worked by hand: at 'A' with deltas C 0.3, G -0.6, T 0.9 the base
    contributes -(0.3 - 0.6 + 0.9) / 3 = -0.2); N positions and other bases stay 0."""
    from toolkit.evaluate.plots import contribution_scores

    att = np.array([[0.0, 0.5, 0.1, 7.0],     # A
                    [0.3, 0.0, 0.2, 7.0],     # C
                    [-0.6, 0.4, 0.0, 7.0],    # G
                    [0.9, -0.3, 0.6, 7.0]])   # T
    ism = contribution_scores("ACGN", att, "ism")
    want = np.zeros((4, 4))
    want[0, 0], want[1, 1], want[2, 2] = -0.2, -(0.5 + 0.4 - 0.3) / 3, -(0.1 + 0.2 + 0.6) / 3
    assert np.allclose(ism, want)
    sal = contribution_scores("TGCA", att, "saliency")
    want = np.zeros((4, 4))
    want[3, 0], want[2, 1], want[1, 2], want[0, 3] = 0.9, 0.4, 0.2, 7.0
    assert np.allclose(sal, want)


def test_plot_draws_the_first_sequences_maps(model, rows, tmp_path):
    """--plot writes a PNG of the maps predict wrote: the figure has one logo per sequence and
    target (first 3 sequences), whose letters are the ISM contributions of the observed bases
    computed here from the HDF5 maps; --plot without --explain is a usage error."""
    import matplotlib.image as mpimg

    from toolkit.evaluate.plots import attribution_logos

    seqs = _central(rows, 0, 4)
    png, e = tmp_path / "maps.png", tmp_path / "maps.h5"
    res = invoke(predict_cli, ["-m", model, "-q", "--explain", "ism", "-e", e, "--plot", png], input=_table(seqs))
    assert res.exit_code == 0, res.output
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 9 * 100 and img.shape[1] > 500
    import h5py

    with h5py.File(e) as h5:
        maps = h5["ism"][()]
    fig = attribution_logos([(f"s{i} {t}", seqs[i], maps[i, j]) for i in range(3) for j, t in enumerate(TARGETS)],
                            "ism")
    assert len(fig.axes) == 9
    # each panel spans its letters: from the most negative to the most positive contribution,
    # computed here from the maps (minus the mean of the three substitutions at each position)
    for k, ax in enumerate(fig.axes):
        i, j = divmod(k, len(TARGETS))
        m = maps[i, j]
        obs = ["ACGT".index(b) for b in seqs[i]]
        score = np.array([-(m[:, p].sum() - m[obs[p], p]) / 3 for p in range(L)])
        assert np.allclose(ax.get_ylim(), (min(score.min(), 0), max(score.max(), 0)), rtol=1e-5, atol=1e-7)
    res = invoke(predict_cli, ["-m", model, "-q", "--plot", tmp_path / "x.png"], input=_table(seqs))
    assert res.exit_code == 2 and "--explain" in res.output
