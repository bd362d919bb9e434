"""`scalp-nautilus train` and `scalp-nautilus evaluate` (registered by `cli.py`).

Torch is imported when a command runs, not when the parser is built, so the other commands do not
pay for it.
"""

from __future__ import annotations

import json
from pathlib import Path

from scalp_nautilus.cli import FEATURES_HELP
from scalp_nautilus.models.settings import TrainSettings
from scalp_nautilus.research.intervals import BootstrapSettings

_D = TrainSettings()


def register(sub) -> None:
    """Add the `train` and `evaluate` sub-commands to the CLI's subparsers."""
    tr = sub.add_parser("train", help="train the LSTM on recorded features and write a model file")
    tr.add_argument("--features", nargs="+", required=True, type=Path, help=FEATURES_HELP)
    tr.add_argument("--out", required=True, type=Path, help="model file to write, e.g. models/btc.pt")
    tr.add_argument("--seq-len", type=int, default=_D.seq_len, help="LOB vectors (book batches) per input sequence")
    tr.add_argument("--horizon", type=int, default=_D.horizon, help="label horizon k, in book batches")
    tr.add_argument("--alpha", type=float, default=_D.alpha, help="label threshold on the relative mid move (2e-5: 0.2 bp)")
    tr.add_argument(
        "--labels",
        choices=["forward", "smoothed"],
        default=_D.labels,
        help="forward: mean of the next k mids vs the current mid; smoothed: DeepLOB's (vs the past mean)",
    )
    tr.add_argument(
        "--val-fraction",
        type=float,
        default=_D.val_fraction,
        help="share of the rows after the training span, for early stopping",
    )
    tr.add_argument(
        "--test-fraction",
        type=float,
        default=_D.test_fraction,
        help="share of the rows held out (the latest), scored once at the end",
    )
    tr.add_argument(
        "--embargo-fraction",
        type=float,
        default=_D.embargo_fraction,
        help="share of the rows skipped after each cut (López de Prado's embargo)",
    )
    tr.add_argument("--epochs", type=int, default=_D.epochs, help="training epochs, at most (early stopping may end sooner)")
    tr.add_argument("--patience", type=int, default=_D.patience, help="epochs without a better validation loss before stopping")
    tr.add_argument("--batch-size", type=int, default=_D.batch_size, help="sequences per gradient step")
    tr.add_argument("--lr", type=float, default=_D.lr, help="Adam learning rate")
    tr.add_argument(
        "--seed",
        type=int,
        default=_D.seed,
        help="seeds torch and the batch order: the same seed, data and --threads, the same model",
    )
    tr.add_argument("--threads", type=int, default=_D.threads, help="torch threads (results are reproducible per count)")
    BootstrapSettings.add_arguments(tr, "the score intervals")
    tr.set_defaults(run=_cmd_train)

    ev = sub.add_parser("evaluate", help="re-score a model file on other recorded features")
    ev.add_argument("--model", required=True, type=Path, help="a model file written by `train`, e.g. models/btc.pt")
    ev.add_argument("--features", nargs="+", required=True, type=Path, help=FEATURES_HELP)
    ev.add_argument("--json", type=Path, help="also write the scores to this JSON file")
    ev.add_argument("--predictions", type=Path, help="write one row per sample here (CSV, or Parquet for .parquet)")
    BootstrapSettings.add_arguments(ev, "the score intervals")
    ev.set_defaults(run=_cmd_evaluate)


def _cmd_train(args) -> int:
    from scalp_nautilus.models.training import format_report
    from scalp_nautilus.models.training import learning_curve_lines
    from scalp_nautilus.models.training import train

    settings = TrainSettings(
        seq_len=args.seq_len,
        horizon=args.horizon,
        alpha=args.alpha,
        labels=args.labels,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        embargo_fraction=args.embargo_fraction,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
    )
    meta = train(args.features, args.out, settings, BootstrapSettings.from_args(args))
    t = meta["training"]
    for name, span in t["spans"].items():
        print(f"{name:<10s} {span['first']} -> {span['last']}: {span['samples']} samples")
    print(f"{t['parameters']} parameters; best epoch {t['best_epoch']} of {len(t['history'])}; embargo {t['embargo_rows']} rows")
    print("\n".join(learning_curve_lines(meta)))
    print(format_report("validation span", meta["scores"]["validation"]))
    print(format_report("held-out test span", meta["scores"]["test"]))
    print(f"wrote {args.out}")
    return 0


def _cmd_evaluate(args) -> int:
    from scalp_nautilus.models.model_file import describe
    from scalp_nautilus.models.model_file import load_model
    from scalp_nautilus.models.training import evaluate
    from scalp_nautilus.models.training import format_report

    model = load_model(args.model)
    report = evaluate(model, args.features, BootstrapSettings.from_args(args), args.predictions)
    print(f"model {args.model}: {describe(model)}")
    print(format_report(", ".join(str(p) for p in args.features), report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    if args.predictions:
        print(f"wrote {args.predictions}")
    return 0
