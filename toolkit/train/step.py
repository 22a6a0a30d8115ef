"""One optimiser step, the same in every training loop."""

import torch

from ..errors import ToolkitError


def guarded_step(loss, model, optimizer, clip, epoch, batch, check, groups=None, scaler=None):
    """Backpropagate ``loss``, clip the gradient norm at ``clip`` and step.

    ``groups``: parameter lists whose gradient norms are clipped separately (the
    members of an ensemble); default one group, the whole model. ``scaler``: a
    torch.amp.GradScaler for fp16 training (see toolkit.train.loop.grad_scaler).

    A non-finite loss stops training with an error naming the epoch and batch (both
    0-based here, 1-based in the message) before any weight changes; the last complete
    checkpoint on disk is kept. ``check`` says what to look at ("the targets", ...).
    """
    if not torch.isfinite(loss):
        raise ToolkitError(f"the training loss became {loss.item()} at epoch {epoch + 1}, batch {batch + 1}; "
                           "the last complete checkpoint is kept",
                           hint=f"lower the learning rate (lr in the [train] table of a --config file), "
                                f"or check {check} for extreme values")
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        for params in groups or [model.parameters()]:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        return
    scaler.scale(loss).backward()     # fp16: scaled, unscaled before clipping; a step with inf is skipped
    scaler.unscale_(optimizer)
    for params in groups or [model.parameters()]:
        torch.nn.utils.clip_grad_norm_(params, clip)
    scaler.step(optimizer)
    scaler.update()
