"""Training across processes: torchrun / Slurm with DistributedDataParallel.

A fit-* command started by ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous variables) joins a process group: NCCL when it trains on CUDA, gloo on CPU.
Started without them it is a group of one and nothing here does anything.

How a run stays one run:

- every rank builds the same model from the same seed and draws the same batch order
  and augmentations; each global batch of ``--batch-size`` rows is dealt out row by
  row (rank r takes rows r, r + W, ...), and DDP averages the gradients, so a step is
  the full batch's step up to dropout masks and, on CPU, per-rank BatchNorm statistics
  (on CUDA BatchNorm becomes SyncBatchNorm, which needs CUDA);
- per-task statistics that steer training (the task-weight EMA) and the logged
  losses are averaged over ranks, so every rank holds the same state;
- before validation the normalisation buffers of rank 0 are copied to all ranks, so
  every rank computes the same validation metrics and takes the same early-stopping
  decision without further messages;
- only rank 0 writes the model directory; checkpoints hold global state (epoch, step,
  batch), so ``--resume`` works with any number of ranks;
- a SIGTERM seen by any rank stops all of them at the same step (the flag is
  max-reduced every step).
"""

import os

import torch


class Group:
    """This process's place in the run: ``rank``, ``world``, ``main`` (rank 0)."""

    def __init__(self, rank=0, world=1, local_rank=0):
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.main = rank == 0

    @property
    def active(self):
        return self.world > 1

    def part(self, n):
        """Positions of this rank's rows in a global batch of n rows."""
        return slice(self.rank, n, self.world)

    def mean(self, tensor):
        """Mean of a tensor over ranks (returned, CPU float)."""
        if not self.active:
            return tensor
        import torch.distributed as td

        t = tensor.detach().to(torch.float64).clone()
        td.all_reduce(t)
        return (t / self.world).to(tensor.dtype)

    def any(self, flag):
        """True on every rank when it is true on any."""
        if not self.active:
            return bool(flag)
        import torch.distributed as td

        t = torch.tensor([1.0 if flag else 0.0])
        td.all_reduce(t, op=td.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast_buffers(self, model):
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
        if not self.active:
            return
        import torch.distributed as td

        for b in model.buffers():
            td.broadcast(b.data, 0)

    def barrier(self):
        if self.active:
            import torch.distributed as td

            td.barrier()

    def gather(self, obj):
        """Every rank's ``obj`` (picklable; CPU tensors), in rank order, on every rank."""
        if not self.active:
            return [obj]
        import torch.distributed as td

        out = [None] * self.world
        td.all_gather_object(out, obj)
        return out

    def wrap(self, model, device, **options):
        """The model DDP-wrapped for training (the model itself in a group of one).
        ``options`` go to DistributedDataParallel (``find_unused_parameters=True`` for a
        model some of whose parameters get no gradient in some steps)."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        if device.type == "cuda":           # one set of BatchNorm statistics over all ranks (CUDA only)
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DDP(model, device_ids=[device.index] if device.type == "cuda" else None,  # buffers synced each forward
                   **options)


_GROUP = Group()


def setup(device_name="auto"):
    """Join the torchrun process group if there is one; returns the :class:`Group`.
    On CUDA each rank takes the device of its LOCAL_RANK."""
    global _GROUP
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _GROUP = Group()
        return _GROUP
    import torch.distributed as td

    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device_name != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if not td.is_initialized():
        # NCCL for CUDA tensors (gradients, buffers), gloo for the CPU tensors and objects that
        # Group.mean, Group.any and Group.gather exchange (NCCL cannot reduce CPU tensors)
        td.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo")
    _GROUP = Group(td.get_rank(), td.get_world_size(), local)
    return _GROUP


def group():
    """The current :class:`Group` (a group of one unless :func:`setup` joined one)."""
    return _GROUP


def teardown():
    """Leave the process group (end of a command)."""
    global _GROUP
    if _GROUP.active:
        import torch.distributed as td

        td.destroy_process_group()
    _GROUP = Group()
