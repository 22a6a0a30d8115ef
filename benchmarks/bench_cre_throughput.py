#!/usr/bin/env python3
"""Training and prediction throughput of fit-cre's loop against a bare PyTorch loop.

Both run the same model (the preset's), batch size, device and work per step in one
process, one after the other, on real sequences (the bundled lentiMPRA example,
resampled to --rows): the bare loop holds pre-built one-hot float tensors on the
device and does exactly what a step of the toolkit does (forward on the batch and
its reverse complement, masked Huber, RC-consistency penalty, backward, clipping,
AdamW), without augmentation, bookkeeping or checkpoints; the toolkit runs
toolkit.train.cre.train for one epoch (augmentation from uint8 codes, validation,
log and checkpoint writing included in its time). Prediction: predict_codes against a
bare no-grad loop over pre-built tensors, RC-averaged both. The network is the preset's
(BatchNorm for cpu); the cpu preset's k-mer ridge branch, fitted once before training in a
few seconds, is left out of both.

Target (issue 4): toolkit >= 95% of the bare loop's sequences/s.

    python3 benchmarks/bench_cre_throughput.py --rows 4096 --preset cpu --device auto
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import benchlib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import pandas as pd
    import torch

    from toolkit.models import cre as model_lib
    from toolkit.train import cre as trainer
    from toolkit.train import data as D

    torch.set_num_threads(a.threads)
    dev = trainer.resolve_device(a.device)
    df = pd.read_csv(os.path.join(os.path.dirname(HERE), "share", "examples", "lentimpra_joint_3cell.csv.gz"))
    rng = np.random.default_rng(1)
    pick = rng.integers(0, len(df), a.rows)
    seqs = df["sequence"].str.upper().to_numpy()[pick].tolist()
    T = ["HepG2_l2fc", "K562_l2fc", "WTC11_l2fc"]
    y = df[T].to_numpy(dtype=np.float32)[pick]
    y = (y - y.mean(0)) / y.std(0)
    codes = D.encode(seqs, 230)
    p = model_lib.PRESETS[a.preset]
    config = {"targets": T, "seed": 1, "length": 230,
              "model": {"arch": p["arch"], "stem": p["stem"], "width": p["width"], "wide": p["wide"],
                        "res_blocks": p["res_blocks"], "head_hidden": p["head_hidden"], "n_side": 0,
                        "norm": p.get("norm", "weight"), "head_dropout": p.get("head_dropout", [0.3, 0.2])},
              "train": {**trainer.TRAIN_DEFAULTS, "epochs": 1, "warmup_epochs": 0, "batch_size": p["batch_size"],
                        "lr": p["lr"], "best_k": 1}}
    bs = p["batch_size"]
    nval = 64
    tr = trainer.Split(codes[nval:], y[nval:])
    va = trainer.Split(codes[:nval], y[:nval])
    n = len(tr)
    steps = n // bs

    def toolkit_train():
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            trainer.train(config, tr, va, d, dev)
            return steps * bs / (time.perf_counter() - t)

    def bare_train():
        torch.manual_seed(1)
        model = model_lib.build(config).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=p["lr"])
        X = D.onehot(torch.as_tensor(codes[nval:]).to(dev))
        Xr = D.onehot(D.reverse_complement(torch.as_tensor(codes[nval:])).to(dev))
        Y = torch.as_tensor(y[nval:]).to(dev)
        amp = dev.type == "cuda"
        model.train()
        t = time.perf_counter()
        for b in range(steps):
            sl = slice(b * bs, (b + 1) * bs)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                out = model(torch.cat([X[sl], Xr[sl]])).float()
            pred, prc = out[:bs], out[bs:]
            loss = torch.nn.functional.huber_loss(pred, Y[sl]) + 0.05 * (pred - prc).abs().mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return steps * bs / (time.perf_counter() - t)

    model = model_lib.build(config).to(dev)

    def toolkit_predict():
        t = time.perf_counter()
        trainer.predict_codes(model, codes, None, dev, batch_size=512, rc_average=True)
        return len(codes) / (time.perf_counter() - t)

    def bare_predict():
        X = D.onehot(torch.as_tensor(codes).to(dev))
        Xr = D.onehot(D.reverse_complement(torch.as_tensor(codes)).to(dev))
        model.eval()
        t = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(codes), 512):
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    _ = (0.5 * (model(X[s:s + 512]).float() + model(Xr[s:s + 512]).float())).cpu()
        return len(codes) / (time.perf_counter() - t)

    facts = benchlib.machine(("numpy", "torch"))
    print(f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['ram_gib']} GiB; torch {facts['torch']}; "
          f"device {dev}, {a.threads} threads")
    print(f"Code: {benchlib.revision(os.path.dirname(HERE))}")
    print(f"Input: {a.rows:,} real lentiMPRA sequences (230 nt), preset {a.preset}, batch {bs}, "
          f"{steps} steps per epoch; median of {a.repeat} runs, alternating\n")
    res = {k: [] for k in ("tk_train", "bare_train", "tk_pred", "bare_pred")}
    for _ in range(a.repeat):
        res["bare_train"].append(bare_train())
        res["tk_train"].append(toolkit_train())
        res["bare_pred"].append(bare_predict())
        res["tk_pred"].append(toolkit_predict())
    med = {k: float(np.median(v)) for k, v in res.items()}
    print("| measurement | toolkit seq/s | bare PyTorch seq/s | ratio | target |")
    print("|---|---|---|---|---|")
    for what, tk, bare in (("training (one epoch, with validation and checkpoint)", "tk_train", "bare_train"),
                           ("prediction (RC-averaged)", "tk_pred", "bare_pred")):
        r = med[tk] / med[bare]
        print(f"| {what} | {med[tk]:,.0f} | {med[bare]:,.0f} | {r:.3f} | >= 0.95: {'met' if r >= 0.95 else 'NOT met'} |")


if __name__ == "__main__":
    main()
