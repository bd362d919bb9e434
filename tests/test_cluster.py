"""A sweep on a real Ray cluster with token authentication, over a catalog on object storage.

A local S3-compatible server (moto, 127.0.0.1, with authentication: only the access key created in
it is accepted) holds a copy of a capture's catalog; a Ray head started with `ray start` (token
authentication on, its own HOME and temp dir, no AWS variables) runs the tasks. The command line is
what runs: a missing or wrong token, a missing bucket and refused credentials each give one error
line and no task; the cluster's warm walk-forward over the bucket (two consecutive windows, each
run reading a lead-in before its window untraded: four tasks on the cluster's two CPUs) gives the
same results table, the same saved chain and the same out-of-sample verdict as a local one over
the folder, and the feature replay over the bucket the same rows as over the folder."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scalp_nautilus.data.catalog_store import CatalogError
from scalp_nautilus.data.catalog_store import CatalogStore
from tests.capture_catalogs import capture_catalog  # noqa: F401 (fixture)
from tests.capture_catalogs import strategy_overrides
from tests.support.configs import ROOT
from tests.support.configs import write_config

BIN = Path(sys.executable).parent
# two consecutive windows of the 8.5-minute capture (23:58:20 -> 00:06:54); the first one's
# lead-in is clipped at the capture's start, the second's reads the first window untraded
RANGES = [
    {"start": "2023-04-04T23:59:30Z", "end": "2023-04-05T00:01:30Z"},
    {"start": "2023-04-05T00:01:30Z", "end": "2023-04-05T00:03:30Z"},
]
WARMUP_S = 90.0
GRID = {"exits.stop_k": [1.5, 3.0]}
RESULT_COLUMNS_NOT_COMPARED = {"wall_s", "reports", "error"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout_s} s")


def _stop(proc: subprocess.Popen) -> None:
    """The process group this test started (its own session), SIGTERM then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group (`ray start` leaves its raylet on SIGTERM)
    proc.wait(timeout=10)


@dataclass(frozen=True)
class S3:
    endpoint: str
    key: str
    secret: str


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    """moto's server with authentication: the first three requests (creating a user, its key and an
    allow-all policy) go through unsigned; every later one must be signed by that key."""
    import boto3

    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_port(port, proc, "moto_server")
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        iam.create_user(UserName="sweeper")
        key = iam.create_access_key(UserName="sweeper")["AccessKey"]
        iam.put_user_policy(
            UserName="sweeper",
            PolicyName="all",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
        )
        yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        _stop(proc)


@dataclass(frozen=True)
class Head:
    address: str
    token: str


@pytest.fixture(scope="module")
def ray_head() -> Iterator[Head]:
    """`ray start --head` with token authentication: its own HOME (no ~/.ray/auth_token of this
    machine), a short temp dir (Unix socket paths), free ports, and no AWS variables."""
    token = secrets.token_hex(16)
    tmp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    port = _free_port()
    ports = {
        "--port": port,
        "--dashboard-port": _free_port(),
        "--dashboard-agent-listen-port": _free_port(),
        "--dashboard-agent-grpc-port": _free_port(),
        "--runtime-env-agent-port": _free_port(),
        "--metrics-export-port": _free_port(),
        "--object-manager-port": _free_port(),
        "--node-manager-port": _free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_"))}
    env.update(HOME=str(tmp / "home"), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, PYTHONPATH=str(ROOT))
    (tmp / "home").mkdir()
    args = [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "2"]
    args += [a for flag, p in ports.items() for a in (flag, str(p))]
    args += ["--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(tmp / "t")]
    # cwd: not the project, so a task that relied on the driver's working directory would fail
    proc = subprocess.Popen(args, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_port(port, proc, "ray start --head")
        yield Head(f"127.0.0.1:{port}", token)
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _sweep_file(folder: Path, cat, catalog: str, storage_options: dict | None = None) -> Path:
    folder.mkdir()
    changes = {"catalog_storage_options": storage_options} if storage_options else {}
    write_config(
        folder,
        strategy=strategy_overrides(cat),
        catalog=catalog,
        instrument_id=cat.instrument_id,
        plots=False,
        **{"venue.name": "BINANCE"},
        **changes,
    )
    path = folder / "sweep.yaml"
    sweep = {
        "backtest_config": "backtest.yaml",
        "ranges": RANGES,
        "grid": GRID,
        "num_cpus": 2,
        "out": str(folder / "results.csv"),
        "reports_dir": str(folder / "runs"),
        "warmup_s": WARMUP_S,
        "chain_out": str(folder / "walk_forward.csv"),
    }
    path.write_text(yaml.safe_dump(sweep))
    return path


def _cli(command: str, config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "scalp-nautilus"), command, "--config", str(config), *args],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _error_line(run: subprocess.CompletedProcess) -> str:
    """The run failed with exactly one `error:` line and no traceback."""
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr[-3000:]
    return errors[0]


def _error_line_here(config: Path, env: dict[str, str], monkeypatch, capsys) -> str:
    """`scalp-nautilus sweep` in this process with `env` set; its one `error:` line."""
    from scalp_nautilus.cli import main

    with monkeypatch.context() as m:
        for k, v in env.items():
            m.setenv(k, v)
        rc = main(["sweep", "--config", str(config)])
    err = capsys.readouterr().err
    return _error_line(subprocess.CompletedProcess([], rc, "", err))


def _verdict(stdout: str) -> list[str]:
    """The walk-forward's summary lines (in- and out-of-sample totals, per-trip interval, deflated
    Sharpe ratio), which are computed from the trips and equity each task returned."""
    return [line for line in stdout.splitlines() if line.startswith(("walk-forward net:", "out-of-sample", "deflated"))]


def _client_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), **extra)
    return env


@pytest.mark.real_data
@pytest.mark.slow
def test_cluster_sweep_over_s3_equals_local_and_bad_access_is_one_line(
    capture_catalog,  # noqa: F811 (the fixture imported above)
    s3,
    ray_head,
    tmp_path,
    monkeypatch,
    capsys,
):
    import s3fs

    cat = capture_catalog("usdm_2023_04")
    home = tmp_path / "home"
    home.mkdir()
    fs = s3fs.S3FileSystem(endpoint_url=s3.endpoint, key=s3.key, secret=s3.secret, skip_instance_cache=True)
    fs.mkdir("catalogs")
    fs.put(str(cat.path / "data"), "catalogs/usdm/data", recursive=True)
    options = {"endpoint_url": s3.endpoint}
    creds = {"AWS_ACCESS_KEY_ID": s3.key, "AWS_SECRET_ACCESS_KEY": s3.secret, "AWS_DEFAULT_REGION": "us-east-1"}

    remote = _sweep_file(tmp_path / "remote", cat, "s3://catalogs/usdm", options)
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": ray_head.token}

    # The token: none, then a wrong one. One line each, before any task.
    line = _error_line(_cli("sweep", remote, _client_env(home, **creds), "--address", ray_head.address))
    assert "requires token authentication" in line and "RAY_AUTH_TOKEN" in line
    bad_token = {**token, "RAY_AUTH_TOKEN": "not-" + ray_head.token}
    line = _error_line(_cli("sweep", remote, _client_env(home, **creds, **bad_token), "--address", ray_head.address))
    assert "refused this token" in line and ray_head.token not in line

    # The bucket: refused credentials, then a bucket that does not exist. One line, no task, no
    # secret. (In this process: the catalog is checked before Ray is touched.)
    wrong = {**creds, "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    line = _error_line_here(remote, wrong, monkeypatch, capsys)
    assert "refused the credentials" in line and "wrong-secret" not in line and s3.secret not in line
    missing = _sweep_file(tmp_path / "missing", cat, "s3://no-such-bucket/usdm", options)
    line = _error_line_here(missing, creds, monkeypatch, capsys)
    assert "the bucket 'no-such-bucket' does not exist" in line
    for folder in ("remote", "missing"):
        assert not (tmp_path / folder / "results.csv").exists() and not (tmp_path / folder / "runs").exists()

    # The cluster's warm walk-forward over the bucket against a local one over the folder: the
    # sweep's table, the saved chain and the out-of-sample verdict (from the trips and equity the
    # tasks send back).
    cluster = _cli("walk-forward", remote, _client_env(home, **creds, **token), "--address", ray_head.address)
    assert cluster.returncode == 0, cluster.stderr[-3000:]
    local_file = _sweep_file(tmp_path / "local", cat, str(cat.path))
    local = _cli("walk-forward", local_file, _client_env(home, RAY_AUTH_MODE="disabled"))
    assert local.returncode == 0, local.stderr[-3000:]
    a, b = pd.read_csv(tmp_path / "local" / "results.csv"), pd.read_csv(tmp_path / "remote" / "results.csv")
    assert len(a) == len(GRID["exits.stop_k"]) * len(RANGES) and (a["status"] == "ok").all()
    # the comparison covers trades in each window, not only empty runs
    assert (a.groupby("start")["round_trips"].sum() > 0).all(), a[["start", "round_trips"]]
    compared = [c for c in a.columns if c not in RESULT_COLUMNS_NOT_COMPARED]
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a[compared], b[compared], check_exact=True)
    # each task wrote its reports on the cluster's worker, into the driver's (absolute) folder
    assert all(Path(r).is_relative_to(tmp_path / "remote" / "runs") for r in b["reports"])
    chain_a, chain_b = pd.read_csv(tmp_path / "local" / "walk_forward.csv"), pd.read_csv(tmp_path / "remote" / "walk_forward.csv")
    assert len(chain_a) == len(RANGES) - 1 and chain_a["oos_round_trips"].notna().all()
    pd.testing.assert_frame_equal(chain_a, chain_b, check_exact=True)
    assert (tmp_path / "remote" / "walk_forward.png").stat().st_size > 0
    assert _verdict(cluster.stdout) == _verdict(local.stdout) and len(_verdict(local.stdout)) >= 3, local.stdout

    # The feature replay reads the bucket too, credentials and endpoint from the environment.
    from scalp_nautilus.backtest.settings import check_strategy_config
    from scalp_nautilus.config import read_yaml
    from scalp_nautilus.feature_replay.replay import replay_features

    raw = read_yaml(tmp_path / "local" / "strategy.yaml")
    config = check_strategy_config(raw, "scalp_nautilus.strategy:ScalpStrategyConfig", cat.instrument_id, "strategy.yaml")
    here = replay_features(cat.path, cat.instrument_id, config, tmp_path / "local.parquet")
    with monkeypatch.context() as m:
        for k, v in {**creds, "AWS_ENDPOINT_URL": s3.endpoint}.items():
            m.setenv(k, v)
        there = replay_features("s3://catalogs/usdm", cat.instrument_id, config, tmp_path / "remote.parquet")
    assert there.rows == here.rows > 0 and there.events == here.events
    pd.testing.assert_frame_equal(pd.read_parquet(here.path), pd.read_parquet(there.path), check_exact=True)


def test_catalog_store_paths_and_rust_options(tmp_path, monkeypatch):
    """The fsspec location and the Rust object store's options for the same bucket; a relative
    folder resolved against this process's working directory."""
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    store = CatalogStore("s3://bucket/some/prefix/", {"endpoint_url": "http://127.0.0.1:9000", "key": "k", "secret": "s"})
    assert (store.protocol, store.path, store.remote) == ("s3", "bucket/some/prefix", True)
    assert store.rust_storage_options() == {
        "endpoint_url": "http://127.0.0.1:9000",
        "access_key_id": "k",
        "secret_access_key": "s",
        "allow_http": "true",
    }
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    from_env = CatalogStore("s3://bucket/p", {"client_kwargs": {"region_name": "eu-central-1"}})
    assert from_env.rust_storage_options() == {
        "access_key_id": "env-key",
        "secret_access_key": "env-secret",
        "region": "eu-central-1",
    }
    assert from_env.forwarded_env() == {
        "AWS_ACCESS_KEY_ID": "env-key",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_REGION": "eu-west-1",
    }
    monkeypatch.chdir(tmp_path)
    local = CatalogStore("cat")
    assert (local.remote, local.path, local.resolved().location, local.forwarded_env()) == (
        False,
        str(tmp_path / "cat"),
        str(tmp_path / "cat"),
        {},
    )
    with pytest.raises(CatalogError, match="no catalog at cat"):
        local.check()
