"""Where a Parquet catalog lives: a local folder, or object storage by URL (`s3://bucket/prefix`).

Nautilus's `ParquetDataCatalog` reads through `fsspec` (`fs_protocol`, `fs_storage_options`) and,
for its Rust queries (mark prices here, every built-in type when a catalog is loaded whole),
through the Rust `object_store` crate (`fs_rust_storage_options`), which knows different option
names and reads no environment. `CatalogStore` is the one place that turns a configured location
and its fsspec storage options into both, so the backtest runner, the streamed readers, the
feature replay and every sweep task open the same catalog the same way.

S3 options are s3fs's (https://s3fs.readthedocs.io): `endpoint_url`, `key`, `secret`, `token`,
`client_kwargs: {region_name: ...}`; credentials left out come, as for boto, from the standard
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` / `AWS_REGION` /
`AWS_ENDPOINT_URL` variables (or boto's own files). The Rust options are derived from the same
values. Option values are never put in a message: they may hold secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.utils import infer_storage_options

from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.errors import InputError

# The environment a remote catalog's credentials may come from (boto's names): what a sweep
# forwards to its Ray tasks so that workers read the catalog as the driver does.
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


class CatalogError(InputError):
    """A catalog that cannot be read; the message names the location (never the credentials)."""


@dataclass(frozen=True)
class CatalogStore:
    location: str  # a folder, or a URL such as s3://bucket/prefix
    storage_options: Mapping[str, Any] = field(default_factory=dict)  # fsspec options (remote catalogs)

    @property
    def protocol(self) -> str:
        return infer_storage_options(self.location)["protocol"]

    @property
    def remote(self) -> bool:
        return self.protocol != "file"

    @property
    def path(self) -> str:
        """The location as Nautilus's catalog takes it: an absolute folder, or bucket/prefix."""
        path = infer_storage_options(self.location)["path"]
        return str(Path(path).resolve()) if not self.remote else path.rstrip("/")

    def resolved(self) -> CatalogStore:
        """The same store with a relative folder made absolute (for processes with another cwd)."""
        return self if self.remote else CatalogStore(self.path, self.storage_options)

    def rust_storage_options(self) -> dict[str, str]:
        """The Rust object store's options for the same bucket and credentials."""
        if self.protocol != "s3":
            return {str(k): str(v) for k, v in self.storage_options.items() if not isinstance(v, Mapping)}
        o, env = self.storage_options, os.environ
        client = o.get("client_kwargs") or {}
        values = {
            "endpoint_url": o.get("endpoint_url")
            or client.get("endpoint_url")
            or env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_ENDPOINT_URL"),
            "access_key_id": o.get("key") or env.get("AWS_ACCESS_KEY_ID"),
            "secret_access_key": o.get("secret") or env.get("AWS_SECRET_ACCESS_KEY"),
            "session_token": o.get("token") or env.get("AWS_SESSION_TOKEN"),
            "region": client.get("region_name") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        }
        out = {k: str(v) for k, v in values.items() if v}
        if out.get("endpoint_url", "").startswith("http://"):
            out["allow_http"] = "true"  # a local or private S3-compatible server
        return out

    def catalog(self) -> ParquetDataCatalog:
        if not self.remote:
            return ParquetDataCatalog(self.path)
        return ParquetDataCatalog(
            self.path,
            fs_protocol=self.protocol,
            fs_storage_options=dict(self.storage_options),
            fs_rust_storage_options=self.rust_storage_options(),
        )

    def data_config_fields(self) -> dict[str, Any]:
        """The `BacktestDataConfig` fields that locate this catalog."""
        fields: dict[str, Any] = {"catalog_path": self.path}
        if self.remote:
            fields.update(
                catalog_fs_protocol=self.protocol,
                catalog_fs_storage_options=dict(self.storage_options),
                catalog_fs_rust_storage_options=self.rust_storage_options(),
            )
        return fields

    def check(self) -> None:
        """`CatalogError` unless the location holds a catalog that can be read (its `data` folder)."""
        if not self.remote:
            if not Path(self.path).is_dir():
                raise CatalogError(f"no catalog at {self.location}: run `scalp-nautilus data simulate` or an import first")
            return
        try:
            # A fresh instance: fsspec's cached one would keep the credentials of its first use.
            fs = fsspec.filesystem(self.protocol, skip_instance_cache=True, **self.storage_options)
        except (ImportError, ValueError, TypeError) as exc:
            raise CatalogError(f"catalog {self.location}: cannot open a {self.protocol} filesystem: {exc}") from None
        bucket = self.path.split("/", 1)[0]
        try:
            fs.ls(f"{self.path}/data", detail=False)
        except PermissionError as exc:
            raise CatalogError(f"catalog {self.location}: the object store refused the credentials: {exc}") from None
        except FileNotFoundError:
            if not fs.exists(bucket):
                raise CatalogError(f"catalog {self.location}: the bucket {bucket!r} does not exist") from None
            raise CatalogError(
                f"catalog {self.location}: no catalog there (nothing under {self.location.rstrip('/')}/data)"
            ) from None
        except Exception as exc:  # noqa: BLE001 (botocore's connection and endpoint errors have no common base with OSError)
            raise CatalogError(f"catalog {self.location}: the object store cannot be read: {type(exc).__name__}: {exc}") from None

    def forwarded_env(self) -> dict[str, str]:
        """The driver's credential variables a remote catalog's readers elsewhere need (none for a folder)."""
        return {k: os.environ[k] for k in AWS_ENV if self.remote and os.environ.get(k)}
