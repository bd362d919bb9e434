"""`scalp-nautilus`: the one command line of the project.

scalp-nautilus data simulate | import-binance | import-bybit | import-binance-book | import-tardis | import-funding
                    | download | list
scalp-nautilus data download --market um --symbol BTCUSDT --from 2024-01-01 --to 2024-03-31   (Binance's archive)
scalp-nautilus backtest [--config configs/backtest.yaml] [--record-features PATH]
scalp-nautilus features --catalog DIR --instrument ID [--config configs/strategy.yaml] --out F.parquet
scalp-nautilus sweep | walk-forward [--config configs/sweep.yaml] [--address A] [--num-cpus N]
scalp-nautilus train --features PATH... --out models/NAME.pt | evaluate --model PATH --features PATH...
scalp-nautilus research edge --features PATH... --out DIR | calibrate --features PATH... --out configs/X.yaml
scalp-nautilus live --config configs/live_binance.yaml [--mainnet] [--clear-halt]
scalp-nautilus replay-venue [--config configs/replay_venue.yaml] [--capture FILE...] [--speed X] [--port N]
scalp-nautilus replay-venue --config configs/replay_venue_bybit.yaml      (the same venue speaking Bybit's API)
scalp-nautilus record [--config configs/record.yaml] [--out-dir DIR] [--catalog DIR --import-every 1h]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path

from scalp_nautilus.data import DEFAULT_CATALOG
from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import MissingFileError
from scalp_nautilus.errors import ScalpError

log = logging.getLogger("scalp_nautilus")

DEFAULT_BACKTEST_CONFIG = Path("configs/backtest.yaml")
DEFAULT_LIVE_CONFIG = Path("configs/live_binance.yaml")
DEFAULT_VENUE_CONFIG = Path("configs/replay_venue.yaml")
DEFAULT_RECORD_CONFIG = Path("configs/record.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the command asked for is built (its modules imported): `--help` and `record --help`
    # stay fast instead of importing Nautilus, pandas and scipy for every command's parser.
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = _parser(command if command in _COMMANDS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        return 130
    except ScalpError as exc:
        # The project's own errors (a bad config, file or argument, unusable data) carry a message
        # meant for the user; anything else is a bug and shows its traceback.
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


def existing_path(text: str) -> Path:
    """An input file or folder argument that must exist (argparse reports it as a usage error)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


_ALL = "*"
# the input of the commands that read feature rows (features, train, evaluate, research)
FEATURES_HELP = "recorded feature rows: Parquet files written by `features` or `backtest --record-features`"


def _parser(command: str | None = _ALL) -> argparse.ArgumentParser:
    """The parser with every command's options (the default: the docs' CLI reference reads it),
    or, for `main`, only `command`'s, the others listed by name and help (None: just the list)."""
    p = argparse.ArgumentParser(prog="scalp-nautilus", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, and a traceback with every error")
    sub = p.add_subparsers(title="commands")
    target = _COMMANDS[command][1] if command in _COMMANDS else None
    for name, (text, build) in _COMMANDS.items():
        if name in sub.choices:
            continue  # added by another command's builder (train and evaluate come together)
        if command == _ALL or build is target:
            build(sub, name, text)
        else:
            sub.add_parser(name, help=text)
    for _, _, parser in subcommands(p):
        parser.formatter_class = HelpFormatter  # every command's `--help` shows its defaults
    return p


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`--help` with each option's default, unless it has none (None, off, an empty list) or the
    help text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.required or "%(default)" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def subcommands(
    parser: argparse.ArgumentParser, path: str = "scalp-nautilus"
) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(command line, its help, its parser) of every command and sub-command under `parser`, depth
    first (the docs' CLI reference and the help test walk them)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helps.get(name, ""), sub
                yield from subcommands(sub, f"{path} {name}")


@functools.cache
def _module(path: str) -> Callable:
    """A command that another module registers (`register(sub)` adds its parsers; one builder per
    module, so that its commands are built together)."""

    def build(sub, name: str, text: str) -> None:
        import importlib

        importlib.import_module(path).register(sub)

    return build


def _data_parser(sub, name: str, text: str) -> None:
    data = sub.add_parser(name, help=text).add_subparsers(title="data commands")

    def catalog_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--catalog", default=str(DEFAULT_CATALOG), help="catalog folder (default: %(default)s)")
        sp.add_argument("--replace", action="store_true", help="replace data already in the catalog for the same span")

    sim = data.add_parser("simulate", help="write the synthetic default market (BTCUSDT-PERP.SIM)")
    catalog_args(sim)
    sim.add_argument(
        "--minutes", type=float, default=60.0, help="span of the simulated market in minutes, from 2024-01-01 23:30 UTC"
    )
    sim.add_argument("--hours", type=float, help="span in hours (instead of --minutes), e.g. 24 for a day")
    sim.add_argument("--seed", type=int, default=7, help="random seed: the same seed and span write the same catalog")
    sim.add_argument(
        "--profile",
        choices=["default", "btcusdt"],
        default="default",
        help="btcusdt: the real captures' intensity (prints its rates beside theirs)",
    )
    sim.set_defaults(run=_cmd_simulate)

    def capture_parser(name: str, venue: str) -> argparse.ArgumentParser:
        """A raw WebSocket capture's import: its files, the catalog, the symbol, the clock offset."""
        sp = data.add_parser(name, help=f"import a raw {venue} WebSocket capture (files of one capture in order)")
        sp.add_argument(
            "files", nargs="+", type=existing_path, help="capture files in order, or a `record` folder (its files in time order)"
        )
        catalog_args(sp)
        sp.add_argument("--symbol", help="symbol to import when the capture holds several")
        sp.add_argument(
            "--clock-offset-ms",
            type=float,
            help="milliseconds added to the capture's receive times (ts_init); default: estimated, the smallest shift "
            "that puts every message's receipt at or after the exchange's event time",
        )
        return sp

    ib = capture_parser("import-binance", "Binance futures")
    ib.add_argument("--exchange-info", type=existing_path, help="saved Binance exchangeInfo JSON for symbols not tabulated")
    ib.set_defaults(run=_cmd_import_binance)

    ib2 = data.add_parser("import-binance-book", help="import Binance's historical order-book files (full L2, futures)")
    ib2.add_argument("files", nargs="+", type=Path, help="update files in time order (.csv, .csv.gz, .zip)")
    catalog_args(ib2)
    ib2.add_argument("--snapshots", nargs="+", type=Path, default=[], help="files holding only snap blocks (..._depth_snap.csv)")
    ib2.add_argument("--symbol", help="symbol, e.g. BTCUSDT (default: the first row's symbol column)")
    ib2.add_argument("--exchange-info", type=Path, help="saved Binance exchangeInfo JSON for symbols not tabulated")
    ib2.set_defaults(run=_cmd_import_binance_book)

    iy = capture_parser("import-bybit", "Bybit linear")
    iy.add_argument("--tick-size", help="tick size (a decimal string; default: inferred from the data's printed precision)")
    iy.add_argument("--step-size", help="lot size (a decimal string; default: inferred)")
    iy.set_defaults(run=_cmd_import_bybit)

    it = data.add_parser("import-tardis", help="import Tardis CSV files (incremental_book_L2, trades, quotes, derivative_ticker)")
    it.add_argument(
        "files",
        nargs="+",
        type=existing_path,
        help="Tardis CSV files (.csv or .csv.gz) of one exchange and symbol, read in name order; each file's kind "
        "from its name or header, e.g. binance-futures_incremental_book_L2_2024-01-01_BTCUSDT.csv.gz",
    )
    catalog_args(it)
    it.add_argument("--exchange", required=True, help="Tardis exchange name, e.g. binance-futures, deribit")
    it.add_argument("--symbol", required=True, help="exchange symbol, e.g. BTCUSDT")
    it.add_argument("--tick-size", help="override the tabulated tick size (a decimal string)")
    it.add_argument("--step-size", help="override the tabulated lot size (a decimal string)")
    it.set_defaults(run=_cmd_import_tardis)

    fh = data.add_parser("import-funding", help="import Binance funding-rate history (data archive CSV or website export)")
    fh.add_argument(
        "file", type=existing_path, help="the CSV: data.binance.vision's fundingRate archive, or the website's export"
    )
    catalog_args(fh)
    fh.add_argument("--symbol", required=True, help="Binance symbol, e.g. BTCUSDT or BTCUSD_PERP")
    fh.add_argument("--tz", default="UTC", help="time zone of a website export's Time column, e.g. Europe/London (default: UTC)")
    fh.add_argument(
        "--format",
        choices=["auto", "archive", "web-export"],
        default="auto",
        help="auto: told by the header (archive: calc_time,funding_interval_hours,...; web-export: Time,Contracts,...)",
    )
    fh.set_defaults(run=_cmd_import_funding)

    _download_parser(data, catalog_args)

    ls = data.add_parser("list", help="what the catalog holds")
    ls.add_argument("--catalog", default=str(DEFAULT_CATALOG), help="catalog folder (default: %(default)s)")
    ls.set_defaults(run=_cmd_list)


def _download_parser(data, catalog_args) -> None:
    dl = data.add_parser(
        "download",
        help="download Binance's public archive (--from/--to) or Tardis's free days (--date), and import them",
    )
    catalog_args(dl)
    dl.add_argument("--source", choices=["binance", "tardis"], help="default: tardis when --date is given, else binance")
    dl.add_argument("--symbol", default="BTCUSDT", help="the exchange's symbol, e.g. ETHUSDT, or BTCUSD_PERP with --market cm")
    dl.add_argument(
        "--types",
        help="comma-separated; binance (default trades,bookTicker,fundingRate,markPriceKlines): trades, aggTrades, bookTicker, "
        "fundingRate, markPriceKlines, premiumIndexKlines; tardis (default incremental_book_L2,trades,derivative_ticker)",
    )
    dl.add_argument("--download-dir", type=Path, default=Path("datasets"), help="where files are kept (default: %(default)s)")
    tardis = dl.add_argument_group("tardis")
    tardis.add_argument("--date", help="YYYY-MM-DD (without an API key only the first day of a month)")
    tardis.add_argument("--exchange", default="binance-futures", help="Tardis exchange name, e.g. binance-futures, deribit")
    binance = dl.add_argument_group("binance archive (data.binance.vision)")
    binance.add_argument("--market", choices=["um", "cm", "spot"], default="um", help="USDT-M, COIN-M futures or spot")
    binance.add_argument("--from", dest="start", help="first day, YYYY-MM-DD")
    binance.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (inclusive)")
    binance.add_argument("--period", choices=["auto", "daily", "monthly"], default="auto", help="monthly files for whole months")
    binance.add_argument("--interval", default="1m", help="kline interval of markPriceKlines / premiumIndexKlines")
    binance.add_argument("--base-url", help="the archive's address (default https://data.binance.vision)")
    binance.add_argument("--from-dir", type=Path, help="import archive zips fetched elsewhere (no network)")
    binance.add_argument("--jobs", type=int, default=4, help="files fetched at once")
    binance.add_argument("--exchange-info", type=Path, help="saved Binance exchangeInfo JSON for symbols not tabulated")
    binance.add_argument("--no-import", action="store_true", help="download and verify only")
    binance.add_argument("--no-progress", action="store_true", help="no progress bar on stderr (logs, cron jobs)")
    dl.set_defaults(run=_cmd_download)


def _backtest_parser(sub, name: str, text: str) -> None:
    bt = sub.add_parser(name, help=text)
    bt.add_argument(
        "--config", type=Path, default=DEFAULT_BACKTEST_CONFIG, help="backtest config (YAML); its strategy.config_file beside it"
    )
    bt.add_argument("--catalog", help="override the config's catalog: a folder or s3://bucket/prefix")
    bt.add_argument("--instrument", help="override the config's instrument_id, e.g. BTCUSDT-PERP.BINANCE")
    bt.add_argument(
        "--record-features",
        metavar="PATH",
        help="also write the features to this Parquet file, one row per book batch (the rows `features` writes)",
    )
    bt.set_defaults(run=_cmd_backtest)


def _live_parser(sub, name: str, text: str) -> None:
    lv = sub.add_parser(name, help=text)
    lv.add_argument(
        "--config", type=Path, default=DEFAULT_LIVE_CONFIG, help="live node config (YAML), e.g. configs/live_bybit.yaml"
    )
    lv.add_argument("--mainnet", action="store_true", help="trade on the production exchange: REAL MONEY")
    lv.add_argument(
        "--clear-halt",
        action="store_true",
        help="clear the kill switch's halt recorded in the state file, then start (check the account first)",
    )
    lv.set_defaults(run=_cmd_live)


def _venue_parser(sub, name: str, text: str) -> None:
    rv = sub.add_parser(name, help=text)
    rv.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_VENUE_CONFIG,
        help="replay venue config (YAML); configs/replay_venue_bybit.yaml speaks Bybit's API",
    )
    rv.add_argument(
        "--capture", nargs="+", type=existing_path, help="capture files (one capture, in order); replaces the config's"
    )
    rv.add_argument("--speed", type=float, help="replay speed: 1 as captured, 10 ten times faster (default: the config's)")
    rv.add_argument("--port", type=int, help="port on 127.0.0.1, 0: any free one (default: the config's)")
    rv.add_argument(
        "--tick-size", help="the symbol's tick size, for a symbol the contract table does not know (a decimal string)"
    )
    rv.add_argument("--step-size", help="the symbol's lot size (with --tick-size)")
    rv.add_argument("--exchange-info", type=existing_path, help="a saved Binance exchangeInfo JSON holding the symbol's filters")
    rv.set_defaults(run=_cmd_replay_venue)


def _record_parser(sub, name: str, text: str) -> None:
    rc = sub.add_parser(name, help=text)
    rc.add_argument(
        "--config", type=Path, default=DEFAULT_RECORD_CONFIG, help="capture config (YAML): venues, symbols, streams, disk"
    )
    rc.add_argument("--out-dir", help="override the config's out_dir (files go to OUT_DIR/<venue>/<SYMBOL>/)")
    rc.add_argument("--catalog", help="import closed files into this catalog as the recording goes")
    rc.add_argument("--import-every", metavar="DURATION", help="import interval, e.g. 1h, 30m, 90s (default: the config's)")
    rc.set_defaults(run=_cmd_record)


# ---------------------------------------------------------------------- data


def _cmd_simulate(args) -> int:
    import dataclasses

    from scalp_nautilus.data.simulator import PROFILES
    from scalp_nautilus.data.simulator import rates_table
    from scalp_nautilus.data.simulator import simulate_to_catalog

    minutes = args.hours * 60.0 if args.hours is not None else args.minutes
    params = dataclasses.replace(PROFILES[args.profile], minutes=minutes, seed=args.seed)
    writer, sim = simulate_to_catalog(args.catalog, params, args.replace)
    print(writer.summary())
    if args.profile != "default":
        print(f"profile {args.profile}: rates a second, simulated and the shared real captures")
        print(rates_table(sim.rates))
    print(f"SYNTHETIC data (seed {args.seed}): {len(sim.regime_log)} regimes, {len(sim.burst_log)} toxic bursts")
    return 0


def _cmd_import_binance(args) -> int:
    from scalp_nautilus.data.binance_capture import BinanceCaptureImporter

    imp = BinanceCaptureImporter(
        _capture_files(args.files), symbol=args.symbol, exchange_info=args.exchange_info, clock_offset_ns=_clock_offset_ns(args)
    )
    return _import_capture(imp, args)


def _cmd_import_bybit(args) -> int:
    from scalp_nautilus.data.bybit_capture import BybitCaptureImporter

    imp = BybitCaptureImporter(
        _capture_files(args.files),
        symbol=args.symbol,
        tick_size=args.tick_size,
        step_size=args.step_size,
        clock_offset_ns=_clock_offset_ns(args),
    )
    return _import_capture(imp, args)


def _cmd_import_binance_book(args) -> int:
    from scalp_nautilus.data.binance_l2_archive import BinanceBookArchiveImporter

    imp = BinanceBookArchiveImporter(args.files, args.snapshots, symbol=args.symbol, exchange_info=args.exchange_info)
    return _import_capture(imp, args)


def _clock_offset_ns(args) -> int | None:
    return None if args.clock_offset_ms is None else round(args.clock_offset_ms * 1_000_000)


def _import_capture(imp, args) -> int:
    """Write the capture and its invalid spans; a capture whose book could not be imported at all
    (diffs and no usable snapshot) is an error, after its trades and funding are written."""
    from scalp_nautilus.data.binance_capture import CaptureError
    from scalp_nautilus.data.catalog import write_capture

    writer = write_capture(imp, args.catalog, replace=args.replace)
    print(imp.stats.summary())
    print(writer.summary())
    if imp.stats.book_missing:
        raise CaptureError(
            f"no usable depth snapshot in {', '.join(p.name for p in imp.paths)}: {imp.stats.depth_messages:,} depth "
            "diffs not imported (trades and funding were); import it together with the file that holds its snapshot"
        )
    return 0


def _capture_files(paths: list[Path]) -> list[Path]:
    """Files as given, a folder replaced by its capture files in time order (a capture folder)."""
    from scalp_nautilus.capture.writer import capture_files

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            files = capture_files(p)
            if not files:
                raise MissingFileError(f"{p}: no capture files (*.gz) in this folder")
            out += files
        else:
            out.append(p)
    return out


def _cmd_import_tardis(args) -> int:
    from scalp_nautilus.data.tardis import import_tardis

    writer, stats = import_tardis(
        sorted(args.files),
        args.exchange,
        args.symbol,
        args.catalog,
        args.replace,
        args.tick_size,
        args.step_size,
    )
    print(dict(stats))
    print(writer.summary())
    return 0


def _cmd_import_funding(args) -> int:
    from scalp_nautilus.data.catalog import write_to_catalog
    from scalp_nautilus.data.funding_history import read_settlements
    from scalp_nautilus.data.funding_history import to_updates
    from scalp_nautilus.instruments import resolve_spec

    spec = resolve_spec("BINANCE", args.symbol.upper())
    settlements = read_settlements(args.file, tz=args.tz, fmt=args.format)
    writer = write_to_catalog(to_updates(settlements, spec.instrument_id), spec.to_instrument(), args.catalog)
    print(f"{len(settlements):,} settlements read from {args.file} (times read as {args.tz})")
    print(writer.summary())
    return 0


def _cmd_download(args) -> int:
    source = args.source or ("tardis" if args.date else "binance")
    if source == "binance":
        return _cmd_download_binance(args)
    if not args.date:
        raise InputError("--source tardis needs --date")
    from scalp_nautilus.data.download import download_and_import

    api_key = os.environ.get("TARDIS_API_KEY", "")
    writer, stats = download_and_import(
        args.exchange,
        args.symbol,
        args.date,
        (args.types or "incremental_book_L2,trades,derivative_ticker").split(","),
        args.download_dir,
        args.catalog,
        api_key,
        args.replace,
    )
    print(dict(stats))
    print(writer.summary())
    return 0


def _cmd_download_binance(args) -> int:
    from scalp_nautilus.data.archive_download import download_archive

    if args.date:
        raise InputError("--date is for --source tardis; the Binance archive takes --from and --to")
    outcome = download_archive(
        market=args.market,
        symbol=args.symbol,
        kinds=args.types.split(",") if args.types else None,
        start=args.start,
        end=args.end,
        dest=args.download_dir,
        catalog=args.catalog,
        replace=args.replace,
        period=args.period,
        interval=args.interval,
        base_url=args.base_url,
        from_dir=args.from_dir,
        jobs=args.jobs,
        exchange_info=args.exchange_info,
        import_files=not args.no_import,
        progress=not args.no_progress,
    )
    print(outcome.summary())
    return 0 if outcome.complete else 1


def _cmd_list(args) -> int:
    from scalp_nautilus.data.catalog import describe_catalog

    print(describe_catalog(args.catalog))
    return 0


# ---------------------------------------------------------------------- backtest


def _cmd_backtest(args) -> int:
    from scalp_nautilus.backtest.runner import run_backtest
    from scalp_nautilus.backtest.settings import load_backtest_settings

    overrides = {k: v for k, v in (("catalog", args.catalog), ("instrument_id", args.instrument)) if v}
    strategy_overrides = {"record_features": str(args.record_features)} if args.record_features else None
    settings = load_backtest_settings(args.config, overrides, strategy_overrides)
    _ensure_default_data(settings.catalog)
    outcome = run_backtest(settings)
    print(outcome.summary())
    return 0


# ---------------------------------------------------------------------- features


DEFAULT_STRATEGY_CONFIG = Path("configs/strategy.yaml")


def _features_parser(sub, name: str, text: str) -> None:
    fe = sub.add_parser(name, help=text)
    fe.add_argument("--catalog", default=str(DEFAULT_CATALOG), help="catalog folder (default: %(default)s)")
    fe.add_argument("--instrument", required=True, help="instrument id, e.g. BTCUSDT-PERP.BINANCE")
    fe.add_argument("--config", type=Path, default=DEFAULT_STRATEGY_CONFIG, help="strategy config (default: %(default)s)")
    fe.add_argument("--start", help="ISO time (UTC); default: the catalog's first event")
    fe.add_argument("--end", help="ISO time (UTC); default: the catalog's last event")
    fe.add_argument("--out", required=True, type=Path, help="Parquet file, one row per book batch")
    fe.set_defaults(run=_cmd_features)


def _cmd_features(args) -> int:
    from scalp_nautilus.backtest.settings import check_strategy_config
    from scalp_nautilus.config import parse_utc
    from scalp_nautilus.config import read_yaml
    from scalp_nautilus.feature_replay.replay import replay_features

    for name in ("start", "end"):
        if getattr(args, name):
            parse_utc(getattr(args, name), f"--{name}")
    config = check_strategy_config(
        read_yaml(args.config),
        "scalp_nautilus.strategy:ScalpStrategyConfig",
        args.instrument,
        str(args.config),
    )
    result = replay_features(args.catalog, args.instrument, config, args.out, args.start, args.end)
    print(
        f"{result.rows:,} rows ({result.events:,} events in {result.wall_seconds:.1f} s, "
        f"{result.events_per_second:,.0f} events/s) -> {result.path}"
        + (f"; {result.span_rows:,} book batches inside the catalog's invalid spans not recorded" if result.span_rows else "")
    )
    return 0


# ---------------------------------------------------------------------- sweeps


DEFAULT_SWEEP_CONFIG = Path("configs/sweep.yaml")
_SWEEP_COLUMNS = [
    "task",
    "start",
    "status",
    "net",
    "trading",
    "fees",
    "funding",
    "round_trips",
    "win_rate",
    "trip_mean_bps",
    "max_drawdown",
    "cold_share",
]


def _sweep_parser(sub, name: str, text: str) -> None:
    sp = sub.add_parser(name, help=text)
    sp.add_argument(
        "--config", type=Path, default=DEFAULT_SWEEP_CONFIG, help="sweep config (YAML): backtest config, ranges, grid"
    )
    sp.add_argument(
        "--address",
        help="join this Ray cluster instead of a local Ray, e.g. 10.0.0.5:6379 or auto (overrides the config's address; "
        "a token-authenticated cluster needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN set)",
    )
    sp.add_argument(
        "--num-cpus", type=int, help="local Ray's CPUs, one backtest each at a time (overrides the config's num_cpus)"
    )
    sp.set_defaults(run=_cmd_sweep, walk=name == "walk-forward")


def _cmd_sweep(args) -> int:
    import pandas as pd

    from scalp_nautilus.backtest.sweep import check_walk_forward
    from scalp_nautilus.backtest.sweep import load_sweep
    from scalp_nautilus.backtest.sweep import run_sweep
    from scalp_nautilus.backtest.sweep import save_walk_forward
    from scalp_nautilus.backtest.sweep import summary_lines
    from scalp_nautilus.backtest.sweep import walk_forward

    overrides = {k: v for k, v in (("address", args.address), ("num_cpus", args.num_cpus)) if v is not None}
    plan = load_sweep(args.config, overrides)
    if args.walk:
        check_walk_forward(plan)
    table = run_sweep(plan)
    s = plan.settings
    columns = [c for c in table.columns if c.startswith("set.")] + [c for c in _SWEEP_COLUMNS if c in table.columns]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        print(table[columns].to_string(index=False))
        for _, row in table[table["status"] == "failed"].iterrows():
            print(f"task {row['task']} FAILED: {row['error']}")
        print("\n".join(summary_lines(plan, table)))
        if args.walk:
            wf = walk_forward(plan, table)
            print(wf.chain.to_string(index=False))
            print("\n".join(wf.lines(s.metric)))
            csv, png = save_walk_forward(wf, s.chain_out)
            print(f"walk-forward chain: {csv.resolve()}, out-of-sample equity: {png.resolve()}")
    print(f"results: {Path(s.out).resolve()}")
    return 0 if (table["status"] == "ok").all() else 1


# ---------------------------------------------------------------------- live


def _cmd_live(args) -> int:
    from scalp_nautilus.live.node import run_live
    from scalp_nautilus.live.settings import credentials
    from scalp_nautilus.live.settings import load_live_settings

    settings = load_live_settings(args.config)
    keys = credentials(settings, args.mainnet)
    if args.clear_halt:
        from scalp_nautilus.live.node import clear_halt

        print(clear_halt(settings), flush=True)
    return run_live(settings, keys, args.mainnet)


def _cmd_replay_venue(args) -> int:
    import asyncio

    from scalp_nautilus.live.venue.settings import load_venue_settings
    from scalp_nautilus.live.venue.thread import serve

    overrides: dict = {}
    if args.capture:
        overrides["captures"] = [str(p.resolve()) for p in args.capture]
    for key in ("speed", "port", "tick_size", "step_size"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.exchange_info is not None:
        overrides["exchange_info"] = str(args.exchange_info.resolve())
    asyncio.run(serve(load_venue_settings(args.config, overrides)))
    return 0


# ---------------------------------------------------------------------- record


def _cmd_record(args) -> int:
    from scalp_nautilus.capture.run import capture
    from scalp_nautilus.capture.settings import load_capture_settings

    overrides: dict = {}
    if args.out_dir:
        overrides["out_dir"] = args.out_dir
    if args.catalog or args.import_every:
        from scalp_nautilus.config import read_yaml

        imp = dict(read_yaml(args.config).get("import") or {})
        if args.catalog:
            imp["catalog"] = args.catalog
        if args.import_every:
            imp["every_s"] = parse_duration(args.import_every)
        overrides["import"] = imp
    settings = load_capture_settings(args.config, overrides)
    if settings.log.file:
        _log_to_file(settings.log.file, settings.log.max_mb, settings.log.backups)
    return int(capture(settings).exit_code)


def _log_to_file(path: str, max_mb: float, backups: int) -> None:
    """Also log to `path`, rotated at `max_mb` (a capture left running for weeks)."""
    from logging.handlers import RotatingFileHandler

    root = logging.getLogger()
    target = str(Path(path).resolve())
    if any(isinstance(h, RotatingFileHandler) and h.baseFilename == target for h in root.handlers):
        return  # already there (a second `record` in one process)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(target, maxBytes=round(max_mb * 1024**2), backupCount=backups)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root.addHandler(handler)


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``1h`` or ``2d``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InputError(f"--import-every: expected a positive duration such as 1h, 30m or 90s, got {text!r}")
    return value


def _ensure_default_data(catalog: str) -> None:
    """The built-in default: simulate the default catalog when it holds no data yet."""
    path = Path(catalog)
    if path.resolve() != DEFAULT_CATALOG.resolve() or (path / "data").is_dir():
        return
    from scalp_nautilus.data.simulator import simulate_to_catalog

    log.info("the default catalog %s is empty: writing the simulated market first (synthetic data)", path)
    simulate_to_catalog(path)


# The commands in the order `--help` lists them: name -> (one-line help, what adds its parser).
_COMMANDS: dict[str, tuple[str, Callable]] = {
    "data": ("fill the Parquet data catalog", _data_parser),
    "backtest": ("run a backtest (BacktestNode over the catalog)", _backtest_parser),
    "features": ("replay a catalog into feature rows without the engine (== backtest --record-features)", _features_parser),
    "sweep": ("run a grid (or Optuna search) of strategy overrides x date ranges on Ray", _sweep_parser),
    "walk-forward": ("choose the overrides on window k, run them on window k+1 (Ray)", _sweep_parser),
    # Registered by their own modules (their parsers carry the same help lines).
    "train": ("train the LSTM on recorded features and write a model file", _module("scalp_nautilus.models.commands")),
    "evaluate": ("re-score a model file on other recorded features", _module("scalp_nautilus.models.commands")),
    "research": ("edge and claims of the features; calibration for an instrument", _module("scalp_nautilus.research.commands")),
    "live": ("run the live trading node (testnet unless --mainnet)", _live_parser),
    "replay-venue": (
        "serve a Binance capture on 127.0.0.1, as Binance's or Bybit's API (the config's `api`), for a live node's dry run",
        _venue_parser,
    ),
    "record": ("capture raw market data (Binance futures/spot, Bybit linear) into capture files", _record_parser),
}


if __name__ == "__main__":
    sys.exit(main())
