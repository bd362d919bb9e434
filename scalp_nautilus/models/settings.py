"""Settings of the network and of training (no torch import: the command line reads the defaults)."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field

from scalp_nautilus.errors import InputError
from scalp_nautilus.indicators.lob_vector import N_LOB_FEATURES
from scalp_nautilus.models.labels import DEFAULT_LABELS
from scalp_nautilus.models.labels import LABEL_KINDS


@dataclass(frozen=True)
class Architecture:
    """The sizes that rebuild a network from its state dict (stored in the model file)."""

    n_features: int = N_LOB_FEATURES
    channels: int = 32
    kernel: int = 4
    hidden: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainSettings:
    seq_len: int = 50  # LOB vectors per sample
    horizon: int = 50  # k, book batches
    alpha: float = 2e-5  # label threshold on l (0.2 bp)
    labels: str = DEFAULT_LABELS  # forward (nothing known at t) or smoothed (DeepLOB's; part known at t)
    val_fraction: float = 0.15  # of the rows, after the training span: early stopping
    test_fraction: float = 0.15  # the latest rows: held out, scored once at the end
    embargo_fraction: float = 0.01  # of the rows, skipped after each cut (López de Prado's embargo)
    epochs: int = 30  # at most
    patience: int = 5  # epochs without a better validation loss before stopping
    batch_size: int = 256
    lr: float = 1e-3  # Adam
    seed: int = 7
    threads: int = 1  # torch threads while training (results are reproducible per thread count)
    arch: Architecture = field(default_factory=Architecture)

    def __post_init__(self) -> None:
        for name in ("seq_len", "horizon", "epochs", "patience", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.labels not in LABEL_KINDS:
            raise InputError(f"labels must be one of {LABEL_KINDS}, got {self.labels!r}")
        if not (self.alpha >= 0.0 and self.lr > 0.0):
            raise InputError(f"need alpha >= 0 and lr > 0, got {self.alpha}, {self.lr}")
