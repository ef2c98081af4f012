"""Downloads via file:// URLs: cache reuse, pinned/first-use checksums, corrupt/truncated files."""

import hashlib
import zipfile

import pytest
from test_data_helpers import DEMO_E2E

from prefix_bench.data import download
from prefix_bench.data.download import SourceFile, ensure_files, fetch_url
from prefix_bench.data.prepare import prepare_dataset
from prefix_bench.errors import PrefixBenchError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _count_fetches(monkeypatch):
    calls = []
    real = download.fetch_url

    def counting(url, dest, expected=None):
        calls.append(url)
        return real(url, dest, expected)

    monkeypatch.setattr(download, "fetch_url", counting)
    return calls


def test_pinned_file_cached_and_not_refetched(tmp_path, monkeypatch):
    data = b"hello\n"
    (tmp_path / "remote.txt").write_bytes(data)
    spec = SourceFile("a/hello.txt", ((tmp_path / "remote.txt").as_uri(),), _sha(data))
    calls = _count_fetches(monkeypatch)
    ensure_files([spec], tmp_path / "cache")
    ensure_files([spec], tmp_path / "cache")
    assert (tmp_path / "cache" / "a" / "hello.txt").read_bytes() == data
    assert len(calls) == 1


def test_checksum_mismatch_leaves_nothing(tmp_path):
    (tmp_path / "remote.txt").write_bytes(b"tampered")
    spec = SourceFile("hello.txt", ((tmp_path / "remote.txt").as_uri(),), _sha(b"hello"))
    with pytest.raises(PrefixBenchError, match=r"remote\.txt: sha256 .* does not match") as err:
        ensure_files([spec], tmp_path / "cache")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "cache" / "hello.txt").exists()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_first_use_checksum_recorded_then_verified(tmp_path, monkeypatch):
    remote = tmp_path / "remote.csv"
    remote.write_bytes(b"v1")
    spec = SourceFile("train.csv", (remote.as_uri(),), None)
    calls = _count_fetches(monkeypatch)
    ensure_files([spec], tmp_path / "cache")
    record = (tmp_path / "cache" / "recorded-sha256.json").read_text()
    assert _sha(b"v1") in record
    ensure_files([spec], tmp_path / "cache")
    assert len(calls) == 1  # verified against the record: no second download
    # A corrupted cache copy is fetched again; a changed upstream file is refused.
    (tmp_path / "cache" / "train.csv").write_bytes(b"corrupt")
    remote.write_bytes(b"v2")
    with pytest.raises(PrefixBenchError, match="does not match"):
        ensure_files([spec], tmp_path / "cache")


def test_truncated_download(tmp_path, monkeypatch):
    class Short:
        headers = {"Content-Length": "100"}

        def __init__(self):
            self.chunks = [b"x" * 10, b""]

        def read(self, n):
            return self.chunks.pop(0)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Short())
    with pytest.raises(PrefixBenchError, match=r"truncated \(10 of 100 bytes\)"):
        fetch_url("https://example.org/f.zip", tmp_path / "f.zip")
    assert not (tmp_path / "f.zip").exists()


def test_unreachable_url(tmp_path):
    with pytest.raises(PrefixBenchError, match="cannot download .*--source-dir"):
        fetch_url((tmp_path / "missing").as_uri(), tmp_path / "x")


def _e2e_zip(path, truncate=False):
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("trainset.csv", "devset.csv", "testset_w_refs.csv"):
            zf.write(DEMO_E2E / name, f"e2e-dataset/{name}")
    if truncate:
        path.write_bytes(path.read_bytes()[:2000])


def test_download_mode_end_to_end(tmp_path, monkeypatch):
    """prepare without --source-dir: zip fetched once, members extracted, checksums checked."""
    _e2e_zip(tmp_path / "e2e-dataset.zip")
    from prefix_bench.tasks import e2e

    url = ((tmp_path / "e2e-dataset.zip").as_uri(),)
    files = {s: SourceFile(f.path, url, None, f.member) for s, f in e2e._FILES.items()}
    monkeypatch.setattr(e2e, "_FILES", files)
    calls = _count_fetches(monkeypatch)
    m = prepare_dataset("e2e", tmp_path / "out", cache_dir=tmp_path / "cache")
    assert m["source"]["mode"] == "download"
    assert m["counts"]["test"]["units"] == 40
    prepare_dataset("e2e", tmp_path / "out2", cache_dir=tmp_path / "cache")
    assert len(calls) == 1


def test_pinned_member_mismatch(tmp_path, monkeypatch):
    """The real pins reject the demo files (they are not the official dev/test bytes)."""
    _e2e_zip(tmp_path / "e2e-dataset.zip")
    from prefix_bench.tasks import e2e

    url = ((tmp_path / "e2e-dataset.zip").as_uri(),)
    files = {s: SourceFile(f.path, url, f.sha256, f.member) for s, f in e2e._FILES.items()}
    monkeypatch.setattr(e2e, "_FILES", files)
    with pytest.raises(PrefixBenchError, match=r"e2e-dataset\.zip!e2e-dataset/devset\.csv"):
        prepare_dataset("e2e", tmp_path / "out", cache_dir=tmp_path / "c", splits=["dev"])
    assert not (tmp_path / "c" / "e2e" / "devset.csv").exists()
    assert not (tmp_path / "out").exists()


def test_truncated_archive(tmp_path):
    _e2e_zip(tmp_path / "e2e.zip", truncate=True)
    spec = SourceFile("devset.csv", ((tmp_path / "e2e.zip").as_uri(),), None,
                      "e2e-dataset/devset.csv")
    with pytest.raises(PrefixBenchError, match=r"e2e\.zip.*(corrupt|truncated|no member)"):
        ensure_files([spec], tmp_path / "cache")
    assert not (tmp_path / "cache" / "devset.csv").exists()
