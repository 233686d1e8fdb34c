"""Training losses of PIFuHD (paper Sec. 3.4 and the normal nets' L_N), as pure functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def outside_ratio(labels: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """lambda of the paper: the share of the batch's (valid) points that are outside.

    labels: (B, 1, N) float, 1 inside / 0 outside; valid: (B, 1, N) float weights or None.
    Returns a scalar tensor in [0, 1] (0.5 when no point is valid); no gradient.
    """
    labels = labels.detach().float()
    if valid is None:
        return 1.0 - labels.mean()
    valid = valid.detach().float()
    total = valid.sum()
    ratio = ((1.0 - labels) * valid).sum() / total.clamp_min(1e-12)
    return torch.where(total > 0, ratio, torch.full_like(ratio, 0.5))  # no host sync


def weighted_occupancy_bce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor | None = None,
    balance: bool = True,
) -> torch.Tensor:
    """The paper's extended BCE, from logits, averaged over the valid points:

        L = -mean[ lambda f* log f + (1 - lambda) (1 - f*) log(1 - f) ],  f = sigmoid(logits),

    with lambda = ``outside_ratio(labels, valid)``: the rarer class weighs more. Computed
    stably: log f = -softplus(-x), log(1 - f) = -softplus(x), in float32.

    The minimiser is f = lambda p / (lambda p + (1 - lambda)(1 - p)) for a point inside with
    probability p, so f = 0.5 where p = 1 - lambda, the share of inside points: with a quarter
    of the points uniform in the volume that share is about 0.3, and wherever the image leaves
    depth uncertain the 0.5 surface swells. ``balance=False`` gives the plain BCE (both
    weights 1), whose 0.5 surface is p = 0.5.

    logits, labels: (B, 1, N); valid: (B, 1, N) float or None (all points count).
    Returns a scalar.
    """
    x = logits.float()
    y = labels.float()
    if balance:
        lam = outside_ratio(y, valid)
        per_point = lam * y * F.softplus(-x) + (1.0 - lam) * (1.0 - y) * F.softplus(x)
    else:
        per_point = y * F.softplus(-x) + (1.0 - y) * F.softplus(x)
    if valid is None:
        return per_point.mean()
    valid = valid.float()
    return (per_point * valid).sum() / valid.sum().clamp_min(1e-12)


def stacked_occupancy_loss(
    logits_per_stack: Sequence[torch.Tensor],
    labels: torch.Tensor,
    valid: Sequence[torch.Tensor] | torch.Tensor | None = None,
    balance: bool = True,
) -> torch.Tensor:
    """Intermediate supervision: ``weighted_occupancy_bce`` averaged over hourglass stacks.

    logits_per_stack: [(B, 1, N)] one per stack; labels: (B, 1, N); valid: one mask for all
    stacks, one per stack, or None; balance: the paper's lambda weighting, or plain BCE.
    """
    if not logits_per_stack:
        raise ValueError("no stacks to supervise")
    masks = valid if isinstance(valid, Sequence) else [valid] * len(logits_per_stack)
    losses = [
        weighted_occupancy_bce(x, labels, m, balance)
        for x, m in zip(logits_per_stack, masks, strict=True)
    ]
    return torch.stack(losses).mean()


def normal_loss(
    predicted: torch.Tensor,
    target: torch.Tensor,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    l1_weight: float = 5.0,
    perceptual_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_N = perceptual_weight * L_VGG + l1_weight * L1 (paper: 1 and 5).

    predicted, target: (B, 3, H, W) normal maps in [-1, 1]. ``perceptual`` None leaves the
    perceptual term out. Returns (loss, {"l1": ..., "vgg": ...} detached parts).
    """
    l1 = F.l1_loss(predicted.float(), target.float())
    loss = l1_weight * l1
    parts = {"l1": l1.detach()}
    if perceptual is not None:
        vgg = perceptual(predicted, target)
        loss = loss + perceptual_weight * vgg
        parts["vgg"] = vgg.detach()
    return loss, parts


def confusion_counts(
    occupancy: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """(true positives, false positives, false negatives) of ``occupancy > 0.5``.

    occupancy, labels: (B, 1, N); valid: (B, 1, N) or None. Returns (3,) float64 counts.
    """
    pred = occupancy > 0.5
    truth = labels > 0.5
    keep = torch.ones_like(pred) if valid is None else valid > 0.5
    tp = (pred & truth & keep).sum()
    fp = (pred & ~truth & keep).sum()
    fn = (~pred & truth & keep).sum()
    return torch.stack([tp, fp, fn]).double().cpu()


def iou_precision_recall(counts: torch.Tensor) -> dict[str, float]:
    """{"iou", "precision", "recall"} from (tp, fp, fn) counts; 1.0 where undefined (0 / 0)."""
    tp, fp, fn = (float(c) for c in counts)

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else 1.0

    return {
        "iou": ratio(tp, tp + fp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
    }
