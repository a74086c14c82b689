"""Layers shared by the RIFE 4.x families (names match the official state dicts)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_lrelu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution followed by LeakyReLU(0.2)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class ResConv(nn.Module):
    """Residual 3x3 convolution with a learnt per-channel gain ``beta``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.folded = False

    def fold_gain(self) -> None:
        """Scale the convolution by ``beta`` once (conv(x) * beta is a convolution too), so
        each forward skips one multiply over the whole feature map."""
        if self.folded:
            return
        with torch.no_grad():
            gain = self.beta.reshape(-1)
            self.conv.weight.mul_(gain.view(-1, 1, 1, 1))
            if self.conv.bias is not None:
                self.conv.bias.mul_(gain)
            self.beta.fill_(1.0)
        self.folded = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if not self.folded:
            y = y * self.beta
        return self.relu(y + x)


def fold_gains(net: nn.Module) -> nn.Module:
    """:meth:`ResConv.fold_gain` on every residual convolution of ``net``; returns ``net``."""
    for module in net.modules():
        if isinstance(module, ResConv):
            module.fold_gain()
    return net


class Head(nn.Module):
    """The 4.13+ frame encoder: three convolutions and a transposed one, half-res inside."""

    def __init__(self, hidden: int, out: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, hidden, 3, 2, 1)
        self.cnn1 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn2 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(hidden, out, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


def sequential_encoder(layers: list[tuple[int, int] | None]) -> nn.Sequential:
    """The 4.7-4.12 encoders: ``nn.Sequential`` whose slots are (cin, cout) layers or LeakyReLU.

    The first layer is a stride-2 3x3 convolution, the last a 4x4 transposed one, the
    others stride-1 3x3 convolutions; ``None`` slots are activations.
    """
    modules: list[nn.Module] = []
    last = max(i for i, spec in enumerate(layers) if spec is not None)
    for i, spec in enumerate(layers):
        if spec is None:
            modules.append(nn.LeakyReLU(0.2, inplace=True))
        elif i == last:
            modules.append(nn.ConvTranspose2d(spec[0], spec[1], 4, 2, 1))
        else:
            modules.append(nn.Conv2d(spec[0], spec[1], 3, 2 if i == 0 else 1, 1))
    return nn.Sequential(*modules)


def resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by ``factor`` (identity at 1)."""
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class IFBlock(nn.Module):
    """One coarse-to-fine flow block of RIFE 4.x.

    Takes its input already at 1/(scale) of the frame size (see core/models/flow_blocks.py),
    works at a quarter of that, and returns its ``out`` channels (4 of flow, 1 of mask logit,
    the rest features for the next block; 6 for 4.6-4.18, 13 for 4.22-4.26) at the frame size.
    """

    def __init__(self, in_planes: int, c: int, out: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(conv_lrelu(in_planes, c // 2, 2), conv_lrelu(c // 2, c, 2))
        self.convblock = nn.Sequential(*[ResConv(c) for _ in range(8)])
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * out, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        return resize(self.lastconv(self.convblock(self.conv0(x))), scale)
