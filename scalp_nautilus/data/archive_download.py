"""Downloading Binance's public archive: each zip verified against its published SHA-256.

For every file of the request (`binance_archive.archive_files`) the ``.CHECKSUM`` beside it is
fetched first (``<sha256>  <file name>``), then the zip, into the same path under `dest` as under
the base URL (a local mirror of the archive's layout, which `find_files` and ``--from-dir`` read).

- Resumable: a zip already there whose SHA-256 matches its CHECKSUM (both on disk) is not fetched
  again, and nothing is asked of the network for it; an
  interrupted download is kept as ``<name>.part`` and continued with an HTTP range request (a
  server that ignores the range sends the whole file, which then replaces the part).
- A zip whose digest does not match is deleted and fetched once more from scratch; a second
  mismatch is reported (`FileResult.status` ``"bad checksum"``) and the file is not imported.
- A file the archive does not have (HTTP 404: a day it never published, or a month not closed
  yet) is reported as ``"missing"``; in ``auto`` mode a missing month is fetched as its days.
- Network errors are retried with a pause (`retries`), then reported as ``"failed"``.

Only `urllib` from the standard library talks to the network; the base URL is a parameter, so
tests serve fixture zips from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from scalp_nautilus.data.binance_archive import BASE_URL
from scalp_nautilus.data.binance_archive import DEFAULT_KINDS
from scalp_nautilus.data.binance_archive import IMPORTED_KINDS
from scalp_nautilus.data.binance_archive import ArchiveError
from scalp_nautilus.data.binance_archive import ArchiveFile
from scalp_nautilus.data.binance_archive import ArchiveImport
from scalp_nautilus.data.binance_archive import archive_files
from scalp_nautilus.data.binance_archive import archive_spec
from scalp_nautilus.data.binance_archive import daily_files
from scalp_nautilus.data.binance_archive import find_files
from scalp_nautilus.data.binance_archive import import_archive
from scalp_nautilus.errors import InputError

log = logging.getLogger(__name__)

BLOCK = 1 << 20


class ChecksumError(InputError):
    """A downloaded file whose SHA-256 is not the one published beside it."""


@dataclass(frozen=True)
class FileResult:
    file: ArchiveFile
    path: Path
    status: str  # "downloaded", "verified" (already there), "unverified", "missing", "bad checksum", "failed"
    detail: str = ""
    bytes_fetched: int = 0

    @property
    def usable(self) -> bool:
        """To be imported: verified, or fetched elsewhere without a CHECKSUM to check."""
        return self.status in ("downloaded", "verified", "unverified")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def read_checksum(path: Path, name: str) -> str:
    """The digest in a CHECKSUM file (``<sha256>  <name>``; the name must be the zip's)."""
    parts = path.read_text().split()
    if len(parts) < 1 or len(parts[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in parts[0]):
        raise ChecksumError(f"{path}: not a SHA-256 checksum file")
    if len(parts) > 1 and parts[1].lstrip("*") != name:
        raise ChecksumError(f"{path}: the checksum is for {parts[1]}, not {name}")
    return parts[0].lower()


def verify(zip_path: Path, checksum_path: Path) -> bool:
    return sha256_of(zip_path) == read_checksum(checksum_path, zip_path.name)


class _NotFound(Exception):
    pass


class ArchiveDownloader:
    """Fetches archive files into `dest` (see the module doc).

    Parameters
    ----------
    dest : Path
        Local mirror root; files land at ``dest / file.url_path``.
    base_url : str
        The archive's address (default data.binance.vision).
    jobs : int
        Files fetched at once.
    retries : int
        Attempts per request after a network error (not after a 404).
    progress : bool
        Show a progress bar (tqdm, on stderr).
    """

    def __init__(
        self,
        dest: str | Path,
        base_url: str = BASE_URL,
        jobs: int = 4,
        retries: int = 3,
        timeout_s: float = 60.0,
        progress: bool = True,
        retry_pause_s: float = 2.0,
    ) -> None:
        self.dest = Path(dest)
        self.base_url = base_url.rstrip("/")
        self.jobs = max(1, jobs)
        self.retries = max(1, retries)
        self.timeout_s = timeout_s
        self.progress = progress
        self.retry_pause_s = retry_pause_s

    def fetch(self, files: list[ArchiveFile]) -> list[FileResult]:
        """Fetch and verify `files`; results in the order of the files (a missing month that was
        fetched as days gives the days' results in its place)."""
        from tqdm import tqdm

        bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, disable=not self.progress, desc="archive")
        try:
            with ThreadPoolExecutor(self.jobs) as pool:
                groups = list(pool.map(lambda f: self._fetch_or_days(f, bar.update), files))
        finally:
            bar.close()
        return [r for group in groups for r in group]

    def _fetch_or_days(self, file: ArchiveFile, advance: Callable[[int], object]) -> list[FileResult]:
        result = self._fetch_one(file, advance)
        if result.status == "missing" and file.period == "monthly" and file.kind != "fundingRate":
            log.info("%s is not published: fetching its days", file.name)
            return [self._fetch_one(day, advance) for day in daily_files(file)]
        return [result]

    def _fetch_one(self, file: ArchiveFile, advance: Callable[[int], object]) -> FileResult:
        path = self.dest / file.url_path
        checksum = path.with_name(path.name + ".CHECKSUM")
        url = f"{self.base_url}/{file.url_path}"
        try:
            if path.exists() and checksum.exists() and verify(path, checksum):
                return FileResult(file, path, "verified")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._get(url + ".CHECKSUM", checksum, resume=False, advance=lambda n: None)
            if path.exists() and verify(path, checksum):
                return FileResult(file, path, "verified")
            fetched = 0
            for attempt in (1, 2):
                fetched += self._get(url, path, resume=attempt == 1, advance=advance)
                if verify(path, checksum):
                    return FileResult(file, path, "downloaded", bytes_fetched=fetched)
                log.warning("%s: SHA-256 does not match its CHECKSUM (attempt %d)", path.name, attempt)
                path.unlink()
            return FileResult(file, path, "bad checksum", "SHA-256 differs from the published CHECKSUM twice", fetched)
        except _NotFound:
            return FileResult(file, path, "missing", f"{url}: not on the archive (HTTP 404)")
        except ChecksumError as exc:
            return FileResult(file, path, "bad checksum", str(exc))
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            return FileResult(file, path, "failed", f"{url}: {exc}")

    def _get(self, url: str, target: Path, resume: bool, advance: Callable[[int], object]) -> int:
        """Download `url` to `target` through ``target.part``, continuing a part left by an
        interrupted run when `resume`; returns the bytes received."""
        part = target.with_name(target.name + ".part")
        if not resume:
            part.unlink(missing_ok=True)
        received = 0
        for attempt in range(1, self.retries + 1):
            have = part.stat().st_size if part.exists() else 0
            request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    ranged = response.status == 206
                    if have and not ranged:
                        log.info("%s: the server ignored the range: downloading it whole", url)
                    length = response.headers.get("Content-Length")
                    expected = int(length) if length is not None else None
                    got = 0
                    with open(part, "ab" if ranged else "wb") as out:
                        while block := response.read(BLOCK):
                            out.write(block)
                            got += len(block)
                            advance(len(block))
                    received += got
                    if expected is not None and got < expected:
                        raise OSError(f"connection closed after {got} of {expected} bytes")
                part.replace(target)
                return received
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    part.unlink(missing_ok=True)
                    raise _NotFound from None
                if exc.code == 416:  # the part is already whole (or longer than the file): start over
                    part.unlink(missing_ok=True)
                if attempt == self.retries:
                    raise
            except (OSError, http.client.HTTPException) as exc:
                if attempt == self.retries:
                    raise
                log.warning("%s: %s; retrying (%d of %d)", url, exc, attempt + 1, self.retries)
            time.sleep(self.retry_pause_s)
        raise AssertionError("unreachable")


def verify_local(found: list[tuple[ArchiveFile, Path]]) -> list[FileResult]:
    """Files fetched elsewhere (``--from-dir``): each checked against the CHECKSUM beside it when
    there is one (``"verified"``); without one it is ``"unverified"`` (imported, with a warning)."""
    out = []
    for file, path in found:
        checksum = path.with_name(path.name + ".CHECKSUM")
        if not checksum.exists():
            out.append(FileResult(file, path, "unverified", "no CHECKSUM beside it"))
            continue
        try:
            good = verify(path, checksum)
        except ChecksumError as exc:
            out.append(FileResult(file, path, "bad checksum", str(exc)))
            continue
        detail = "" if good else "SHA-256 differs from its CHECKSUM"
        out.append(FileResult(file, path, "verified" if good else "bad checksum", detail))
    return out


def results_summary(results: list[FileResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    fetched = sum(r.bytes_fetched for r in results)
    lines = [f"archive files: {', '.join(f'{n} {s}' for s, n in sorted(counts.items()))} ({fetched / 1e6:,.1f} MB fetched)"]
    lines += [f"  {r.status}: {r.file.url_path}  {r.detail}" for r in results if r.status not in ("downloaded", "verified")]
    return "\n".join(lines)


@dataclass
class ArchiveOutcome:
    """What `download_archive` fetched, checked and imported."""

    results: list[FileResult]
    imported: ArchiveImport | None

    @property
    def complete(self) -> bool:
        """No file failed its checksum or its download (a day the archive never published is not a failure)."""
        return all(r.status not in ("bad checksum", "failed") for r in self.results)

    def summary(self) -> str:
        text = results_summary(self.results)
        return text + ("\n" + self.imported.summary() if self.imported is not None else "")


def download_archive(
    market: str,
    symbol: str,
    kinds: list[str] | None,
    start: str | None,
    end: str | None,
    dest: str | Path,
    catalog: str | Path,
    replace: bool = False,
    period: str = "auto",
    interval: str = "1m",
    base_url: str | None = None,
    from_dir: str | Path | None = None,
    jobs: int = 4,
    exchange_info: str | Path | None = None,
    import_files: bool = True,
    progress: bool = True,
) -> ArchiveOutcome:
    """`scalp-nautilus data download --source binance`: fetch (or, `from_dir`, find) the archive
    files of `symbol` on `market` for the days `start`..`end`, verify them, and import the good ones."""
    kinds = list(kinds or DEFAULT_KINDS)
    if period not in ("auto", "daily", "monthly"):
        raise ArchiveError(f"unknown period {period!r}: auto, daily or monthly")
    first = date.fromisoformat(start) if start else None
    last = date.fromisoformat(end) if end else None
    if from_dir is not None:
        results = verify_local(find_files(from_dir, market, symbol, kinds, first, last))
        for r in results:
            if r.status == "unverified":
                log.warning("%s: no CHECKSUM beside it: imported unverified", r.path)
    else:
        if first is None or last is None:
            raise ArchiveError("downloading from the archive needs --from and --to (or --from-dir)")
        files = archive_files(market, symbol, kinds, first, last, period, interval)
        downloader = ArchiveDownloader(dest, base_url or BASE_URL, jobs=jobs, progress=progress)
        results = downloader.fetch(files)
    usable = [(r.file, r.path) for r in results if r.usable and r.file.kind in IMPORTED_KINDS]
    if not import_files or not usable:
        return ArchiveOutcome(results, None)
    sample = next((p for f, p in usable if f.kind in ("trades", "aggTrades", "bookTicker")), None)
    instrument = archive_spec(market, symbol, exchange_info, sample).to_instrument()
    window = None
    if first is not None or last is not None:
        lo = _day_ns(first) if first else 0
        hi = _day_ns(last + timedelta(days=1)) if last else 2**63 - 1
        window = (lo, hi)
    return ArchiveOutcome(results, import_archive(usable, instrument, catalog, replace, window))


def _day_ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000
