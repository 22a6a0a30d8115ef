"""--precision auto|fp32|bf16|fp16: the arithmetic of training, chosen by the user.

The CUDA tests run where a GPU is present and are skipped elsewhere (this project's CI has none)."""

import json

import pytest
import torch

from conftest import DATA, read_tsv, run_cli
from toolkit.errors import ConfigError
from toolkit.train.loop import grad_scaler, precision_dtype

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine: the GPU precisions are not run")


def test_precision_names_map_to_autocast_dtypes_on_cpu():
    cpu = torch.device("cpu")
    assert precision_dtype("auto", cpu) is None       # a CPU gains nothing from bf16 autocast
    assert precision_dtype("fp32", cpu) is None
    assert precision_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 training needs a CUDA device"):
        precision_dtype("fp16", cpu)
    with pytest.raises(ConfigError, match="unknown precision"):
        precision_dtype("fp8", cpu)
    assert grad_scaler(cpu, torch.bfloat16) is None and grad_scaler(cpu, None) is None


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """The real 400-row lentiMPRA table through seqqc | dgsplit."""
    path = tmp_path_factory.mktemp("precision") / "split.tsv"
    qc = run_cli("seqqc", [DATA / "lentimpra_HepG2_400.tsv", "-q"])
    path.write_text(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    return path


def _fit(tmp_path, split, name, precision, device="cpu"):
    settings = tmp_path / f"{name}.toml"
    settings.write_text("[train]\nsteps_per_epoch = 3\n\n[model]\nkmer_prior = false\n")
    out = tmp_path / name
    res = run_cli("fit-cre", [split, "-o", out, "--targets", "mean_value",
                              "--preset", "cpu", "--epochs", "2", "--ensemble", "1", "--no-baseline", "-q",
                              "--config", settings, "--precision", precision, "--device", device])
    assert res.exit_code == 0, res.stderr
    return out


def test_bf16_trains_on_cpu_and_is_recorded(tmp_path, split):
    out = _fit(tmp_path, split, "bf16", "bf16")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["precision"] == "bf16"
    log = read_tsv(out / "train_log.tsv")
    assert len(log) == 2 and log["train_loss"].astype(float).notna().all()
    assert log["val_mean_pearson"].astype(float).between(-1, 1).all()


def test_fp16_on_cpu_is_refused_before_the_input_is_read(tmp_path):
    res = run_cli("fit-cre", [tmp_path / "absent.tsv", "-o", tmp_path / "m", "--targets", "y",
                              "--precision", "fp16", "--device", "cpu"])
    assert res.exit_code == 1
    assert "fp16 training needs a CUDA device" in res.stderr and "absent" not in res.stderr
    assert not (tmp_path / "m").exists()


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_gpu_precisions_train(tmp_path, split, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    out = _fit(tmp_path, split, precision, precision, device="cuda")
    ck = torch.load(out / "checkpoint-last.pt", weights_only=True)
    assert ("scaler" in ck) == (precision == "fp16")   # fp16's loss scale is resumed with the weights
