"""Evaluation: the loss of a task, validation values of a model, the test split after training.

Validation loss is the mean over every target entry (as in training); classification adds
accuracy, segmentation pixel accuracy and the mean IoU over the classes present.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EVAL_BATCH = 1024


def loss_fn(task: str):
    if task == "regression":
        return F.mse_loss
    if task in ("classification", "segmentation"):
        return F.cross_entropy  # segmentation: out (N, C, H, W), y (N, H, W) long
    raise ValueError(f"unknown task {task!r}")


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, task: str, n_classes: int) -> dict[str, float]:
    """Validation loss (mean over every target entry, as in training), accuracy for classification
    (pixel accuracy and mean IoU over classes present for segmentation); one host sync."""
    host = torch.stack(eval_tensors(model, x, y, task, n_classes)).tolist()
    return eval_dict(host, task)


def eval_dict(host: list[float], task: str) -> dict[str, float]:
    out = {"val_loss": host[0]}
    if task != "regression":
        out["val_acc"] = host[1]
    if task == "segmentation":
        out["val_iou"] = host[2]
    return out


@torch.no_grad()
def eval_tensors(model: nn.Module, x: Tensor, y: Tensor, task: str, n_classes: int) -> list[Tensor]:
    """`evaluate`'s values as 0-d float tensors on the device (the caller reads them with its sync)."""
    was_training = model.training
    model.eval()
    crit = loss_fn(task)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    inter = torch.zeros(n_classes, device=x.device)
    union = torch.zeros(n_classes, device=x.device)
    for i in range(0, len(x), EVAL_BATCH):
        xb, yb = x[i : i + EVAL_BATCH], y[i : i + EVAL_BATCH]
        out = model(xb)
        loss_sum += crit(out, yb, reduction="sum")
        if task != "regression":
            pred = out.argmax(1)
            correct += (pred == yb).sum()
        if task == "segmentation":
            cls = torch.arange(n_classes, device=x.device).view(-1, 1, 1, 1)
            p, t = pred.unsqueeze(0) == cls, yb.unsqueeze(0) == cls
            inter += (p & t).flatten(1).sum(1)
            union += (p | t).flatten(1).sum(1)
    model.train(was_training)
    values = [loss_sum / y.numel()]
    if task != "regression":
        values.append(correct / y.numel())
    if task == "segmentation":
        present = (union > 0).float()
        values.append((inter / union.clamp_min(1) * present).sum() / present.sum().clamp_min(1))
    return [v.float() for v in values]


def evaluate_test_split(model: nn.Module, x_test: Optional[Tensor], y_test: Optional[Tensor], task: str,
                        n_classes: int) -> dict[str, float]:
    """`test_loss` and `test_acc` / `test_iou` of the trained model on a test split ({} without one);
    evaluated once, after training, and used for no training decision."""
    if x_test is None or y_test is None:
        return {}
    device = next(model.parameters()).device
    got = evaluate(model, x_test.to(device), y_test.to(device), task, n_classes)
    return {k.replace("val_", "test_", 1): v for k, v in got.items()}
