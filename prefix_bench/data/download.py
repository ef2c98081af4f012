"""Fetch, cache and verify dataset source files.

Every file an adapter needs is a `SourceFile`: where it lives in the dataset's source directory,
the URL(s) it comes from (a file, or an archive holding it) and its sha256. Checksums are pinned
where they could be computed from the shared data; the rest (E2E train, DART train/test JSON,
XSum) are learnt at first download ("trust on first use"): recorded in
`<cache>/<dataset>/recorded-sha256.json` and verified on every later use.

Guarantees: a verified cached file is never downloaded again; nothing half-written ever sits at a
final path (downloads and extractions go to a temporary sibling and are renamed only after their
size and checksum verify); any failure is one `PrefixBenchError` line naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..provenance import sha256_file  # noqa: F401 (re-exported for the data stage)

from ..atomic import atomic_path, write_json
from ..errors import PrefixBenchError

log = logging.getLogger(__name__)

RECORD_NAME = "recorded-sha256.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    """One file of a dataset's source directory and where to download it.

    path:    location relative to the source directory (what the adapter reads).
    urls:    mirrors tried in order; each points at the file itself or at an archive (`member`).
    sha256:  pinned checksum of the file; None = record at first download, verify afterwards.
    member:  path of the file inside the zip/tar archive at `urls`, if any.
    archive_sha256: pinned checksum of that archive; None = record at first download.
    """

    path: str
    urls: tuple[str, ...]
    sha256: str | None = None
    member: str | None = None
    archive_sha256: str | None = None

    @property
    def archive_name(self) -> str:
        return self.urls[0].rstrip("/").rsplit("/", 1)[-1].split("?")[0]


class _Records:
    """The cache-side record of checksums learnt at first download."""

    def __init__(self, cache_dir: Path):
        self.path = cache_dir / RECORD_NAME
        self.data: dict[str, str] = {}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                raise PrefixBenchError(f"{self.path}: corrupt checksum record; delete the cache "
                                       f"folder {cache_dir} and download again") from None

    def expected(self, key: str, pinned: str | None) -> str | None:
        return pinned or self.data.get(key)

    def remember(self, key: str, digest: str) -> None:
        self.data[key] = digest
        write_json(self.path, self.data)


def fetch_url(url: str, dest: Path, expected_sha256: str | None = None) -> str:
    """Download `url` (https or file://) to `dest` atomically with a progress bar.

    Returns the sha256 of what was written. Raises PrefixBenchError on network failure, a short
    read (fewer bytes than Content-Length) or a checksum mismatch; `dest` is then left untouched.
    """
    if not url.startswith(("https://", "file://")):
        raise PrefixBenchError(f"refusing to download {url}: only https (or file://) sources are used")
    try:
        response = urllib.request.urlopen(url, timeout=60)  # noqa: S310 (pinned URLs only)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise PrefixBenchError(f"cannot download {url} ({err}); check the network, or download "
                               f"it yourself and pass --source-dir") from None
    total = response.headers.get("Content-Length")
    total = int(total) if total and total.isdigit() else None
    digest = hashlib.sha256()
    received = 0
    with response, atomic_path(dest) as tmp, tmp.open("wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc=dest.name, leave=False
    ) as bar:
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, urllib.error.URLError) as err:
            raise PrefixBenchError(f"download of {url} broke off after {received} bytes ({err}); "
                                   "run the command again") from None
        if total is not None and received != total:
            raise PrefixBenchError(f"download of {url} is truncated ({received} of {total} "
                                   "bytes); run the command again")
        got = digest.hexdigest()
        _check(got, expected_sha256, f"{url}", "the mirror changed or the download is corrupt; "
               "report it, or pass --source-dir with a verified copy")
    return got


def _check(got: str, expected: str | None, what: str, fix: str) -> None:
    if expected is not None and got != expected:
        raise PrefixBenchError(f"{what}: sha256 {got[:12]}... does not match the expected "
                               f"{expected[:12]}...; {fix}")


def _verified(path: Path, expected: str | None) -> bool:
    """True when `path` exists and matches a known checksum (unknown checksum: not verified)."""
    return expected is not None and path.is_file() and sha256_file(path) == expected


def _fetch_any(urls: tuple[str, ...], dest: Path, expected: str | None) -> str:
    """Try each mirror in turn; the last failure is raised if all fail."""
    error: PrefixBenchError | None = None
    for url in urls:
        try:
            return fetch_url(url, dest, expected)
        except PrefixBenchError as err:
            log.warning("%s", err)
            error = err
    assert error is not None
    raise error


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    """Copy one member out of a zip or tar(.gz) archive to `dest` atomically."""
    try:
        with atomic_path(dest) as tmp:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf, zf.open(member) as src, tmp.open("wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            else:
                with tarfile.open(archive) as tf:
                    src = tf.extractfile(member)
                    if src is None:
                        raise KeyError(member)
                    with src, tmp.open("wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
    except KeyError:
        raise PrefixBenchError(f"{archive}: has no member {member!r}; the archive is not the "
                               "expected release: delete it and download again") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise PrefixBenchError(f"{archive}: corrupt or truncated archive ({err}); delete it and "
                               "download again") from None


def ensure_files(files: list[SourceFile], cache_dir: str | Path) -> Path:
    """Make every file present and verified under `cache_dir`; return that directory.

    `cache_dir` is the dataset's own cache folder (e.g. `~/.cache/prefix_bench/e2e`); files land
    at `cache_dir/<file.path>`, archives under `cache_dir/archives/`.
    """
    cache_dir = Path(cache_dir)
    records = _Records(cache_dir)
    for spec in files:
        final = cache_dir / spec.path
        expected = records.expected(spec.path, spec.sha256)
        if _verified(final, expected):
            continue  # never re-download what verifies
        if spec.member is None:
            digest = _fetch_any(spec.urls, final, expected)
        else:
            archive = cache_dir / "archives" / spec.archive_name
            key = f"archives/{spec.archive_name}"
            archive_expected = records.expected(key, spec.archive_sha256)
            if not _verified(archive, archive_expected):
                digest = _fetch_any(spec.urls, archive, archive_expected)
                if archive_expected is None:
                    records.remember(key, digest)
            _extract_member(archive, spec.member, final)
            digest = sha256_file(final)
            if expected is not None and digest != expected:
                final.unlink()  # a wrong file must not stay at the final path
                _check(digest, expected, f"{archive}!{spec.member}",
                       f"delete {archive} and download again")
        if expected is None:
            log.info("recorded sha256 of %s at first download: %s", spec.path, digest)
            records.remember(spec.path, digest)
    return cache_dir
