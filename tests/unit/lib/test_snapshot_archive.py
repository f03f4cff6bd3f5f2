"""The snapshot archive: Consul's layout, streamed both ways, refused when damaged."""

import gzip
import hashlib
import io
import tarfile
import zlib

import pytest

from proconsul.lib.snapshot_archive import ArchiveError, read_archive, write_archive

META = {"Version": 1, "ID": "2-10-1", "Index": 10, "Term": 2, "Size": 5000}


def make_archive(state: bytes = b"s" * 5000) -> bytes:
    sink = io.BytesIO()
    write_archive(sink, META, io.BytesIO(state), len(state))
    return sink.getvalue()


def test_layout_is_consuls():
    archive = make_archive(b"state-bytes")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        assert tar.getnames() == ["meta.json", "state.bin", "SHA256SUMS"]
        sums = tar.extractfile("SHA256SUMS").read().decode()
        meta = tar.extractfile("meta.json").read()
    assert sums == (f"{hashlib.sha256(meta).hexdigest()}  meta.json\n"
                    f"{hashlib.sha256(b'state-bytes').hexdigest()}  state.bin\n")


def test_round_trip_streams_state_out():
    state = bytes(range(256)) * 10_000
    sink = io.BytesIO()
    assert read_archive(io.BytesIO(make_archive(state)), sink) == META
    assert sink.getvalue() == state


def _content(archive: bytes) -> bytes | None:
    try:
        return gzip.decompress(archive)
    except (OSError, EOFError, zlib.error):
        return None


def test_every_flipped_byte_that_changes_the_content_is_refused():
    """A flip that still inflates to the same bytes (gzip header time, an unused
    Huffman code) damages nothing; every other flip must be refused."""
    archive = make_archive(bytes(range(256)) * 40)
    original, refused = _content(archive), 0
    for position in range(len(archive)):
        damaged = bytearray(archive)
        damaged[position] ^= 0x40
        if _content(bytes(damaged)) == original:
            continue
        with pytest.raises(ArchiveError):
            read_archive(io.BytesIO(bytes(damaged)), io.BytesIO())
        refused += 1
    assert refused > len(archive) // 2


def test_flipped_byte_inside_state_bin_fails_its_checksum():
    content = bytearray(gzip.decompress(make_archive(b"a" * 5000)))
    content[content.index(b"a" * 100) + 50] ^= 1
    with pytest.raises(ArchiveError, match='hash check failed for "state.bin"'):
        read_archive(io.BytesIO(gzip.compress(bytes(content))), io.BytesIO())


def test_truncated_archive_is_refused():
    archive = make_archive()
    with pytest.raises(ArchiveError, match="failed to read snapshot file"):
        read_archive(io.BytesIO(archive[: len(archive) // 2]), io.BytesIO())


def _tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_wrong_checksum_names_the_file():
    meta = b'{"Index": 1}'
    sums = f"{hashlib.sha256(meta).hexdigest()}  meta.json\n{'0' * 64}  state.bin\n".encode()
    archive = _tar({"meta.json": meta, "state.bin": b"x", "SHA256SUMS": sums})
    with pytest.raises(ArchiveError, match='hash check failed for "state.bin"'):
        read_archive(io.BytesIO(archive), io.BytesIO())


def test_missing_and_unexpected_files():
    with pytest.raises(ArchiveError, match='file missing for "SHA256SUMS"'):
        read_archive(io.BytesIO(_tar({"meta.json": b"{}", "state.bin": b""})), io.BytesIO())
    with pytest.raises(ArchiveError, match='unexpected file "extra"'):
        read_archive(io.BytesIO(_tar({"extra": b""})), io.BytesIO())


def test_not_gzip_at_all():
    with pytest.raises(ArchiveError, match="failed to read snapshot file"):
        read_archive(io.BytesIO(b"this is not a snapshot"), io.BytesIO())
