"""A model's blocks, their output shapes and parameter counts: what the notebooks show before training."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
import torch.nn as nn

if TYPE_CHECKING:
    from ._registry import DepthModel

__all__ = ["summary", "summary_markdown"]


def _blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The encoder's stages, the decoder's top-level parts (a ModuleList / ModuleDict counts as its items), the head."""
    dm = cast("DepthModel", model)
    out = [(f"encoder.stages.{i}", m) for i, m in enumerate(dm.encoder.stages)]
    for name, child in dm.decoder.named_children():
        if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
            items = child.items() if isinstance(child, nn.ModuleDict) else enumerate(child)
            out += [(f"decoder.{name}.{k}", m) for k, m in items]
        else:
            out.append((f"decoder.{name}", child))
    return out + [("head", dm.head)]


@torch.no_grad()
def summary(model: nn.Module, input_hw: tuple[int, int] = (128, 128)) -> list[dict]:
    """Run one zero image of ``input_hw`` through ``model`` (an encoder + decoder + head model) and record, for
    every block in call order, its output shape (C×H×W) and its parameters."""
    rows: list[dict] = []
    hooks = []
    for name, block in _blocks(model):

        def hook(mod, inp, out, name=name):
            shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
            rows.append({"block": name, "output": shape, "params": sum(p.numel() for p in mod.parameters())})

        hooks.append(block.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        model(torch.zeros(1, 3, *input_hw, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return rows


def summary_markdown(model: nn.Module, input_hw: tuple[int, int] = (128, 128)) -> str:
    """The summary as a Markdown table, with the total."""
    rows = summary(model, input_hw)
    lines = ["| block | output C×H×W | parameters |", "|---|---|---|"]
    lines += [
        f"| {r['block']} | {'×'.join(map(str, r['output'])) if r['output'] else '–'} | {r['params']:,} |" for r in rows
    ]
    lines.append(f"| **total** | 1×{input_hw[0]}×{input_hw[1]} | {sum(p.numel() for p in model.parameters()):,} |")
    return "\n".join(lines) + "\n"
