"""Connecting to Ray: a local Ray on this machine, or an existing cluster by address.

Ray 2.60 clusters use token authentication: `ray start --head` turns it on when
`RAY_AUTH_MODE=token` is set or a token already exists on the head (`~/.ray/auth_token`, which
any local `ray.init()` creates). A client joining such a cluster by address needs
`RAY_AUTH_MODE=token` and the cluster's token, from `RAY_AUTH_TOKEN`, the file named by
`RAY_AUTH_TOKEN_PATH`, or `~/.ray/auth_token` (`ray get-auth-token` on the head prints it). Without
them `ray.init` retries for about 20 s, logs a line per retry and raises a bare
`ConnectionError`; so before `ray.init` the GCS is probed once (a TCP connection, then one
authenticated request) and each failure becomes one line naming its cause (`ClusterError`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator

from scalp_nautilus.errors import RunError

PROBE_TIMEOUT_S = 5.0

_TOKEN_HELP = (
    "set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or a file named by RAY_AUTH_TOKEN_PATH, "
    "or ~/.ray/auth_token); `ray get-auth-token` on the head node prints it"
)


class ClusterError(RunError):
    """A Ray cluster that cannot be joined; the message says why in one line (never the token)."""


def connect(address: str | None, num_cpus: int | None = None, env_vars: dict[str, str] | None = None) -> None:
    """`ray.init` on this machine (`address` None) or on the cluster at `address` ("host:port", "auto",
    or a "ray://" Ray Client URL). `env_vars` are set in every task's worker process (Ray's
    `runtime_env`): what the workers need from the driver's environment."""
    import ray

    if ray.is_initialized():
        return
    runtime_env = {"env_vars": env_vars} if env_vars else None
    if not address:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        return
    target = address
    if not address.startswith("ray://"):
        target = _gcs_address(address)
        _probe(target, address)
    try:
        ray.init(address=target, log_to_driver=False, runtime_env=runtime_env)
    except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as exc:
        raise ClusterError(f"Ray cluster at {address}: {_first_line(exc)}") from None


def _gcs_address(address: str) -> str:
    """`host:port` of the cluster's GCS; "auto" is the cluster running on this machine, as for `ray.init`."""
    if address != "auto":
        return address
    from ray._private import services
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

    found = services.canonicalize_bootstrap_address(address)
    if not found:
        raise ClusterError("Ray cluster at auto: no Ray cluster is running on this machine (`ray start --head` starts one)")
    # ray.init("auto") sends the local token (~/.ray/auth_token) to the cluster it finds; so do we.
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    return found


def _probe(gcs: str, address: str) -> None:
    # Compiled (Cython) without stubs: mypy sees only what `_raylet.pyi` declares.
    from ray._raylet import AuthenticationMode  # type: ignore[attr-defined]
    from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]
    from ray._raylet import InnerGcsClient  # type: ignore[attr-defined]
    from ray._raylet import get_authentication_mode  # type: ignore[attr-defined]
    from ray.exceptions import AuthenticationError
    from ray.exceptions import RpcError

    host, _, port = gcs.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"Ray cluster at {address}: expected the head's GCS address host:port (e.g. 10.0.0.5:6379) or auto")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(f"Ray cluster at {address}: nothing answers at {gcs} ({exc.strerror or exc})") from None
    token_mode = get_authentication_mode() == AuthenticationMode.TOKEN
    if token_mode and not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        raise ClusterError(f"Ray cluster at {address}: RAY_AUTH_MODE=token but no token found: {_TOKEN_HELP}")
    try:
        with _stderr_silenced():  # Ray's C++ client logs each failed attempt; the error below says it once
            client = InnerGcsClient.standalone(gcs, None, round(PROBE_TIMEOUT_S * 1000))
            client.internal_kv_get(b"scalp-nautilus-probe", None, timeout=PROBE_TIMEOUT_S)
    except AuthenticationError:
        if token_mode:
            raise ClusterError(
                f"Ray cluster at {address}: the cluster refused this token (another cluster's?): {_TOKEN_HELP}"
            ) from None
        raise ClusterError(f"Ray cluster at {address}: the cluster requires token authentication: {_TOKEN_HELP}") from None
    except RpcError as exc:
        raise ClusterError(f"Ray cluster at {address}: no Ray GCS answered at {gcs}: {_first_line(exc)}") from None


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 to a scratch file for the block: native code writes there directly."""
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
