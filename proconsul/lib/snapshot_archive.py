"""Consul's snapshot archive: a gzip'd tar of ``meta.json``, ``state.bin`` and ``SHA256SUMS``.

``meta.json`` is the raft snapshot metadata (Version, ID, Index, Term, Peers,
Configuration, ConfigurationIndex, Size), ``state.bin`` the state machine's
snapshot stream and ``SHA256SUMS`` the ``sha256sum``-style digests of both.
Both directions stream: :func:`write_archive` copies ``state.bin`` from a file
and :func:`read_archive` copies it into one, so the archive is never held in
memory. Reading checks every digest, the tar layout and the gzip trailer
before it returns; any damage is an :class:`ArchiveError` with Consul's text.
Compression is ISA-L's gzip (``isal``): the same format as zlib's, several
times faster on both sides.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
import zlib
from typing import Any, BinaryIO

from isal import igzip_threaded, isal_zlib

META_FILE = "meta.json"
STATE_FILE = "state.bin"
SUMS_FILE = "SHA256SUMS"
CHUNK = 1 << 20
MAX_SMALL_FILE = 1 << 20  # meta.json and SHA256SUMS are a few hundred bytes
COMPRESS_LEVEL = 1  # any gzip level reads back; ISA-L's 1 keeps save well above 50 MB/s


class ArchiveError(ValueError):
    """The archive is not a complete, intact Consul snapshot archive."""


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(time.time())
    return info


def write_archive(sink: BinaryIO, meta: dict[str, Any], state: Any, state_size: int) -> None:
    """Write the archive for ``state`` (``state_size`` bytes read from it: a file, or
    anything with ``read(n)`` such as :class:`ChunkReader`)."""
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    meta_sum = hashlib.sha256(meta_bytes).hexdigest()
    # threads=1: compression runs beside the reading and hashing that feed it.
    with igzip_threaded.open(sink, "wb", compresslevel=COMPRESS_LEVEL, threads=1) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT,
                          bufsize=CHUNK) as tar:
        tar.addfile(_tar_info(META_FILE, len(meta_bytes)), io.BytesIO(meta_bytes))
        hashing = _HashingReader(state, state_size)
        tar.addfile(_tar_info(STATE_FILE, state_size), hashing)
        if hashing.remaining:
            raise OSError(f"state data ended {hashing.remaining} bytes early")
        sums = f"{meta_sum}  {META_FILE}\n{hashing.digest.hexdigest()}  {STATE_FILE}\n".encode()
        tar.addfile(_tar_info(SUMS_FILE, len(sums)), io.BytesIO(sums))


class ChunkReader:
    """``read(n)`` over an iterable of byte strings (a state stream produced on demand)."""

    def __init__(self, chunks) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        parts, have = [self._pending], len(self._pending)
        while size < 0 or have < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        if size < 0:
            self._pending = b""
            return data
        self._pending = data[size:]
        return data[:size]


class _HashingReader:
    """Reads at most ``size`` bytes from ``source``, hashing what passes."""

    def __init__(self, source: BinaryIO, size: int) -> None:
        self._source = source
        self.remaining = size
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self._source.read(size)
        self.remaining -= len(data)
        self.digest.update(data)
        return data


def read_archive(source: BinaryIO, state_sink: BinaryIO) -> dict[str, Any]:
    """Check the archive in ``source``, copy its ``state.bin`` into ``state_sink``
    and return its decoded ``meta.json``. Raises :class:`ArchiveError` if anything
    is missing, unexpected, truncated or fails its checksum."""
    try:
        return _read_archive(source, state_sink)
    except ArchiveError:
        raise
    except (OSError, EOFError, zlib.error, isal_zlib.error, tarfile.TarError) as err:
        # gzip raises BadGzipFile (an OSError) on a bad header or CRC; a truncated
        # stream is an EOFError; a damaged tar header a TarError.
        raise ArchiveError(f"failed to read snapshot file: {err or type(err).__name__}") from None


def _read_archive(source: BinaryIO, state_sink: BinaryIO) -> dict[str, Any]:
    decompressed = igzip_threaded.open(source, "rb", threads=1)  # inflates ahead of the tar
    try:
        return _read_members(decompressed, state_sink)
    finally:
        decompressed.close()


def _read_members(decompressed: BinaryIO, state_sink: BinaryIO) -> dict[str, Any]:
    digests: dict[str, str] = {}
    meta_bytes: bytes | None = None
    sums: bytes | None = None
    with tarfile.open(fileobj=decompressed, mode="r|", bufsize=CHUNK) as tar:
        for member in tar:
            if not member.isfile():
                raise ArchiveError(f'unexpected file "{member.name}" in snapshot')
            data = tar.extractfile(member)
            assert data is not None
            if member.name == META_FILE:
                meta_bytes = _read_small(data, member)
                digests[META_FILE] = hashlib.sha256(meta_bytes).hexdigest()
            elif member.name == STATE_FILE:
                digests[STATE_FILE] = _copy_hashing(data, state_sink)
            elif member.name == SUMS_FILE:
                sums = _read_small(data, member)
            else:
                raise ArchiveError(f'unexpected file "{member.name}" in snapshot')
    _conclude_gzip(decompressed)
    _check_sums(sums, digests)
    assert meta_bytes is not None  # _check_sums insists on it
    try:
        meta = json.loads(meta_bytes)
    except ValueError as err:
        raise ArchiveError(f"failed to decode snapshot metadata: {err}") from None
    if not isinstance(meta, dict):
        raise ArchiveError("failed to decode snapshot metadata: not a JSON object")
    return meta


def _read_small(data: BinaryIO, member: tarfile.TarInfo) -> bytes:
    if member.size > MAX_SMALL_FILE:
        raise ArchiveError(f'snapshot file "{member.name}" is too large '
                           f"({member.size} bytes)")
    return data.read()


def _copy_hashing(data: BinaryIO, sink: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := data.read(CHUNK):
        digest.update(chunk)
        sink.write(chunk)
    return digest.hexdigest()


def _conclude_gzip(decompressed: BinaryIO) -> None:
    """Read to the end of the gzip stream (which checks its CRC); only the tar's
    zero padding may remain."""
    while chunk := decompressed.read(CHUNK):
        if chunk.count(0) != len(chunk):
            raise ArchiveError("failed to read snapshot file: data after the end of the archive")


def _check_sums(sums: bytes | None, digests: dict[str, str]) -> None:
    prefix = "failed checking integrity of snapshot: "
    if sums is None:
        raise ArchiveError(prefix + f'file missing for "{SUMS_FILE}"')
    listed: dict[str, str] = {}
    for line in sums.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        if not name or len(digest) != 64:
            raise ArchiveError(prefix + f"malformed line in {SUMS_FILE}: {line!r}")
        listed[name] = digest.lower()
    for name in (META_FILE, STATE_FILE):
        if name not in listed:
            raise ArchiveError(prefix + f'list missing hash for "{name}"')
        if name not in digests:
            raise ArchiveError(prefix + f'file missing for "{name}"')
        if listed[name] != digests[name]:
            raise ArchiveError(prefix + f'hash check failed for "{name}"')
