"""The DeepLOB-style network (Zhang, Zohren & Roberts 2019), sized for batch-of-one CPU inference.

Input: [batch, seq_len, 21] z-scored LOB vectors (`LOB_FEATURE_NAMES` order), oldest first.

    features -> 1x1 convolution across the 21 features at each step (DeepLOB's (1 x k) convolutions
                that combine the book's columns), LeakyReLU
             -> two convolutions over time (kernel 4, DeepLOB's (4 x 1)), LeakyReLU, left-padded so
                that every step only sees itself and the past and the sequence keeps its length
             -> one LSTM layer; its last hidden state feeds one linear layer with five outputs:
                  0-2  direction logits: down, flat, up (the smoothed-mid labels of `labels`)
                  3    confidence logit: trained (binary cross-entropy) on whether the direction
                       head's own call (its argmax) was the right class, so sigmoid(logit) is
                       an estimate of P(this call is right)
                  4    volatility: trained (Huber) on the realised volatility of the mid over the
                       horizon, sqrt(sum of squared one-step log returns of the next k mids), in
                       basis points (`labels.VOL_SCALE`); softplus keeps it >= 0

DeepLOB's inception module and its 40 price/size columns are left out: our vector is 21 already
normalised features, and the point here is a model that answers in well under a millisecond.
With the defaults (32 channels, 64 hidden) the network has 34,373 parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scalp_nautilus.models.labels import CLASSES
from scalp_nautilus.models.settings import Architecture


class LOBNet(nn.Module):
    """`forward` gives the raw [batch, 5] outputs (for the losses), `predict` the usable ones."""

    def __init__(self, arch: Architecture = Architecture()) -> None:
        super().__init__()
        self.arch = arch
        self.mix = nn.Conv1d(arch.n_features, arch.channels, 1)
        self.time1 = nn.Conv1d(arch.channels, arch.channels, arch.kernel)
        self.time2 = nn.Conv1d(arch.channels, arch.channels, arch.kernel)
        self.lstm = nn.LSTM(arch.channels, arch.hidden, batch_first=True)
        self.heads = nn.Linear(arch.hidden, len(CLASSES) + 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.arch.kernel - 1, 0)  # causal: pad the past only
        h = F.leaky_relu(self.mix(x.transpose(1, 2)), 0.01)
        h = F.leaky_relu(self.time1(F.pad(h, pad)), 0.01)
        h = F.leaky_relu(self.time2(F.pad(h, pad)), 0.01)
        out, _ = self.lstm(h.transpose(1, 2))
        return self.heads(out[:, -1])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, 5]: P(down), P(flat), P(up), confidence in [0, 1], volatility in bps (>= 0)."""
        raw = self.forward(x)
        return torch.cat(
            (torch.softmax(raw[:, :3], dim=1), torch.sigmoid(raw[:, 3:4]), F.softplus(raw[:, 4:5])),
            dim=1,
        )


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
