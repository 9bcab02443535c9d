"""Tags, cover art and chapters from the plan: ID3v2.3 (CHAP + CTOC) for MP3, Vorbis comments, MP4 atoms."""

from __future__ import annotations

import colorsys
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..inputs import NotReadable, read_capped
from ..plan import Chapter, Event, Plan
from .captions import display_width

DEFAULT_ARTIST = "voiceguide"
DEFAULT_ALBUM = "voiceguide sessions"
# A hands-on routine is not music and not a meditation; "Spoken Word" is the standard genre every player knows.
DEFAULT_GENRE = "Spoken Word"
CHAPTER_MODES = ("sections", "steps")
# A step chapter's title: "Section: first words of the instruction", the words cut to about this many columns.
STEP_TITLE_CHARS = 40

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# Cover art is a few hundred kB; players and ID3 frames cope badly with more than a few MB.
MAX_COVER_BYTES = 10_000_000


@dataclass(frozen=True)
class Metadata:
    title: str
    artist: str = DEFAULT_ARTIST
    album: str = DEFAULT_ALBUM
    genre: str = DEFAULT_GENRE
    year: int | None = None
    comment: str = ""  # e.g. the render settings: "voice en-us, 150 wpm, pace 1.0"
    cover_png: bytes | None = None  # PNG (or JPEG) bytes for the front cover; see cover_png() and load_cover()


def image_mime(data: bytes) -> str:
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(JPEG_SIGNATURE):
        return "image/jpeg"
    raise UsageError("the cover image must be a PNG or JPEG file")


def load_cover(path: str | Path) -> bytes:
    """Read a user's cover image (for --cover FILE); UsageError unless it is a readable PNG or JPEG."""
    path = Path(path)
    try:
        data = read_capped(path, MAX_COVER_BYTES)
    except NotReadable as exc:
        raise UsageError(f"the cover image {path} {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the cover image {path}: {exc.strerror or exc}") from None
    try:
        image_mime(data)
    except UsageError:
        raise UsageError(f"{path}: the cover image must be a PNG or JPEG file") from None
    return data


# ---------------------------------------------------------------------------------------------- chapters


def _short_title(text: str, limit: int = STEP_TITLE_CHARS) -> str:
    """The first words of text, cut at a word boundary to about `limit` columns (CJK counts two)."""
    words = " ".join(text.split()).rstrip(".!?;:,。")
    if display_width(words) <= limit:
        return words
    kept = ""
    for word in words.split(" "):
        if kept and display_width(f"{kept} {word}") > limit:
            break
        kept = f"{kept} {word}" if kept else word
    while display_width(kept) > limit:  # one very long word (or unspaced CJK text)
        kept = kept[:-1]
    return kept.rstrip(".!?;:,。") + "…"


def step_chapters(plan: Plan) -> tuple[Chapter, ...]:
    """One chapter per spoken step, tiling the session exactly as the section chapters do.

    Each step chapter starts at its step chime (at its instruction when the routine has no chimes) and
    ends where the next one starts; the first step of a section starts where the section does (so its
    chime and spoken title belong to it) and the last ends where the section ends (pauses belong to the
    step before them). Chapters without spoken steps (Introduction, Closing, a section of pauses only)
    are kept as they are.
    """
    steps: list[tuple[float, str]] = []  # (step start, instruction text)
    chime: Event | None = None
    for event in plan.events:
        if event.type == "chime" and event.kind == "step":
            chime = event
        elif event.type == "speech" and event.kind == "instruction":
            # A routine with `chimes: none` has no step chimes: the step then starts with its instruction.
            ours = chime is not None and (chime.section, chime.step) == (event.section, event.step)
            steps.append((chime.start_s if ours else event.start_s, event.text or ""))
            chime = None
    out: list[Chapter] = []
    for chapter in plan.chapters:
        inside = [(t, text) for t, text in steps if chapter.start_s <= t < chapter.end_s]
        if not inside:
            out.append(chapter)
            continue
        bounds = [chapter.start_s] + [t for t, _ in inside[1:]] + [chapter.end_s]
        for i, (_, text) in enumerate(inside):
            out.append(Chapter(f"{chapter.title}: {_short_title(text)}", bounds[i], bounds[i + 1]))
    return tuple(out)


def chapters_for(plan: Plan, mode: str = "sections") -> tuple[Chapter, ...]:
    if mode == "sections":
        return plan.chapters
    if mode == "steps":
        return step_chapters(plan)
    raise UsageError(f"unknown chapter mode {mode!r}; use one of: {', '.join(CHAPTER_MODES)}")


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


# ---------------------------------------------------------------------------------------------- ID3


def _chapter_ordered_id3():
    """mutagen's ID3, saving the chapters in time order: the table of contents, then each CHAP frame by start.

    mutagen orders the frames it writes by importance, then size, then hash key, so CHAP frames would land
    in the file in no useful order; players that list chapters in file order (ffprobe, some podcast apps)
    then show "Closing" before "Introduction". The other frames keep mutagen's order, the cover last.
    """
    from mutagen.id3 import ID3
    from mutagen.id3._tags import save_frame  # the one frame serialiser ID3.save uses itself

    class ChapterOrderedID3(ID3):
        def _write(self, config):
            important = ["TIT2", "TPE1", "TRCK", "TALB", "TPOS", "TDRC", "TCON"]

            def key(item):
                index, (frame, data) = item
                fid = frame.FrameID
                if fid in important:
                    return (important.index(fid), 0, len(data), frame.HashKey)
                if fid == "APIC":
                    return (len(important) + 3, 0, index, "")
                if fid == "CTOC":
                    return (len(important) + 1, 0, 0, frame.HashKey)
                if fid == "CHAP":
                    return (len(important) + 2, frame.start_time, frame.end_time, frame.HashKey)
                return (len(important), 0, len(data), frame.HashKey)

            framedata = [(f, save_frame(f, config=config)) for f in self.values()]
            out = [d for _, (_, d) in sorted(enumerate(framedata), key=key)]
            if self._unknown_v2_version == config.v2_version:
                out.extend(data for data in self.unknown_frames if len(data) > 10)
            return bytearray().join(out)

    return ChapterOrderedID3


def write_mp3_tags(path: str | Path, plan: Plan, meta: Metadata, chapters: str | None = "sections") -> None:
    """Write (or replace) the file's ID3v2.3 tag: text frames, cover, and chapters (None: no chapters).

    The tag goes in front of the MPEG data, which is left byte for byte as it was, so the LAME Info frame
    still opens the audio and decoding stays sample-exact. Call it on the temporary file inside
    export.atomic_output so the finished file appears already tagged.
    """
    from mutagen.id3 import APIC, CHAP, COMM, CTOC, TALB, TCON, TIT2, TPE1, TYER, CTOCFlags, ID3NoHeaderError

    marks = chapters_for(plan, chapters) if chapters is not None else ()
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(3)
    # ID3 would just as happily prepend itself to a WAV or FLAC file, which players would then reject.
    if not (head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)):
        raise ValueError(f"{path} is not an MP3 file; ID3 tags and chapters are for MP3 only")
    ordered = _chapter_ordered_id3()
    try:
        tags = ordered(str(path))
    except ID3NoHeaderError:
        tags = ordered()
    for frame_id in ("TIT2", "TPE1", "TALB", "TCON", "TYER", "TDRC", "COMM", "APIC", "CHAP", "CTOC"):
        tags.delall(frame_id)

    tags.add(TIT2(encoding=3, text=[meta.title]))
    tags.add(TPE1(encoding=3, text=[meta.artist]))
    tags.add(TALB(encoding=3, text=[meta.album]))
    tags.add(TCON(encoding=3, text=[meta.genre]))
    if meta.year is not None:
        tags.add(TYER(encoding=3, text=[f"{meta.year:04d}"]))
    if meta.comment:
        tags.add(COMM(encoding=3, lang="eng", desc="", text=[meta.comment]))
    if meta.cover_png:
        tags.add(APIC(encoding=3, mime=image_mime(meta.cover_png), type=3, desc="Cover", data=meta.cover_png))

    if marks:
        ids = [f"chp{i}" for i in range(len(marks))]
        for element_id, mark in zip(ids, marks):
            tags.add(
                CHAP(
                    element_id=element_id,
                    start_time=_ms(mark.start_s),
                    end_time=_ms(mark.end_s),
                    sub_frames=[TIT2(encoding=3, text=[mark.title])],
                )
            )
        tags.add(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=3, text=[meta.title])],
            )
        )
    # v2.3 for Windows Explorer; this converts the frames (UTF-8 -> UTF-16, v2.4-only frames) for it.
    tags.update_to_v23()
    tags.save(str(path), v1=0, v2_version=3)


def _vorbis_time(seconds: float) -> str:
    ms = _ms(seconds)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def write_vorbis_tags(path: str | Path, plan: Plan, meta: Metadata, chapters: str | None = "sections") -> None:
    """Vorbis comments for FLAC, Ogg Vorbis and Ogg Opus: the same text tags, the cover as a picture block,
    and chapters as CHAPTERnnn / CHAPTERnnnNAME comments (the Vorbis chapter convention players read)."""
    import base64

    from mutagen.flac import FLAC, Picture
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"fLaC":
        audio = FLAC(str(path))
    elif head == b"OggS":
        try:
            audio = OggOpus(str(path))
        except Exception:  # noqa: BLE001 - mutagen raises a format-specific error for "not Opus"
            audio = OggVorbis(str(path))
    else:
        raise ValueError(f"{path} is neither FLAC nor Ogg; Vorbis comments do not apply")
    audio.delete()
    audio["TITLE"] = meta.title
    audio["ARTIST"] = meta.artist
    audio["ALBUM"] = meta.album
    audio["GENRE"] = meta.genre
    if meta.year is not None:
        audio["DATE"] = f"{meta.year:04d}"
    if meta.comment:
        audio["COMMENT"] = meta.comment
    marks = chapters_for(plan, chapters) if chapters is not None else ()
    for i, mark in enumerate(marks, start=1):
        audio[f"CHAPTER{i:03d}"] = _vorbis_time(mark.start_s)
        audio[f"CHAPTER{i:03d}NAME"] = mark.title
    if meta.cover_png:
        picture = Picture()
        picture.type, picture.mime, picture.desc, picture.data = 3, image_mime(meta.cover_png), "Cover", meta.cover_png
        if isinstance(audio, FLAC):
            audio.clear_pictures()
            audio.add_picture(picture)
        else:
            audio["METADATA_BLOCK_PICTURE"] = base64.b64encode(picture.write()).decode("ascii")
    audio.save()


def write_mp4_tags(path: str | Path, plan: Plan, meta: Metadata, chapters: str | None = "sections") -> None:
    """iTunes-style tags for an .m4a (©nam, ©ART, ©alb, ©gen, ©day, ©cmt, covr) and its chapters.

    The chapters need ffmpeg's MP4 muxer (a QuickTime chapter track and a Nero chpl atom; mutagen only reads
    chapters), so the file is first copied packet for packet with them (see m4a.write_chapters); then mutagen
    writes the tags, as for the other formats.
    """
    from mutagen.mp4 import MP4, MP4Cover

    from .m4a import write_chapters

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] != b"ftyp":
        raise ValueError(f"{path} is not an MP4 file; MP4 tags and chapters are for .m4a only")
    write_chapters(path, chapters_for(plan, chapters) if chapters is not None else ())
    audio = MP4(str(path))
    if audio.tags is None:
        audio.add_tags()
    for key in ("\xa9nam", "\xa9ART", "\xa9alb", "\xa9gen", "\xa9day", "\xa9cmt", "covr"):
        audio.tags.pop(key, None)
    audio.tags["\xa9nam"] = [meta.title]
    audio.tags["\xa9ART"] = [meta.artist]
    audio.tags["\xa9alb"] = [meta.album]
    audio.tags["\xa9gen"] = [meta.genre]
    if meta.year is not None:
        audio.tags["\xa9day"] = [f"{meta.year:04d}"]
    if meta.comment:
        audio.tags["\xa9cmt"] = [meta.comment]
    if meta.cover_png:
        kind = MP4Cover.FORMAT_PNG if image_mime(meta.cover_png) == "image/png" else MP4Cover.FORMAT_JPEG
        audio.tags["covr"] = [MP4Cover(meta.cover_png, imageformat=kind)]
    audio.save()


# ---------------------------------------------------------------------------------------------- cover art


def _png(rgb: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 array as a PNG, every row with the "Up" filter (gradients compress well)."""
    height, width, _ = rgb.shape
    up = np.diff(rgb.astype(np.int16), axis=0, prepend=0).astype(np.uint8)
    raw = np.concatenate([np.full((height, 1), 2, np.uint8), up.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b"")


def cover_png(title: str, seed_text: str = "", size: int = 600) -> bytes:
    """A soft abstract square cover, the same every time for the same title (and seed_text, e.g. the section titles).

    A two-hue pastel gradient, a few blurred glows and faint ripples from one point, like a voice.
    """
    if size < 16:
        raise ValueError("cover size must be at least 16 pixels")
    digest = hashlib.sha256(f"{title}\n{seed_text}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))

    def colour(hue: float, sat: float, val: float) -> np.ndarray:
        return np.array(colorsys.hsv_to_rgb(hue % 1.0, sat, val), np.float32)

    hue = rng.random()
    shift = rng.uniform(0.08, 0.22) * rng.choice((-1.0, 1.0))
    c1 = colour(hue, rng.uniform(0.30, 0.45), rng.uniform(0.80, 0.90))
    c2 = colour(hue + shift, rng.uniform(0.35, 0.55), rng.uniform(0.55, 0.70))

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size - 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle)
    t = np.clip(t / np.float32(0.75) + 0.5, 0, 1)
    t = t * t * (3 - 2 * t)  # smoothstep: a soft, not linear, blend
    img = c1 * (1 - t)[..., None] + c2 * t[..., None]

    for _ in range(int(rng.integers(3, 6))):
        cx, cy = rng.uniform(0.1, 0.9, 2)
        radius = rng.uniform(0.12, 0.35)
        glow = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / np.float32(2 * radius * radius))
        tint = colour(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.35), 1.0)
        strength = np.float32(rng.uniform(0.25, 0.5))
        img += (tint - img) * (glow * strength)[..., None]

    cx, cy = rng.uniform(0.3, 0.7, 2)
    dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    ripples = 0.5 + 0.5 * np.cos(dist * np.float32(2 * np.pi * rng.uniform(7, 11)))
    img += np.float32(0.06) * (ripples * np.exp(-dist / np.float32(0.3)))[..., None]

    vignette = 1 - np.float32(0.18) * np.clip(np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2) / np.float32(0.7071), 0, 1) ** 2
    img *= vignette[..., None]
    return _png(np.clip(np.round(img * 255), 0, 255).astype(np.uint8))
