"""One optimiser step, the same in every training loop."""

import torch

from ..errors import ToolkitError


def guarded_step(loss, model, optimizer, clip, epoch, batch, check, groups=None):
    """Backpropagate ``loss``, clip the gradient norm at ``clip`` and step.

    ``groups``: parameter lists whose gradient norms are clipped separately (the
    members of an ensemble); default one group, the whole model.

    A non-finite loss stops training with an error naming the epoch and batch (both
    0-based here, 1-based in the message) before any weight changes; the last complete
    checkpoint on disk is kept. ``check`` says what to look at ("the targets", ...).
    """
    if not torch.isfinite(loss):
        raise ToolkitError(f"the training loss became {loss.item()} at epoch {epoch + 1}, batch {batch + 1}; "
                           "the last complete checkpoint is kept",
                           hint=f"lower --lr, or check {check} for extreme values")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for params in groups or [model.parameters()]:
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
