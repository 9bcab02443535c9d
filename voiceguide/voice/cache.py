"""Content-addressed clip cache: one WAV per (engine, engine version, resolved voice, language, rate, volume,
pitch, text) and cache format.

The cache is an optimisation, never a reason to fail: an entry that is truncated, garbage or altered is
dropped and synthesised again (each WAV carries a digest of its own content, checked on every read), a
cache folder that cannot be written (read-only, or a full disk: the probe writes real bytes) falls back to a
private temporary folder (with a warning) that is removed when the process ends, and renders running at once
share it safely: entries appear by atomic link, the first complete one stays, so a reader sees one whole clip
or none. Temporaries of killed processes are removed by later runs (voiceguide.stale).

Compact: an entry is the engine's own audio as 16-bit PCM at the engine's rate (about 44 kB per second of speech
at 22050 Hz), sealed; the mix-ready clip is made from it when it is played (voice.clips), and only the small
per-clip measurements are kept beside it. The cache is bounded (voice.eviction): what a render uses is leased,
so a render running at the same time never loses an entry it is using.
"""

from __future__ import annotations

import atexit
import errno
import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import warnings
from pathlib import Path

from .. import stale
from ..errors import UsageError
from ..inputs import _shown, user_path
from .resolve import normal

# Part of every key: bump it whenever what a key means or how a stored clip is made changes, so older entries
# are never served again (2: the voice is the engine's resolved voice id, and the language is in the key;
# 3: every WAV is sealed with a digest chunk; 4: pyttsx3 clips made before its settings were applied at once
# may be spoken at 200 wpm; 5: the stored WAV is always 16-bit PCM at the engine's rate, and the processed
# samples are no longer kept beside it).
CACHE_FORMAT = 5
# A RIFF chunk appended to each stored WAV: a digest of everything before it. WAV readers skip unknown chunks.
SEAL_ID = b"vgck"
SEAL_BYTES = 32
# What the write probe writes: enough that a full disk refuses it (an empty file needs no blocks at all).
PROBE_BYTES = 256 * 1024
# Temporary names in the cache, each with its maker's pid: scratch folders of the engines' WAVs, processed
# clips being written (voice.clips), music loops and their energies being written (music).
_SCRATCH = re.compile(r"\.tmp-(?P<pid>\d+)-.+")
_PROCESSED_TEMP = re.compile(r"\..+\.(?P<pid>\d+)-[0-9a-f]+\.tmp")
_MUSIC_TEMP = re.compile(r".*?\.(?P<pid>\d+)(?:\.\d+\.tmp|\.tmp\.npy)")
# A render's lease: the names of the entries it uses, one a line. Named like a scratch folder, so a killed
# render's lease is swept with its scratch (voiceguide.stale) and eviction honours only leases of live renders.
LEASE_SUFFIX = ".lease"
# Taken shared while a render leases and looks up entries, exclusive while entries are evicted.
LOCK_NAME = ".lock"


def default_cache_dir() -> Path:
    override = os.environ.get("VOICEGUIDE_CACHE_DIR")
    if override:
        try:
            return user_path(override)
        except ValueError as exc:
            raise UsageError(f"VOICEGUIDE_CACHE_DIR={_shown(override, 60)} {exc}") from None
    import platformdirs

    return Path(platformdirs.user_cache_dir("voiceguide")) / "clips"


def clip_key(
    engine: str,
    engine_version: str,
    voice: str | None,
    rate_wpm: int,
    volume: float,
    text: str,
    pitch: int | None = None,
    language: str | None = None,
) -> str:
    """`voice` is what the engine resolved the options to (Engine.voice_identity), not the name as typed."""
    identity = {
        "format": CACHE_FORMAT,
        "engine": engine,
        "engine_version": engine_version,
        "voice": voice,
        "language": normal(language) if language else None,
        "rate_wpm": rate_wpm,
        "volume": round(volume, 4),
        "text": text,
    }
    if pitch is not None:
        identity["pitch"] = pitch
    return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def wav_is_complete(path: Path) -> bool:
    """A readable RIFF/WAVE file whose data chunk holds audio and fits in the file (not truncated)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            position, has_format = 12, False
            while position + 8 <= size:
                handle.seek(position)
                chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
                if chunk_id == b"fmt ":
                    has_format = True
                elif chunk_id == b"data":
                    return has_format and 0 < chunk_size and position + 8 + chunk_size <= size
                position += 8 + chunk_size + (chunk_size & 1)
        return False
    except (OSError, struct.error):
        return False


def _chunks(data: bytes):
    """(id, start, size) of each chunk of a RIFF/WAVE file's bytes, up to the first that does not fit."""
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, position)
        if position + 8 + size > len(data):
            return
        yield chunk_id, position, size
        position += 8 + size + (size & 1)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=SEAL_BYTES).digest()


def compact_wav(path: Path) -> None:
    """Make an engine's WAV what the cache keeps, in place: 16-bit PCM at the engine's own rate, without the
    silence before and after the words that voice.clips trims anyway (espeak-ng and Piper pad each clip).
    16-bit samples are kept exactly as the engine wrote them; a float WAV (Kokoro) is converted once."""
    import soundfile

    from .clips import trim_bounds

    try:
        info = soundfile.info(str(path))
        pcm16 = info.format == "WAV" and info.subtype == "PCM_16"
        data, rate = soundfile.read(str(path), dtype="int16" if pcm16 else "float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError):
        return  # not readable as audio: stored as is, and refused when it is processed
    # Measured as voice.clips measures it when the clip plays: float32 of the stored samples, channels averaged.
    level = data.astype("float32") * (1 / 32768) if pcm16 else data
    start, end = trim_bounds(level.mean(axis=1) if level.shape[1] > 1 else level[:, 0], rate)
    if end <= start or (pcm16 and (start, end) == (0, len(data))):
        return  # silent (refused when processed) or nothing to change
    soundfile.write(str(path), data[start:end], rate, format="WAV", subtype="PCM_16")


def seal_wav(path: Path) -> None:
    """Append the digest chunk to a complete WAV (in place; the file is still private to the caller)."""
    data = path.read_bytes()
    body = data + b"\0" * (len(data) % 2)  # chunks start on even bytes (a missing pad byte after odd data)
    sealed = bytearray(body) + SEAL_ID + struct.pack("<I", SEAL_BYTES) + _digest(body[12:])
    struct.pack_into("<I", sealed, 4, len(sealed) - 8)
    path.write_bytes(bytes(sealed))


def wav_is_sealed(path: Path) -> bool:
    """A complete WAV whose last chunk is our digest of everything before it: not truncated, not altered."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    chunks = list(_chunks(data))
    if len(chunks) < 3 or chunks[-1][0] != SEAL_ID or chunks[-1][2] != SEAL_BYTES:
        return False
    seal_at = chunks[-1][1]
    ids = {c[0] for c in chunks[:-1]}
    if b"fmt " not in ids or not any(c[0] == b"data" and c[2] > 0 for c in chunks):
        return False
    return data[seal_at + 8 : seal_at + 8 + SEAL_BYTES] == _digest(data[12:seal_at])


def touch(path: Path) -> None:
    """Mark an entry as just used: eviction removes the least recently used first."""
    try:
        os.utime(path)
    except OSError:
        pass


@contextlib.contextmanager
def _locked(root: Path, exclusive: bool):
    """A lock on the cache folder shared by every process (flock; where there is none, no lock: eviction then
    relies on the leases alone)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        handle = open(root / LOCK_NAME, "a+b")  # noqa: SIM115
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError:
            pass
        yield
    finally:
        handle.close()  # releases the lock


def _private_dir() -> Path:
    """A temporary folder for this process only, removed when it exits."""
    folder = Path(tempfile.mkdtemp(prefix="voiceguide-clips-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


class ClipCache:
    def __init__(self, root: Path | None = None):
        self._lease_lock = threading.Lock()
        self._lease_depth = 0
        self._in_use: set[str] = set()
        self._lease_file: Path | None = None
        self.root = Path(root) if root is not None else default_cache_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True) as probe:
                probe.write(bytes(PROBE_BYTES))
                probe.flush()
        except OSError as exc:
            self._fall_back(exc)
        else:
            self._sweep()

    # --- leases: what this process's renders use, so no render's eviction removes it -------------------------

    @contextlib.contextmanager
    def lease(self):
        """Hold the names given to `use` until the outermost lease ends (they may nest: a render's lease
        wraps the lookup's)."""
        with self._lease_lock:
            self._lease_depth += 1
        try:
            yield self
        finally:
            with self._lease_lock:
                self._lease_depth -= 1
                if self._lease_depth == 0:
                    self._in_use.clear()
                    if self._lease_file is not None:
                        self._lease_file.unlink(missing_ok=True)
                        self._lease_file = None

    def use(self, names) -> None:
        """Lease entries (keys, or file names in music/) for as long as the current lease lasts. Call it under
        `shared_lock`, before looking the entries up, so an eviction either sees the lease or ends first."""
        with self._lease_lock:
            if self._lease_depth == 0:
                return  # nothing to hold them for
            self._in_use.update(names)
            if self._lease_file is None:
                self._lease_file = self.root / f".tmp-{stale.temp_tag()}{LEASE_SUFFIX}"
            try:
                temp = self._lease_file.with_name(self._lease_file.name + ".new")
                temp.write_text("\n".join(sorted(self._in_use)) + "\n", encoding="utf-8")
                os.replace(temp, self._lease_file)
            except OSError:
                pass  # an unwritable cache: nothing else can evict from it either

    @property
    def in_use(self) -> frozenset[str]:
        with self._lease_lock:
            return frozenset(self._in_use)

    @contextlib.contextmanager
    def shared_lock(self):
        with _locked(self.root, exclusive=False):
            yield

    @contextlib.contextmanager
    def exclusive_lock(self):
        with _locked(self.root, exclusive=True):
            yield

    def _sweep(self) -> None:
        """Remove what killed renders left here (scratch folders, half-written processed clips and loops)."""
        stale.sweep(self.root, _SCRATCH)
        for name in ("music", *(f"{i:02x}" for i in range(256))):
            folder = self.root / name
            if folder.is_dir():
                stale.sweep(folder, _MUSIC_TEMP if name == "music" else _PROCESSED_TEMP)

    def _fall_back(self, exc: OSError) -> None:
        previous = self.root
        self.root = _private_dir()
        warnings.warn(
            f"clip cache {previous} is not writable ({exc.strerror or exc}); rendering without it "
            f"(set VOICEGUIDE_CACHE_DIR to a writable folder to keep clips between runs)",
            stacklevel=3,
        )

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        try:
            if not path.is_file():
                return None
        except OSError:
            return None
        if wav_is_sealed(path):
            touch(path)
            return path
        # Truncated, altered or garbage entry: drop it so it is synthesised again (another render may already have).
        self.discard(key)
        return None

    def discard(self, key: str) -> None:
        """Forget an entry and what was derived from it (a clip that turned out unusable)."""
        path = self.path(key)
        for stale_file in [path, *path.parent.glob(f"{key}.*")]:
            try:
                stale_file.unlink(missing_ok=True)
            except OSError:
                pass

    def put(self, key: str, source: Path) -> Path:
        """Store the engine's WAV `source` under `key`; return the stored entry (which may be another render's:
        the first complete entry stays, so a clip never changes under a render that is measuring or mixing it)."""
        target = self.path(key)
        try:
            compact_wav(source)
            seal_wav(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)  # atomic, and never over an entry another render just stored
            except FileExistsError:
                if not wav_is_sealed(target):
                    os.replace(source, target)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                    raise
                os.replace(source, target)  # a file system without hard links: readers still see whole clips
            source.unlink(missing_ok=True)
            return target
        except OSError as exc:
            # The cache went bad mid-run (disk full, folder removed or made read-only): keep going without it.
            self._fall_back(exc)
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
            return target

    def scratch_dir(self) -> tempfile.TemporaryDirectory:
        # Same filesystem as the cache, so put() is a rename, not a copy.
        try:
            return tempfile.TemporaryDirectory(dir=self.root, prefix=f".tmp-{os.getpid()}-")
        except OSError as exc:
            self._fall_back(exc)
            return tempfile.TemporaryDirectory(dir=self.root, prefix=f".tmp-{os.getpid()}-")
