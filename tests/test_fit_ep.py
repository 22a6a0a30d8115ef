"""fit-ep, the enhancer-promoter model (design 002): the pieces against their formulas
(gradient reversal, energy, correlation loss, IMMAX margins, weight schedule, threshold),
the cell-line batch sampler, the curriculum, the coordinate path on a FASTA, predict on a
cell line never seen in training, and (slow) recovery of a planted, cell-line-specific
grammar above the distance and propensity baselines. Resume, determinism, torchrun and the
model directory refusals: test_training_shared.py, for every family.

The data are synthetic on purpose (no hg19 FASTA here): the genome and the pairs of
share/examples/ep/make_synthetic_ep.py, a known answer, shrunk to a few hundred pairs."""

import gzip
import importlib.util
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import EXAMPLES, read_tsv
from toolkit.cli.evalboot import cli as evalboot_cli
from toolkit.cli.fit_ep import cli as fit_cli
from toolkit.cli.predict import cli as predict_cli
from toolkit.models import ep as M
from toolkit.train import data as D
from toolkit.train import ep as trainer

WINDOWS = ["--enhancer-length", "320", "--promoter-length", "320"]
FAST = ["--epochs", "3", "--batch-size", "32", "--support-size", "16", "-q", *WINDOWS]


def invoke(cli, args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def _generator():
    spec = importlib.util.spec_from_file_location("make_synthetic_ep", EXAMPLES / "ep" / "make_synthetic_ep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small synthetic genome (plain FASTA) and ~1,000 pairs in the TargetFinder layout, split
    by hand: cellA held out (its pairs on chr1 are the test rows; the rest excluded), the other
    cell lines on chr2 val and on chr3-4 train; test labels replaced by text that must never be read."""
    gen = _generator()
    d = tmp_path_factory.mktemp("ep")
    genome, pairs, truth, grammar = gen.make(seed=3, n_chroms=4, enhancers_per_chrom=120, promoters_per_chrom=30)
    fa = gen.write_fasta(genome, str(d / "genome.fa"))
    held = pairs["cell"] == "cellA"
    split = np.where(held, np.where(pairs["enhancer_chrom"] == "chr1", "test", "excluded"),
                     np.where(pairs["enhancer_chrom"] == "chr1", "excluded",
                              np.where(pairs["enhancer_chrom"] == "chr2", "val", "train")))
    df = pairs.astype(str).copy()
    df["split"] = split
    df.loc[df["split"] == "test", "label"] = "not-read"
    path = d / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    return {"dir": d, "genome": fa, "split": path, "pairs": pairs, "truth": truth, "genome_seqs": genome}


@pytest.fixture(scope="module")
def model_dir(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "ep"
    res = invoke(fit_cli, [tiny["split"], "--genome", tiny["genome"], "-o", out, *FAST])
    assert res.exit_code == 0, res.output
    return out


# ---------------------------------------------------------------------------- the pieces

def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = M.grad_reverse(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [-0.5, -1.0, -1.5]
    # in the model: the classifier learns the cell line, f_I gets the reversed gradient
    torch.manual_seed(0)
    m = M.EPModel(3, channels=4, kernel=3, blocks=0, d=5, modules=2)
    z = torch.rand(6, 5, requires_grad=True)
    torch.nn.functional.cross_entropy(m.domain_logits(z, 1.0), torch.zeros(6, dtype=torch.long)).backward()
    g_rev = z.grad.clone()
    z.grad = None
    torch.nn.functional.cross_entropy(m.classifier(z), torch.zeros(6, dtype=torch.long)).backward()
    assert torch.allclose(g_rev, -z.grad)


@pytest.mark.parametrize("modules", [1, 3])
def test_energy_equals_the_formula(modules):
    torch.manual_seed(1)
    m = M.EPModel(4, channels=4, kernel=3, blocks=0, d=6, modules=modules)
    with torch.no_grad():
        m.lam.fill_(-0.3)
        m.t.fill_(0.4)
    z_I, z_E = torch.rand(5, 6), torch.rand(6)
    U = z_I @ m.g_I.weight.T + m.g_I.bias                                  # (5, K)
    zn = (z_E - z_E.mean()) / torch.sqrt(z_E.var(unbiased=False) + 1e-5)  # standardised across components
    R = torch.log1p(torch.exp(zn @ m.g_E.weight.T + m.g_E.bias))          # softplus, (K,)
    T = math.log1p(math.exp(0.4))
    want = ((U - R + (-0.3) * U * R) / T).sum(dim=1)
    got = m.energy(z_I, z_E)
    assert torch.allclose(got, want, atol=1e-6)
    if modules == 1:   # the design's scalar formula, as a probability
        p = torch.sigmoid(got)
        u, r = U[:, 0], R[0]
        assert torch.allclose(p, torch.sigmoid((u - r + (-0.3) * u * r) / T), atol=1e-6)
        assert (R >= 0).all()
    # curriculum: R_E = 0 and lambda = 0
    assert torch.allclose(m.energy(z_I, z_E, env=False), U.sum(dim=1) / T, atol=1e-6)
    # temperature starts at softplus(0) = ln 2 and can be clamped to [0.5, 2]
    assert float(M.EPModel(2).temperature().detach()) == pytest.approx(math.log(2))
    c = M.EPModel(2, clamp_temperature=True)
    with torch.no_grad():
        c.t.fill_(-5.0)
    assert float(c.temperature().detach()) == 0.5
    # the fallback: (sum U + U Lambda_U z_E + lambda_R z_E) / T
    lin = M.EPModel(4, channels=4, kernel=3, blocks=0, d=6, modules=modules, energy="linear")
    lin.load_state_dict(m.state_dict())
    with torch.no_grad():
        lin.lam_R.copy_(torch.linspace(-1, 1, 6))
    want = (U.sum(dim=1) + (U @ lin.lam_U) @ zn + lin.lam_R @ zn) / T
    assert torch.allclose(lin.energy(z_I, z_E), want, atol=1e-6)


def _distance_by_hand(values, missing, d, span=(3.0, 6.5)):
    """h(d) written independently: numpy's linear interpolation of the knot values over
    log10(d + 1) (flat beyond the ends and beyond ``span``), the missing value where d is NaN."""
    d = np.asarray(d, dtype=np.float64)
    knots = np.arange(3.0, 6.75, 0.5)                   # 1 kb .. 10^6.5 bp, every half decade
    x = np.clip(np.log10(np.abs(np.where(np.isfinite(d), d, 0.0)) + 1), *span)
    return np.where(np.isfinite(d), np.interp(x, knots, values), missing)


def test_distance_term_is_a_piecewise_linear_function_of_log_distance():
    torch.manual_seed(0)
    m = M.EPModel(3, channels=4, kernel=3, blocks=0, d=6, modules=2, energy="linear", distance=True)
    z_I, z_E = torch.rand(7, 6), torch.rand(6)
    d = torch.tensor([0.0, 500.0, 2_000.0, 31_622.0, 250_000.0, 5e7, float("nan")])
    # an untrained term adds nothing, whatever the distance
    assert torch.allclose(m.energy(z_I, z_E, distance=d), m.energy(z_I, z_E), atol=0)
    plain = M.EPModel(3, channels=4, kernel=3, blocks=0, d=6, modules=2, energy="linear")
    plain.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("distance.")})
    values = np.array([1.5, 1.0, 0.2, -0.4, -1.0, -1.3, -2.0, -2.2])
    with torch.no_grad():
        m.distance.values.copy_(torch.as_tensor(values))
        m.distance.missing.fill_(-3.0)
    want = plain.energy(z_I, z_E).detach().double().numpy() + _distance_by_hand(values, -3.0, d.numpy())
    assert np.allclose(m.energy(z_I, z_E, distance=d).detach().double().numpy(), want, atol=1e-5)
    assert np.allclose(m.energy(z_I, z_E, env=False, distance=d).detach().double().numpy(),
                       plain.energy(z_I, z_E, env=False).detach().double().numpy() + _distance_by_hand(values, -3.0, d),
                       atol=1e-5)
    # a signed distance: its magnitude
    assert torch.allclose(m.energy(z_I[:2], z_E, distance=torch.tensor([-20_000.0, -500.0])),
                          m.energy(z_I[:2], z_E, distance=torch.tensor([20_000.0, 500.0])))
    # no distances given: every pair gets the missing value
    assert np.allclose(m.energy(z_I, z_E).detach().double().numpy(), plain.energy(z_I, z_E).detach().double().numpy() - 3.0, atol=1e-5)
    # the task gradient reaches the two knots around a distance and nothing else
    m.zero_grad()
    m.energy(z_I[:1], z_E, distance=torch.tensor([20_000.0])).sum().backward()
    g = m.distance.values.grad.numpy()
    assert np.flatnonzero(g).tolist() == [2, 3] and g.sum() == pytest.approx(1.0, abs=1e-5)
    assert float(m.distance.missing.grad) == 0.0
    # a model without the term ignores distances; a config.json written before the term builds without it
    assert torch.equal(plain.energy(z_I, z_E, distance=d), plain.energy(z_I, z_E))
    # flat beyond the train distances' span (here 10^3.5 - 1 to 10^5 - 1 bp)
    spanned = M.EPModel(3, channels=4, kernel=3, blocks=0, d=6, modules=2, energy="linear", distance=True,
                        distance_span=(3.5, 5.0))
    spanned.load_state_dict(m.state_dict())
    far = torch.tensor([10.0, 3_161.0, 99_999.0, 1e6, 3e6, float("nan")])
    got = (spanned.energy(z_I[:6], z_E, distance=far) - plain.energy(z_I[:6], z_E)).detach().double().numpy()
    assert np.allclose(got, _distance_by_hand(values, -3.0, far.numpy(), (3.5, 5.0)), atol=1e-5)
    assert got[0] == pytest.approx(got[1], abs=1e-5) and got[2] == pytest.approx(got[3], abs=1e-5) == got[4]
    cfg = {"cells": ["a"], "model": {k: v for k, v in M.PRESETS["cpu"].items() if k != "distance"}}
    cfg["model"]["clamp_temperature"] = False
    assert M.build(cfg).distance is None
    assert M.build({**cfg, "model": {**cfg["model"], "distance": True}}).distance is not None


def test_full_preset_takes_the_published_windows():
    cfg = {"cells": ["a", "b"], "model": {**{k: v for k, v in M.PRESETS["full"].items()
                                             if k in ("channels", "kernel", "blocks", "pool", "d", "env_hidden",
                                                      "modules", "dropout", "strands", "env_input")},
                                          "energy": "interaction", "clamp_temperature": False}}
    m = M.build(cfg).eval()
    xe = torch.nn.functional.one_hot(torch.randint(0, 4, (2, 3000)), 4).float().transpose(1, 2)
    xp = torch.nn.functional.one_hot(torch.randint(0, 4, (2, 2000)), 4).float().transpose(1, 2)
    with torch.no_grad():
        out = m(xe, xp, m.environment(xe, xp))
    assert out.shape == (2,) and torch.isfinite(out).all()


def test_stem_reads_both_strands():
    """strands=2: a sequence and its reverse complement give the same pooled features (a motif
    is found in either orientation by one filter); strands=1 does not. An old config without
    the keys builds the model it was trained as (one strand, e from both sequences)."""
    torch.manual_seed(0)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 50)), 4).float().transpose(1, 2)
    rc = x.flip(1).flip(2)
    both = M.Tower(6, 5, 0, 4, strands=2)
    assert torch.allclose(both(x)[0], both(rc)[0], atol=1e-6)
    one = M.Tower(6, 5, 0, 4, strands=1)
    one.load_state_dict(both.state_dict())
    assert not torch.allclose(one(x)[0], one(rc)[0], atol=1e-3)
    assert torch.all(both(x)[0] >= one(x)[0] - 1e-6)
    old = {"cells": ["a", "b"], "model": {"channels": 4, "kernel": 3, "blocks": 0, "pool": 4, "d": 5,
                                          "env_hidden": 6, "modules": 2, "dropout": 0.0, "energy": "interaction",
                                          "clamp_temperature": False}}
    m = M.build(old)
    assert m.tower.strands == 1 and m.f_E[0].in_features == 8
    new = M.build({**old, "model": {**old["model"], "strands": 2, "env_input": "enhancer"}})
    assert new.tower.strands == 2 and new.f_E[0].in_features == 4


def test_normalised_stem_stays_strand_symmetric_and_pair_forms_are_what_they_say():
    """stem_norm: one normalisation for both strands, so a sequence and its reverse complement
    still pool to the same features (in training and eval mode); pair_form bilinear: z_I is a
    function of the outer product h_E h_P^T (checked against it computed by hand)."""
    torch.manual_seed(0)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (5, 60)), 4).float().transpose(1, 2)
    rc = x.flip(1).flip(2)
    t = M.Tower(6, 5, 0, 4, strands=2, norm=True)
    t.train()
    assert torch.allclose(t(torch.cat([x, rc]))[0].chunk(2)[0], t(torch.cat([rc, x]))[0].chunk(2)[0], atol=1e-5)
    t.eval()
    assert torch.allclose(t(x)[0], t(rc)[0], atol=1e-5)
    m = M.EPModel(2, channels=4, kernel=5, blocks=0, pool=4, d=3, env_hidden=6, modules=2, dropout=0.0,
                  pair_form="bilinear")
    m.eval()
    xe, xp = torch.rand(2, 4, 30), torch.rand(2, 4, 40)
    z, _ = m.features(xe, xp)
    he, hp = m.tower(xe)[0], m.tower(xp)[0]
    lin = m.f_I[1]
    want = torch.nn.functional.softplus(torch.stack([(lin.weight.view(3, 4, 4) * torch.outer(he[i], hp[i])).sum((1, 2))
                                                     for i in range(2)]) + lin.bias)
    assert torch.allclose(z, want, atol=1e-6)
    c = M.EPModel(2, channels=4, kernel=5, blocks=0, pool=4, d=3, env_hidden=6, modules=2, dropout=0.0,
                  pair_form="conjunction")
    c.eval()
    z, _ = c.features(xe, xp)
    he, hp = c.tower(xe)[0], c.tower(xp)[0]
    sp = torch.nn.functional.softplus
    term = [sp(h @ lin.weight.T + lin.bias) for h, lin in ((he, c.f_I_e[1]), (he, c.f_I_m[1]), (hp, c.f_I_p[1]))]
    assert torch.allclose(z, term[0] * term[1] * term[2], atol=1e-6)   # (enhancer AND enhancer) AND promoter
    with pytest.raises(ValueError, match="pair_form"):
        M.EPModel(2, channels=4, kernel=5, blocks=0, pair_form="concat")


def test_linear_stem_keeps_every_filter_trainable_and_linear_environment_is_a_mean():
    """stem_activation="linear": the pooled feature is the largest raw response over positions
    and strands (checked against F.conv1d computed by hand), and a filter that responds below
    zero everywhere still gets a gradient, where after a ReLU it gets none (a dead filter).
    env_hidden=0: f_E' is one linear layer, so z_E of a support set is f_E' of the set's mean
    stem features (the mean of a linear map, computed here the other way round)."""
    torch.manual_seed(0)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 40)), 4).float().transpose(1, 2)
    lin = M.Tower(4, 5, 0, 4, strands=2, activation="linear")
    relu = M.Tower(4, 5, 0, 4, strands=2)
    relu.load_state_dict(lin.state_dict())
    with torch.no_grad():
        lin.stem.weight[0] = -torch.rand(4, 5) - 0.1      # filter 0 below zero at every position
        lin.stem.bias[0] = -1.0
        relu.load_state_dict(lin.state_dict())
    w, b = lin.stem.weight.detach(), lin.stem.bias.detach()
    fwd = torch.nn.functional.conv1d(x, w, b, padding=2)
    rev = torch.nn.functional.conv1d(x.flip(1).flip(2), w, b, padding=2).flip(2)
    want = torch.maximum(fwd, rev).amax(dim=-1)
    assert torch.allclose(lin(x)[0], want, atol=1e-5)
    assert torch.allclose(relu(x)[0], want.clamp(min=0), atol=1e-5)
    assert float(want[:, 0].max()) < 0
    for tower, alive in ((lin, True), (relu, False)):
        tower.zero_grad()
        tower(x)[0][:, 0].sum().backward()
        assert (float(tower.stem.weight.grad[0].abs().sum()) > 0) is alive
    with pytest.raises(ValueError, match="activation"):
        M.Tower(4, 5, 0, 4, activation="tanh")
    m = M.EPModel(2, channels=4, kernel=5, blocks=0, d=3, env_hidden=0, modules=2, dropout=0.0, env_filters=6)
    assert isinstance(m.f_E, torch.nn.Linear) and m.f_E.in_features == 6
    xe, xp = torch.rand(7, 4, 30), torch.rand(7, 4, 40)
    mean_h = m.env_tower(xe)[1].mean(dim=0)
    assert torch.allclose(m.environment(xe, xp), mean_h @ m.f_E.weight.T + m.f_E.bias, atol=1e-5)


def test_logsumexp_pooling_is_a_smooth_maximum_that_passes_gradient_to_every_position():
    """stem_pooling="logsumexp": the pooled feature is t log(mean_l exp(h_l / t)) of the stem's
    responses h (checked against scipy's logsumexp), between their mean and their maximum, and
    every position gets a share of the gradient (softmax(h / t)), where max pooling gives all of
    it to one position."""
    from scipy.special import logsumexp

    torch.manual_seed(0)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 50)), 4).float().transpose(1, 2)
    lse = M.Tower(4, 5, 0, 4, strands=2, activation="linear", pooling="logsumexp", temperature=0.1)
    mx = M.Tower(4, 5, 0, 4, strands=2, activation="linear")
    mx.load_state_dict(lse.state_dict())
    h = lse.scan(x).detach().double().numpy()
    t = lse.temperature
    want = t * (logsumexp(h / t, axis=-1) - np.log(h.shape[-1]))
    got = lse(x)[0].detach().double().numpy()
    assert np.allclose(got, want, atol=1e-5)
    assert (got >= h.mean(axis=-1) - 1e-6).all() and (got <= h.max(axis=-1) + 1e-6).all()
    for tower, share in ((lse, True), (mx, False)):
        xx = x.clone().requires_grad_(True)
        tower(xx)[0][0, 0].backward()
        g = xx.grad[0].abs().sum(dim=0)                  # per position of the first sequence
        assert (int((g > 0).sum()) > 20) is share
    with pytest.raises(ValueError, match="pooling"):
        M.Tower(4, 5, 0, 4, pooling="mean")


def test_enriched_kmers_finds_the_planted_motifs_once_each_and_seeds_filters_with_them():
    """enriched_filters: canonical k-mer ids agree with a brute force over strings (a k-mer and
    its reverse complement one id, none across an N); on synthetic windows (a known answer:
    two 10-mers planted in 70% of the interacting rows) the two most enriched 8-mers are one
    from each motif, on either strand; a seeded filter responds 3/4 * scale * k to its k-mer
    (computed by hand from the weights' definition) and its reverse complement alike."""
    rng = np.random.default_rng(0)
    comp = str.maketrans("ACGT", "TGCA")
    codes = rng.integers(0, 4, (4, 30)).astype(np.uint8)
    codes[1, 5] = 4                                       # an N
    ids = trainer.canonical_kmers(codes, 4)
    for r in range(4):
        seq = "".join("ACGTN"[c] for c in codes[r])
        for j in range(27):
            km = seq[j:j + 4]
            if "N" in km:
                assert ids[r, j] == -1
            else:
                canon = min(km, km.translate(comp)[::-1])
                assert ids[r, j] == int(canon.translate(str.maketrans("ACGT", "0123")), 4)
    n, L = 3000, 200
    codes = rng.integers(0, 4, (n, L)).astype(np.uint8)
    y = (rng.random(n) < 0.05).astype(np.float32)
    motifs = ("CCCATAAATG", "GCTTAGTTGG")
    for motif, at in zip(motifs, (50, 120)):
        m = np.array(["ACGT".index(b) for b in motif], dtype=np.uint8)
        for i in np.flatnonzero(y):
            if rng.random() < 0.7:
                codes[i, at:at + 10] = m
    top = trainer.enriched_kmers(codes, y, 8, 2)
    assert len(top) == 2
    for motif in motifs:
        assert sum(k in motif or k.translate(comp)[::-1] in motif for k in top) == 1
    tower = M.Tower(3, 11, 0, 4, strands=2, activation="linear")
    trainer.seed_stem(tower, top, scale=0.5)
    bg = "A" * 20
    for seq in (bg + top[0] + bg, bg + top[0].translate(comp)[::-1] + bg):
        x = torch.as_tensor(D.encode([seq], len(seq)))
        assert math.isclose(float(tower(D.onehot(x))[0][0, 0].detach()), 0.75 * 0.5 * 8, rel_tol=1e-5)


def test_stem_firing_counts_the_filters_that_respond_somewhere():
    """Filters with weights and bias below zero never respond to a one-hot sequence (dead);
    the others do: the count is checked by hand on a stem with 2 dead filters of 6."""
    torch.manual_seed(0)
    m = M.EPModel(2, channels=6, kernel=5, blocks=0, pool=4, d=3, env_hidden=6, modules=2, dropout=0.0)
    with torch.no_grad():
        m.tower.stem.weight.abs_()
        m.tower.stem.bias.fill_(0.1)
        m.tower.stem.weight[[1, 4]] = -1.0
        m.tower.stem.bias[[1, 4]] = -1.0
    codes = torch.randint(0, 4, (10, 40), dtype=torch.uint8)
    split = type("Pairs", (), {"e": codes, "p": codes, "__len__": lambda self: 10})()
    assert trainer.stem_firing(m, split, torch.device("cpu")) == pytest.approx(4 / 6)


def test_correlation_loss_on_known_input():
    z_E = torch.tensor([1.0, 2.0, 3.0])
    # per pair, Pearson's r across components: +1, -1 and 0
    z_I = torch.tensor([[2.0, 4.0, 6.0], [3.0, 2.0, 1.0], [1.0, 0.0, 1.0]])
    assert float(trainer.correlation_loss(z_I, z_E)) == pytest.approx((1 + 1 + 0) / 3, abs=1e-6)
    a, b = np.array([0.5, 0.1, 0.9, 0.3]), np.array([1.0, 3.0, 2.0, 5.0])
    r = np.corrcoef(a, b)[0, 1]
    got = float(trainer.correlation_loss(torch.tensor(a[None, :], dtype=torch.float32), torch.tensor(b, dtype=torch.float32)))
    assert got == pytest.approx(r * r, rel=1e-5)
    # eps keeps a constant vector finite (r = 0)
    assert float(trainer.correlation_loss(torch.ones(2, 3), z_E)) == 0.0


def test_immax_margins_and_loss():
    rho_pos, rho_neg = trainer.immax_margins(50, 1000)
    assert rho_pos == 1.0 and rho_neg == pytest.approx((50 / 1000) ** 0.25)      # the rare class: the larger margin
    s, y = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
    want = (math.log1p(math.exp(1.0 - 2.0)) + math.log1p(math.exp(rho_neg - 1.0))) / 2
    assert float(trainer.task_loss(s, y, "immax", (rho_pos, rho_neg))) == pytest.approx(want)
    assert float(trainer.task_loss(s, y, "bce")) == pytest.approx(
        float(torch.nn.functional.binary_cross_entropy_with_logits(s, y)))


def test_weight_schedule():
    cfg = dict(trainer.TRAIN_DEFAULTS)
    first = {"alpha": 0.1, "beta": 0.1, "gamma": 0.05, "delta": 0.01, "eta": 0.05}
    assert trainer.loss_weights(0, cfg) == pytest.approx(first) and trainer.loss_weights(2, cfg) == pytest.approx(first)
    assert trainer.loss_weights(3, cfg) == pytest.approx({"alpha": 0.11, "beta": 0.11, "gamma": 0.06, "delta": 0.02,
                                                          "eta": 0.06})
    assert trainer.loss_weights(7, cfg) == pytest.approx({"alpha": 0.15, "beta": 0.15, "gamma": 0.1, "delta": 0.02,
                                                          "eta": 0.1})
    assert trainer.loss_weights(50, cfg) == pytest.approx({"alpha": 0.2, "beta": 0.2, "gamma": 0.1, "delta": 0.02,
                                                           "eta": 0.1})


def test_threshold_is_the_f1_maximum():
    y = np.array([1, 0, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1])
    t, f1 = trainer.calibrate_threshold(y, p)
    # calling >= 0.4 gives TP 3, FP 1: F1 = 6/7, the best of every cut
    assert t == 0.4 and f1 == pytest.approx(6 / 7)


def test_hierarchical_infonce_known_value():
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    cells = torch.tensor([0, 0, 1])
    loss, used = trainer.hierarchical_infonce(e, cells, tau=0.1)
    # anchors 0 and 1: positive sim 1, negative sim 0 -> -log(e^10 / (e^10 + 1)); anchor 2 has no positive
    assert used == 2 and float(loss) == pytest.approx(math.log1p(math.exp(-10.0)), abs=1e-6)
    # one cell line alone has no negative: nothing to learn (hence the contrast set of other lines)
    loss, used = trainer.hierarchical_infonce(e[:2], cells[:2], tau=0.1)
    assert used == 0 and float(loss) == 0.0


def test_prototype_loss_per_row_and_skips_lines_without_one():
    e = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    protos = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    seen = torch.tensor([True, False, True])
    # rows 0 and 2: mean squared distances 0.5 and 4.0
    assert float(trainer.prototype_loss(e, protos, seen)) == pytest.approx((0.5 + 4.0) / 2)
    assert float(trainer.prototype_loss(e, protos, torch.zeros(3, dtype=torch.bool))) == 0.0


def test_every_step_contrasts_its_cell_line_with_fresh_pairs_of_the_others(tiny, tmp_path, monkeypatch):
    """Each training step's forward pass holds the batch's query and support pairs (one cell
    line) and ``contrast`` pairs drawn from the other training cell lines."""
    seen = []
    real = trainer.hierarchical_infonce

    def spy(e, cells, tau=0.1):
        seen.append(cells.tolist())
        return real(e, cells, tau=tau)

    monkeypatch.setattr(trainer, "hierarchical_infonce", spy)
    res = invoke(fit_cli, [tiny["split"], "--genome", tiny["genome"], "-o", tmp_path / "m", *FAST, "--no-baseline"])
    assert res.exit_code == 0, res.output
    assert seen                                                      # the joint epochs ran the term
    for cells in seen:
        own = cells[0]
        n_own = sum(c == own for c in cells)
        others = [c for c in cells if c != own]
        assert cells[:n_own] == [own] * n_own                        # query + support first, one line
        assert len(others) == len(cells) - n_own == trainer.TRAIN_DEFAULTS["contrast"]


def test_sampler_batches_hold_one_cell_line():
    cells = np.array([0] * 70 + [1] * 45 + [2] * 5)
    seen = []
    for q, s in trainer.CellBatchSampler(cells, 32, 16, torch.Generator().manual_seed(0)):
        c = set(cells[q.numpy()].tolist()) | set(cells[s.numpy()].tolist())
        assert len(c) == 1                                           # one cell line per batch, support included
        rest = (cells == cells[int(q[0])]).sum() - len(q)
        assert len(q) <= 32
        if rest > 0:                                                 # support drawn outside the batch
            assert len(s) == min(16, rest) and not set(q.tolist()) & set(s.tolist())
        else:                                                        # a cell line of one batch: the batch itself
            assert set(s.tolist()) <= set(q.tolist()) and len(s) == min(16, len(q))
        seen += q.tolist()
    assert sorted(seen) == list(range(120))                          # every row once an epoch
    a = [q.tolist() for q, _ in trainer.CellBatchSampler(cells, 32, 16, torch.Generator().manual_seed(5))]
    b = [q.tolist() for q, _ in trainer.CellBatchSampler(cells, 32, 16, torch.Generator().manual_seed(5))]
    assert a == b
    sets = trainer.support_sets(np.array(["x"] * 50 + ["y"] * 10), 32, 7)
    assert len(sets["x"][1]) == 32 and len(sets["y"][1]) == 10 and set(sets["x"][1]) <= set(range(50))


# ---------------------------------------------------------------------------- windows from a genome

def test_coordinate_windows_are_centred_and_exact(tmp_path):
    from toolkit.io import pairs as P

    rng = np.random.default_rng(0)
    chrom = "".join(rng.choice(list("ACGT"), 400))
    (tmp_path / "g.fa").write_text(">chrZ\n" + "\n".join(chrom[i:i + 50] for i in range(0, 400, 50)) + "\n")
    table = ("cell,enhancer_chrom,enhancer_start,enhancer_end,promoter_chrom,promoter_start,promoter_end,label\n"
             "c1,chrZ,100,111,chrZ,300,320,1\nc1,chrZ,5,15,chrZ,390,398,0\n")
    (tmp_path / "p.csv").write_text(table)
    layout, rows, _ = P.read_pairs(str(tmp_path / "p.csv"), {"genome": str(tmp_path / "g.fa")})
    assert layout.kind == "coordinates"
    rows = rows["all"]
    seqs = P.sequences(rows, layout, str(tmp_path / "g.fa"), {"enhancer": 20, "promoter": 9}, clip=True)
    # enhancer 100-111: centre floor(211/2) = 105, window [95, 115); promoter 300-320: centre 310, [306, 315)
    assert seqs["enhancer"][0] == chrom[95:115] and seqs["promoter"][0] == chrom[306:315]
    # clipped at the ends and padded with N: enhancer [0, 20) -> centre 10, [0, 20); promoter centre 394, [390, 399)
    assert seqs["enhancer"][1] == chrom[0:20] and seqs["promoter"][1] == chrom[390:399] + ""
    seqs = P.sequences(rows, layout, str(tmp_path / "g.fa"), {"enhancer": 40, "promoter": 20}, clip=True)
    assert seqs["enhancer"][1] == "N" * 10 + chrom[0:30]            # [-10, 30)
    assert seqs["promoter"][1] == chrom[384:400] + "N" * 4           # [384, 404)
    from toolkit.errors import InputError

    with pytest.raises(InputError, match="past the chromosome end") as err:
        P.sequences(rows, layout, str(tmp_path / "g.fa"), {"enhancer": 40, "promoter": 20})
    assert err.value.line == 3 and "--clip" in err.value.message()
    assert P.distances(rows, layout).tolist() == [310.0 - 105.0, 394.0 - 10.0]
    # a signed distance column counts by its magnitude (the model and the distance baseline read the same)
    (tmp_path / "d.csv").write_text(table.replace(",label\n", ",label,distance\n").replace(",1\n", ",1,-2500\n")
                                    .replace(",0\n", ",0,\n"))
    layout, rows, _ = P.read_pairs(str(tmp_path / "d.csv"), {"genome": str(tmp_path / "g.fa")})
    got = P.distances(rows["all"], layout)
    assert got[0] == 2500.0 and np.isnan(got[1])


def test_coordinate_path_end_to_end(model_dir, tiny):
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["kind"] == "ep" and cfg["data"]["layout"] == "coordinates"
    assert cfg["data"]["lengths"] == {"enhancer": 320, "promoter": 320}
    assert cfg["cells"] == ["cellB", "cellC", "cellD", "cellE", "cellF"]
    # the test rows (labels 'not-read') were never parsed; excluded rows neither
    split = read_tsv(tiny["split"])
    assert cfg["rows"]["test_not_read"] == int((split["split"] == "test").sum()) > 0
    assert cfg["rows"]["excluded_not_read"] == int((split["split"] == "excluded").sum())
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.pt", "normalization.json", "calibration.json", "train_log.tsv",
            "checkpoint-last.pt", "baseline.json"} <= names
    log = read_tsv(model_dir / "train_log.tsv")
    assert list(log["phase"]) == ["curriculum", "curriculum", "joint"]
    for col in ("train_aupr", "train_auroc", "train_f1", "val_aupr", "val_auroc", "val_f1", "train_corr",
                "domain_acc_train", "domain_acc_val", "zI_active_frac", "zE_active_frac", "T", "lambda",
                "val_threshold", "w_alpha", "val_aupr_cellB"):
        assert col in log.columns, col
    cal = json.loads((model_dir / "calibration.json").read_text())
    row = log.iloc[cal["epoch"] - 1]
    assert cal["threshold"] == pytest.approx(float(row["val_threshold"]), rel=1e-5)
    base = json.loads((model_dir / "baseline.json").read_text())
    assert 0 < base["distance"]["val_aupr"] <= 1 and 0 < base["propensity"]["val_aupr"] <= 1
    # the windows the model trains on are the genome's, centred: the first train pair by hand
    from toolkit.train.ep_data import load_split

    first = split[split["split"] == "train"].iloc[0]
    settings = {"genome": tiny["genome"], "lengths": {"enhancer": 320, "promoter": 320}, "clip": False,
                "columns": {"enhancer": None, "promoter": None, "cell": "cell", "label": "label", "distance": None}}
    data = load_split(str(tiny["split"]), settings, None)
    for el, codes in (("enhancer", data["train"].e), ("promoter", data["train"].p)):
        c = (int(first[f"{el}_start"]) + int(first[f"{el}_end"])) // 2
        window = tiny["genome_seqs"][first[f"{el}_chrom"]][c - 160:c + 160]
        assert "".join("ACGTN"[x] for x in codes[0].tolist()) == window


def _fit_with_snapshots(tiny, tmp_path, monkeypatch, settings, *flags):
    """Run fit-ep with a --config of ``settings`` (TOML text), keeping the model weights of every
    epoch's checkpoint-last.pt. Returns (model dir, config, snapshots, the untrained model's
    state, built as the trainer builds it)."""
    snapshots = []
    real_save = trainer.MD.save_tensors

    def record(path, obj):
        if str(path).endswith("checkpoint-last.pt"):
            snapshots.append({k: v.clone() for k, v in obj["model"].items()})
        real_save(path, obj)

    monkeypatch.setattr(trainer.MD, "save_tensors", record)
    out = tmp_path / "m"
    path = tmp_path / "settings.toml"
    path.write_text(settings)
    res = invoke(fit_cli, [tiny["split"], "--genome", tiny["genome"], "-o", out, *FAST, "--config", path, *flags])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    torch.manual_seed(2025)                                   # the trainer builds the model right after this
    return out, cfg, snapshots, M.build(cfg).state_dict()


def test_task_env_prototype_takes_its_value_and_the_support_sets_gradient():
    """task_env="prototype": the training batch's logits are those of the energy at the cell
    line's prototype, and the gradient each support pair's e receives is the energy's gradient
    at the prototype divided by the support size (what the mean of the support set would pass
    on), computed here by autograd on a leaf z_E; the query rows' gradient is the same path's."""
    torch.manual_seed(3)
    m = M.EPModel(3, channels=4, kernel=3, blocks=0, d=6, env_hidden=0, modules=6, energy="linear", env_filters=4)
    m.eval()                                                  # no dropout: both passes see the same network
    net = trainer._Forward(m)
    xe, xp = D.onehot(torch.randint(0, 4, (7, 40))), D.onehot(torch.randint(0, 4, (7, 40)))
    proto = torch.randn(6)
    B, S = 3, 4
    captured = {}
    real = m.features

    def keep(xe_, xp_):
        z, e = real(xe_, xp_)
        e.retain_grad()
        captured["e"] = e
        return z, e

    m.features = keep
    _, _, z_I, z_E, logits, _ = net(xe, xp, B, S, True, 1.0, torch.full((B,), float("nan")), proto)
    assert torch.allclose(z_E, proto)
    leaf = proto.clone().requires_grad_(True)
    want_logits = m.energy(z_I.detach(), leaf)
    assert torch.allclose(logits, want_logits, atol=1e-6)
    logits.sum().backward()
    want_logits.sum().backward()
    e_grad = captured["e"].grad
    for row in range(B, B + S):                               # each support pair: 1/S of dL/dz_E at the prototype
        assert torch.allclose(e_grad[row], leaf.grad / S, atol=1e-6)
    assert torch.count_nonzero(e_grad[:B]) == 0               # the query pairs' e is not read by the task
    # without a prototype the batch's own support mean is z_E, as before
    m.features = real
    _, e_all, _, z_E2, _, _ = net(xe, xp, B, S, True, 1.0, torch.full((B,), float("nan")))
    assert torch.allclose(z_E2, e_all[B:B + S].mean(dim=0))


@pytest.mark.parametrize("task_env", ["prototype", "support"])
def test_training_batches_read_the_prototype_when_task_env_says_so(tiny, tmp_path, monkeypatch, task_env):
    """The trainer hands each batch its cell line's prototype (a copy of the model's buffer at that
    step) once the line has one and the environment is on, and never with task_env="support"."""
    calls = []
    real = trainer._Forward.forward

    def record(self, xe, xp, n_query, n_support, env, grl_coeff, distance, prototype=None):
        calls.append((env, None if prototype is None else prototype.detach().clone(),
                      self.model.prototypes.detach().clone(), self.model.proto_seen.detach().clone()))
        return real(self, xe, xp, n_query, n_support, env, grl_coeff, distance, prototype)

    monkeypatch.setattr(trainer._Forward, "forward", record)
    _, cfg, _, _ = _fit_with_snapshots(tiny, tmp_path, monkeypatch, f'[train]\nmin_epochs = 3\ntask_env = "{task_env}"\n')
    assert cfg["train"]["task_env"] == task_env
    env_on = [c for c in calls if c[0]]
    assert env_on and all(c[1] is None for c in calls if not c[0])      # the curriculum reads no environment
    given = [c for c in env_on if c[1] is not None]
    if task_env == "support":
        assert not given
        return
    assert len(given) >= len(env_on) - len(cfg["cells"])        # all but each line's first batch
    for _, proto, table, seen in given:                          # the value is one line's current prototype
        assert any(bool(seen[i]) and torch.equal(proto, table[i]) for i in range(len(table)))


@pytest.mark.parametrize("energy", ["linear", "interaction"])     # the presets' and the design's
def test_curriculum_freezes_the_environment_stream(tiny, tmp_path, monkeypatch, energy):
    out, _, snapshots, fresh = _fit_with_snapshots(tiny, tmp_path, monkeypatch,
                                                   f'[train]\nmin_epochs = 3\n\n[model]\nenergy = "{energy}"\n')
    assert len(snapshots) == 3
    env_keys = [k for k in fresh if k.startswith(("env_tower.", "f_E.", "g_E."))] + ["lam", "lam_U", "lam_R"]
    assert any(k.startswith("env_tower.") for k in env_keys)  # the preset's own stem for f_E'
    for epoch in (0, 1):                                      # the curriculum: the environment stream untouched
        assert all(torch.equal(fresh[k], snapshots[epoch][k]) for k in env_keys)
        assert float(snapshots[epoch]["env_active"]) == 0.0
    assert not torch.equal(fresh["tower.stem.weight"], snapshots[0]["tower.stem.weight"])
    # everything the energy uses trains from epoch 3
    used = ["env_tower.stem.weight", "f_E.weight"] + (["lam_U", "lam_R"] if energy == "linear" else ["g_E.weight"])
    # (the presets' f_E' is one linear layer)
    assert not any(torch.equal(fresh[k], snapshots[2][k]) for k in used)
    assert float(snapshots[2]["env_active"]) == 1.0
    log = read_tsv(out / "train_log.tsv")
    assert [float(v) for v in log["lambda"][:2]] == [pytest.approx(0.1)] * 2


def test_no_environment_trains_the_sequence_only_reference(tiny, tmp_path, monkeypatch):
    """--no-environment: the environment stream keeps its initial weights in every epoch, the
    model file says the environment is off, and a pair's score does not depend on which
    support set its cell line's environment would come from."""
    out, cfg, snapshots, fresh = _fit_with_snapshots(tiny, tmp_path, monkeypatch, "[train]\nmin_epochs = 3\n",
                                                     "--no-environment")
    assert cfg["train"]["environment"] is False
    assert len(snapshots) == 3
    env_keys = [k for k in fresh if k.startswith(("env_tower.", "f_E.", "g_E."))] + ["lam_U", "lam_R"]
    for snap in snapshots:
        assert all(torch.equal(fresh[k], snap[k]) for k in env_keys)
        assert float(snap["env_active"]) == 0.0
    assert not torch.equal(fresh["tower.stem.weight"], snapshots[-1]["tower.stem.weight"])
    from toolkit.train.serve import load

    pred = load(str(out), torch.device("cpu"))
    assert pred.env is False
    rng = np.random.default_rng(0)
    enh = ["".join(rng.choice(list("ACGT"), 320)) for _ in range(40)]
    pro = ["".join(rng.choice(list("ACGT"), 320)) for _ in range(40)]
    cells = ["cellA"] * 40
    p1, s1 = pred.score(enh, pro, cells, support_size=8, seed=1)
    p2, s2 = pred.score(enh, pro, cells, support_size=8, seed=2)
    assert not np.array_equal(s1, s2)                         # two different support sets ...
    np.testing.assert_array_equal(p1, p2)                     # ... and the same scores


def _stream_grads(model, which):
    """Gradients of a loss on e alone (``which="e"``) or on z_I alone ("z") of a random batch."""
    torch.manual_seed(0)
    model.zero_grad()
    z, e = model.features(torch.rand(4, 4, 40), torch.rand(4, 4, 40))
    ((e ** 2).sum() if which == "e" else (z ** 2).sum()).backward()
    return {n: p.grad for n, p in model.named_parameters()}


def test_environment_stem_of_its_own_takes_no_gradient_from_the_task_and_gives_none_to_it():
    shared = M.EPModel(3, channels=6, kernel=5, blocks=0, d=8, env_hidden=16, modules=4)
    own = M.EPModel(3, channels=6, kernel=5, blocks=0, d=8, env_hidden=16, modules=4, env_filters=5)
    assert own.f_E[0].in_features == 5 and own.env_tower.stem.out_channels == 5
    assert {id(p) for p in own.env_tower.parameters()} <= {id(p) for p in own.environment_parameters()}
    g = _stream_grads(shared, "e")                       # the design's form: e's losses reach the shared stem
    assert g["tower.stem.weight"] is not None and g["tower.stem.weight"].abs().sum() > 0
    g = _stream_grads(own, "e")
    assert g["tower.stem.weight"] is None and g["env_tower.stem.weight"].abs().sum() > 0
    g = _stream_grads(own, "z")
    assert g["env_tower.stem.weight"] is None and g["tower.stem.weight"].abs().sum() > 0


def test_environment_learning_rate_scale_groups():
    model = M.EPModel(3, channels=6, kernel=5, blocks=0, d=8, env_hidden=16, modules=4, env_filters=5)
    plain = trainer._param_groups(model, 0.01)
    assert len(plain) == 2 and all(g["lr_scale"] == 1.0 for g in plain)       # the layout of earlier checkpoints
    groups = trainer._param_groups(model, 0.01, 0.1)
    seen = [id(p) for g in groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())         # a partition
    env = {id(p) for p in model.environment_parameters()}
    for g in groups:
        assert g["lr_scale"] == (0.1 if id(g["params"][0]) in env else 1.0)
        assert len({id(p) in env for p in g["params"]}) == 1
        assert g["weight_decay"] == (0.0 if all(M.no_decay("", p) for p in g["params"]) else 0.01)


def test_env_filters_option_is_saved_and_served(tiny, tmp_path):
    out = tmp_path / "m"
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"model": {"env_filters": 4, "energy": "linear", "modules": 16, "channels": 12},
                                    "train": {"loss_weights": [0.1, 0.1, 1, 0.01, 0.05], "env_lr_scale": 0.1,
                                              "enriched_filters": 4}}))
    loud = [a for a in FAST if a != "-q"]
    res = invoke(fit_cli, [tiny["split"], "--genome", tiny["genome"], "-o", out, *loud, "--config", settings])
    assert res.exit_code == 0, res.output
    # the 4 enriched filters are seeded from the train pairs before training: the log names them
    seeded = [ln for ln in res.stderr.splitlines() if "stem filters start as the 8-mers" in ln]
    assert len(seeded) == 1 and seeded[0].startswith("4 stem filters")
    assert len(seeded[0].rsplit(": ", 1)[1].split()) == 4
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["env_filters"] == 4 and cfg["model"]["modules"] == 16 and cfg["train"]["gamma"] == 1.0
    assert cfg["train"]["env_lr_scale"] == 0.1 and cfg["train"]["enriched_filters"] == 4
    weights = torch.load(out / "model.pt", weights_only=True)
    assert weights["env_tower.stem.weight"].shape[0] == 4 and weights["tower.stem.weight"].shape[0] == 12
    assert cfg["model"]["channels"] == 12
    pairs = tiny["pairs"]
    src = tmp_path / "cellA.csv"
    pairs[pairs["cell"] == "cellA"].head(60).to_csv(src, index=False)
    res = invoke(predict_cli, ["-m", out, src, "--genome", tiny["genome"], "-q"])
    assert res.exit_code == 0, res.output
    p = read_tsv(res.stdout)["pred_label"].astype(float).to_numpy()
    assert len(p) == 60 and ((p > 0) & (p < 1)).all()


# ---------------------------------------------------------------------------- predict on an unseen cell line

def test_predict_on_an_unseen_cell_line_uses_its_support_set(model_dir, tiny, tmp_path):
    from toolkit.train.serve import load

    pairs = tiny["pairs"]
    unseen = pairs[(pairs["cell"] == "cellA")].head(120).copy()
    src = tmp_path / "cellA.csv"
    unseen.to_csv(src, index=False)
    res = invoke(predict_cli, ["-m", model_dir, src, "--genome", tiny["genome"], "-q"])
    assert res.exit_code == 0, res.output
    out = read_tsv(res.stdout)
    assert list(out.columns[:len(unseen.columns) + 1]) == ["id", *unseen.columns]        # passthrough, in order
    p = out["pred_label"].astype(float).to_numpy()
    assert ((p > 0) & (p < 1)).all()
    m = json.loads((model_dir / "config.json").read_text())["support_size"]              # the model's m: 256
    assert m == 256 and out["support_set"].astype(int).sum() == min(m, len(unseen))       # here every row
    thr = json.loads((model_dir / "calibration.json").read_text())["threshold"]
    assert (out["call_label"].astype(int).to_numpy() == (p >= thr)).all()
    # z_E is the mean e of exactly those support pairs: recompute by hand
    pred = load(str(model_dir), torch.device("cpu"))
    assert "cellA" not in pred.cells
    sup = np.flatnonzero(out["support_set"].astype(int).to_numpy() == 1)
    from toolkit.io import pairs as P

    layout, rows, _ = P.read_pairs(str(src), {"genome": tiny["genome"], "need_label": False})
    seqs = P.sequences(rows["all"], layout, tiny["genome"], pred.lengths)
    e = D.onehot(torch.as_tensor(D.encode(seqs["enhancer"], 320)))
    pp = D.onehot(torch.as_tensor(D.encode(seqs["promoter"], 320)))
    # the model was trained with the table's distances: predict adds h(distance) to the logit
    model_cfg = json.loads((model_dir / "config.json").read_text())["model"]
    assert pred.uses_distance and model_cfg["distance"]
    train_d = tiny["pairs"]["distance"][read_tsv(tiny["split"])["split"].eq("train").to_numpy()].to_numpy(float)
    assert model_cfg["distance_span"] == pytest.approx([np.log10(train_d.min() + 1), np.log10(train_d.max() + 1)])
    values, missing = pred.model.distance.values.detach().numpy(), float(pred.model.distance.missing.detach())
    with torch.no_grad():
        z_E = pred.model.environment(e[sup], pp[sup])
        without = (pred.model(e, pp, z_E, env=pred.env) - missing).double().numpy()    # no distance: the missing value
    want = 1 / (1 + np.exp(-(without + _distance_by_hand(values, missing, unseen["distance"].to_numpy(float),
                                                                     model_cfg["distance_span"]))))
    assert np.allclose(p, want, atol=1e-6)
    assert np.ptp(values) > 0                           # trained: the distances change the predictions
    # a table without the distance (no column, no coordinates) is refused with one Error line
    seq_table = tmp_path / "seqs.csv"
    import pandas as pd

    pd.DataFrame({"enhancer_seq": seqs["enhancer"][:5], "promoter_seq": seqs["promoter"][:5],
                  "cell": ["cellA"] * 5}).to_csv(seq_table, index=False)
    res_nd = CliRunner().invoke(predict_cli, ["-m", str(model_dir), str(seq_table), "-q"])
    assert res_nd.exit_code == 1 and res_nd.output.count("Error:") == 1, res_nd.output
    assert "distance" in res_nd.output and "seqs.csv" in res_nd.output
    # the model was trained on the 'distance' column: a table without it is refused, not read from coordinates
    unseen.drop(columns=["distance"]).to_csv(tmp_path / "nocol.csv", index=False)
    res_nc = CliRunner().invoke(predict_cli, ["-m", str(model_dir), str(tmp_path / "nocol.csv"), "--genome",
                                              str(tiny["genome"]), "-q"])
    assert res_nc.exit_code == 1 and res_nc.output.count("Error:") == 1, res_nc.output
    assert "no distance column 'distance'" in res_nc.output and "--distance-col" in res_nc.output
    # pairs on two chromosomes (no distance) are scored with the missing value, and said so
    cross = unseen.head(8).copy()
    cross["distance"] = ""
    cross.to_csv(tmp_path / "cross.csv", index=False)
    res_x = invoke(predict_cli, ["-m", model_dir, tmp_path / "cross.csv", "--genome", tiny["genome"]])
    assert res_x.exit_code == 0 and "8 pair(s) without a distance" in res_x.stderr
    # deterministic for a seed; another seed draws another support set
    again = read_tsv(invoke(predict_cli, ["-m", model_dir, src, "--genome", tiny["genome"], "-q"]).stdout)
    assert list(again["pred_label"]) == list(out["pred_label"])
    other = read_tsv(invoke(predict_cli, ["-m", model_dir, src, "--genome", tiny["genome"], "-q", "--seed", "3",
                                          "--support-size", "40"]).stdout)
    assert other["support_set"].astype(int).sum() == 40
    # evalboot reads it: AUPR next to the positive-class prior
    res = invoke(evalboot_cli, ["-", "--truth", "label", "--pred", "pred_label", "--bootstrap", "50", "-q"], input=res.stdout)
    assert res.exit_code == 0, res.output
    ev = read_tsv(res.stdout)
    got = dict(zip(ev[ev["section"] == "metrics"]["metric"], ev[ev["section"] == "metrics"]["value"]))
    assert float(got["prior"]) == pytest.approx(unseen["label"].mean())
    assert 0 <= float(got["aupr"]) <= 1


def test_predict_refuses_single_sequences_and_explain(model_dir, tmp_path):
    res = CliRunner().invoke(predict_cli, ["-m", str(model_dir), "-"], input=">a\nACGTACGTAC\n")
    assert res.exit_code == 1 and "not a table of enhancer-promoter pairs" in res.output
    res = CliRunner().invoke(predict_cli, ["-m", str(model_dir), "-", "--explain", "ism", "-e", str(tmp_path / "x.h5")],
                             input="enhancer_seq,promoter_seq,cell\nACGT,ACGT,x\n")
    assert res.exit_code == 1 and "enhancer-promoter" in res.output


def test_sequence_layout_and_errors(tiny, tmp_path):
    from toolkit.io import pairs as P

    layout, rows, _ = P.read_pairs(str(tiny["split"]), {"genome": tiny["genome"], "need_split": True},
                                   keep=("train", "val"))
    seqs = {k: P.sequences(rows[k], layout, tiny["genome"], {"enhancer": 320, "promoter": 320})
            for k in ("train", "val")}
    import pandas as pd

    frames = []
    for k in ("train", "val"):
        df = rows[k].df[["cell", "label", "distance"]].copy()
        df["enhancer_seq"], df["promoter_seq"], df["split"] = seqs[k]["enhancer"], seqs[k]["promoter"], k
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    path = tmp_path / "seqs.tsv"
    table.to_csv(path, sep="\t", index=False)
    out = tmp_path / "m"
    res = invoke(fit_cli, [path, "-o", out, *FAST, "--epochs", "1"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["layout"] == "sequences" and cfg["model"]["distance"] is True    # its distance column
    # without a distance column (and no coordinates) the model reads the sequences only
    table.drop(columns=["distance"]).to_csv(tmp_path / "nodist.tsv", sep="\t", index=False)
    res = invoke(fit_cli, [tmp_path / "nodist.tsv", "-o", tmp_path / "nd", *[a for a in FAST if a != "-q"],
                           "--epochs", "1", "--no-baseline"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "nd" / "config.json").read_text())["model"]["distance"] is False
    assert "distance term off" in res.stderr
    assert not any(k.startswith("distance.") for k in torch.load(tmp_path / "nd" / "model.pt", weights_only=True))
    # a label that is not 0/1, a missing genome, a split without val rows
    bad = table.copy()
    bad.loc[3, "label"] = "2"
    bad.to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    res = CliRunner().invoke(fit_cli, [str(tmp_path / "bad.tsv"), "-o", str(tmp_path / "b"), "-q"])
    assert res.exit_code == 1 and "not 0 or 1" in res.output and "line 5" in res.output
    res = CliRunner().invoke(fit_cli, [str(tiny["split"]), "-o", str(tmp_path / "c"), "-q"])
    assert res.exit_code == 1 and "--genome" in res.output
    table[table["split"] == "train"].to_csv(tmp_path / "noval.tsv", sep="\t", index=False)
    res = CliRunner().invoke(fit_cli, [str(tmp_path / "noval.tsv"), "-o", str(tmp_path / "d"), "-q"])
    assert res.exit_code == 1 and "no 'val' rows" in res.output


# ---------------------------------------------------------------------------- the planted grammar (slow)

@pytest.mark.slow
def test_leave_one_cell_out_recovers_the_planted_grammar(tmp_path):
    """The synthetic benchmark's genome (16 chromosomes, seed 7), cellC held out with chr1, chr5 and
    chr9 (its pairs there are the test set), as benchmarks/bench_ep_synthetic.py runs it: fit-ep's
    AUPR is far above the prior and both baselines, intervals apart (measured with the presets of
    2026-11-25: 0.196 [0.132, 0.284] against 0.062 [0.043, 0.093] and 0.047; with the design's settings
    0.233). About 10 minutes on 2 cores. (The bundled 8-chromosome example is too
    small for this: half the training pairs, and fit-ep reached only 0.084 [0.054, 0.133] on cellA.)"""
    gen = _generator()
    gen.main([str(tmp_path), "--seed", "7", "--chroms", "16"])
    out = tmp_path / "loco"
    res = invoke(fit_cli, [tmp_path / "synthetic_ep_pairs.csv.gz", "--genome", tmp_path / "synthetic_ep_genome.fa.bgz",
                           "--leave-one-cell-out", "--cells", "cellC", "--val-chroms", "chr2,chr3",
                           "--test-chroms", "chr1,chr5,chr9", "-o", out, "-q", "-j", "1", *WINDOWS])
    assert res.exit_code == 0, res.output
    row = read_tsv(out / "loco.tsv").iloc[0]
    f = {k: float(v) for k, v in row.items() if k != "held_out"}
    assert f["aupr_fit_ep_low"] > max(f["aupr_distance_high"], f["aupr_propensity_high"])
    assert f["aupr_fit_ep"] > 3 * f["prior"]
    assert f["delta_aupr_vs_distance_low"] > 0 and f["delta_aupr_vs_propensity_low"] > 0
    preds = read_tsv(out / "loco_predictions.tsv")
    assert set(preds["cell"]) == {"cellC"} and preds["support_set"].astype(int).sum() == 256    # eval_support


def test_bundled_example_is_what_the_generator_writes(tmp_path):
    """share/examples/ep is reproducible from its script and seed."""
    gen = _generator()
    genome, pairs, truth, grammar = gen.make(seed=7)
    shipped = gzip.decompress((EXAMPLES / "ep" / "synthetic_ep_pairs.csv.gz").read_bytes()).decode()
    assert shipped == pairs.to_csv(index=False)
    assert abs(pairs["label"].mean() - 1 / 21) < 0.015                              # about 1:20
    probs = truth[["planted", "agnostic", "own_sequence"]].to_numpy()
    assert len(truth) == len(pairs) and np.all((probs > 0) & (probs < 1))
    # the known answer ranks the pairs far better than the prior, and the cell line's programs matter
    from toolkit.train.ep import binary_metrics

    y = pairs["label"].to_numpy()
    assert binary_metrics(y, truth["planted"])["aupr"] > binary_metrics(y, truth["agnostic"])["aupr"] + 0.2
    # the enhancer's own markers carry part of the cell line: between the motif pairs alone and the answer
    aupr = {k: binary_metrics(y, truth[k])["aupr"] for k in ("planted", "agnostic", "own_sequence")}
    assert aupr["agnostic"] + 0.05 < aupr["own_sequence"] < aupr["planted"] - 0.1


def test_planted_answer_without_distance_is_the_planted_answer_without_its_factor():
    """Hand-worked: cellC runs programs 2 and 3; a pair matching program 2 interacts with
    probability 0.9 at any distance when the distance is not read, 0.9 below 30 kb and
    0.9 * 0.7 beyond it in the planted answer; a pair matching only program 0 (not cellC's) at
    the noise rate."""
    gen = _generator()
    two, zero = [False, False, True, False], [True, False, False, False]
    assert gen.planted_without_distance("cellC", two, two) == 0.9
    assert gen.planted_probability("cellC", two, two, 10_000) == 0.9
    assert gen.planted_probability("cellC", two, two, 40_000) == pytest.approx(0.63)
    assert gen.planted_without_distance("cellC", zero, zero, p_noise=0.004) == 0.004
    assert gen.planted_probability("cellC", zero, zero, 40_000, p_noise=0.004) == pytest.approx(0.0028)


def test_own_sequence_reference_reads_the_markers():
    """The no-environment reference: a motif pair whose enhancer holds its own program's marker is
    likely active; with another program's marker, much less; no motif pair, the noise rate."""
    gen = _generator()
    k0, k1, none = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]
    own = gen.own_sequence_probability(k0, k0, k0, 1000)
    other = gen.own_sequence_probability(k0, k1, k0, 1000)
    # by hand: program 0 is in 3 of the 6 combinations, the marker of program 0 in the same 3
    assert own == pytest.approx((3 * 0.85 * 0.9 + 3 * 0.05 * 0.004) / (3 * 0.85 + 3 * 0.05))
    # marker 1: weight 0.85 for the 3 combinations with program 1, of which 1 also has program 0
    assert other == pytest.approx((0.85 * 0.9 + 2 * 0.85 * 0.004 + 2 * 0.05 * 0.9 + 0.05 * 0.004) / (3 * 0.85 + 3 * 0.05))
    assert gen.own_sequence_probability(none, k0, none, 1000) == pytest.approx(0.004)
    assert gen.own_sequence_probability(k0, k0, k0, 50_000) == pytest.approx(0.7 * own)


def test_own_sequence_reference_of_the_training_lines_cannot_know_the_held_out_combination():
    """By hand: motif pair 2 with the marker of program 3 only. Among all six lines the marker
    makes the enhancer present in cellC {2, 3} (where the pair interacts), cellD and cellF; a
    model trained without cellC never sees program 3's marker with an active program 2, so for
    it the pair is nearly a decoy. The benchmark reports both references."""
    gen = _generator()
    a2, m3 = [0, 0, 1, 0], [0, 0, 0, 1]
    six = gen.own_sequence_probability(a2, m3, a2, 1000)
    five = gen.own_sequence_probability(a2, m3, a2, 1000,
                                        combos=[v for c, v in gen.CELLS.items() if c != "cellC"])
    assert six == pytest.approx((0.05 * 0.004 + 0.05 * 0.9 + 0.85 * 0.9 + 0.85 * 0.004 + 0.05 * 0.9 + 0.85 * 0.004)
                                / (3 * 0.05 + 3 * 0.85))
    assert five == pytest.approx((0.05 * 0.004 + 0.05 * 0.9 + 0.85 * 0.004 + 0.05 * 0.9 + 0.85 * 0.004)
                                 / (2 * 0.05 + 0.85 + 0.05 + 0.85))
    assert six > 0.3 and five < 0.06
    bits = gen._bits([True, False, True, True])
    assert bits == 0b1101 and gen.flags(bits) == [True, False, True, True]
