"""ID3 tags and chapters on a real rendered MP3, read back with mutagen (and ffprobe when present)."""

from __future__ import annotations

import json
import struct
import subprocess
import zlib

import pytest
import soundfile
from mutagen.id3 import ID3, CTOCFlags
from mutagen.mp3 import MP3

from voiceguide import UsageError, render, synthesize_plan
from voiceguide.export.tags import Metadata, chapters_for, cover_png, load_cover, step_chapters, write_mp3_tags

from .conftest import SMALL_ROUTINE, requires_ffmpeg

COMMENT = "voice en-us, 150 wpm, pace 1.0"

# Long instructions, a section of pauses only, no intro: the awkward cases for step chapters.
AWKWARD_ROUTINE = """\
title: Älteste Übung — long titles
music: none
lead_in: 0.5s
outro: Done.
sections:
  - title: Forehead
    steps:
      - pause: 1s
      - say: Place two fingers between the brows and draw them slowly outward to the temples.
        hold: 2s
      - say: Tap.
        repeat: 2
        every: 1s
        count: true
      - pause: 1s
  - title: Quiet
    steps:
      - pause: 2s
  - title: Cheeks
    steps:
      - say: Lift the cheeks.
        hold: 1s
        sides: [left, right]
"""


@pytest.fixture
def session(write_routine, fake_engine, tmp_path):
    """A freshly rendered MP3 of the small routine with its ID3 tag cut off (render tags it; these tests
    start from the encoder's bare output), with its plan and decoded length."""
    out = tmp_path / "session.mp3"
    result = render(write_routine(SMALL_ROUTINE), out, engine="fake")
    data = out.read_bytes()
    out.write_bytes(data[id3_size(data) :] if data[:3] == b"ID3" else data)
    frames = soundfile.info(str(out)).frames
    return out, result.plan, frames


def id3_size(data: bytes) -> int:
    """Total size of a leading ID3v2 tag, from its header (synchsafe size + 10), independent of mutagen."""
    assert data[:3] == b"ID3"
    size = 0
    for byte in data[6:10]:
        assert byte < 0x80
        size = (size << 7) | byte
    return size + 10


def assert_lame_info_frame(data: bytes) -> None:
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0, "the MPEG data must start right after the tag"
    side_info = 17 if (data[3] >> 6) == 3 else 32
    assert data[4 + side_info : 8 + side_info] == b"Info"
    assert b"LAME3.100" in data[: 4 + side_info + 200]


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Walk a PNG's chunks checking every CRC; return width, height and the inflated image data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, colour) == (8, 2)
    return width, height, zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def test_tags_and_section_chapters_read_back(session):
    path, plan, frames = session
    original = path.read_bytes()
    assert original[:3] != b"ID3"  # the encoder writes no tag: the file opens with the Info frame
    cover = cover_png(plan.title, "Neck Jaw")
    write_mp3_tags(path, plan, Metadata(plan.title, year=2025, comment=COMMENT, cover_png=cover))

    data = path.read_bytes()
    assert data[3] == 3, "ID3v2.3"
    start = id3_size(data)
    assert data[start:] == original, "the audio must be untouched, byte for byte"
    assert_lame_info_frame(data[start:])
    assert soundfile.info(str(path)).frames == frames
    decoded, _ = soundfile.read(str(path))
    assert len(decoded) == frames
    assert MP3(str(path)).info.length == pytest.approx(plan.duration_s, abs=1e-3)

    raw = ID3(str(path), translate=False)
    assert raw.version == (2, 3, 0)
    assert str(raw["TYER"]) == "2025"

    tags = ID3(str(path))
    assert str(tags["TIT2"]) == "Small test routine"
    assert str(tags["TPE1"]) == "voiceguide"
    assert str(tags["TALB"]) == "voiceguide sessions"
    assert tags["TCON"].text == ["Spoken Word"]
    assert [c.text for c in tags.getall("COMM")] == [[COMMENT]]
    (apic,) = tags.getall("APIC")
    assert apic.type == 3 and apic.mime == "image/png" and apic.data == cover
    assert apic.data.startswith(b"\x89PNG\r\n\x1a\n")

    chaps = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [c.element_id for c in chaps] == [f"chp{i}" for i in range(len(plan.chapters))]
    assert [(c.start_time, c.end_time) for c in chaps] == [(ms(c.start_s), ms(c.end_s)) for c in plan.chapters]
    assert [str(c.sub_frames["TIT2"]) for c in chaps] == ["Introduction", "Neck", "Jaw", "Closing"]
    assert chaps[0].start_time == 0 and chaps[-1].end_time == ms(frames / 44100)

    (toc,) = tags.getall("CTOC")
    assert toc.element_id == "toc"
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    assert toc.child_element_ids == [c.element_id for c in chaps]
    assert str(toc.sub_frames["TIT2"]) == "Small test routine"


def test_retagging_replaces_frames_and_keeps_audio(session):
    path, plan, frames = session
    original = path.read_bytes()
    write_mp3_tags(path, plan, Metadata(plan.title, comment=COMMENT, cover_png=cover_png(plan.title, "")))
    write_mp3_tags(path, plan, Metadata("Renamed", artist="Me", comment="second"), chapters="steps")

    tags = ID3(str(path))
    assert str(tags["TIT2"]) == "Renamed" and str(tags["TPE1"]) == "Me"
    assert [c.text for c in tags.getall("COMM")] == [["second"]]
    assert tags.getall("APIC") == [] and "TDRC" not in tags
    assert len(tags.getall("CTOC")) == 1
    assert len(tags.getall("CHAP")) == len(step_chapters(plan))
    data = path.read_bytes()
    assert data[id3_size(data) :] == original
    assert soundfile.info(str(path)).frames == frames

    write_mp3_tags(path, plan, Metadata("No chapters"), chapters=None)
    tags = ID3(str(path))
    assert tags.getall("CHAP") == [] and tags.getall("CTOC") == []


def test_step_chapters_in_the_file(session):
    path, plan, _ = session
    write_mp3_tags(path, plan, Metadata(plan.title), chapters="steps")
    tags = ID3(str(path))
    chaps = [tags[f"CHAP:{cid}"] for cid in tags.getall("CTOC")[0].child_element_ids]
    assert [str(c.sub_frames["TIT2"]) for c in chaps] == [
        "Introduction",
        "Neck: Circle above the collarbones",
        "Neck: Stroke down the neck",
        "Jaw: Glide along the jaw line",
        "Closing",
    ]
    chimes = [e.start_s for e in plan.events if e.type == "chime" and e.kind == "step"]
    # The first step of a section starts with the section; the others at their chime.
    assert chaps[1].start_time == ms(plan.chapters[1].start_s)
    assert chaps[2].start_time == ms(chimes[1])
    assert chaps[0].start_time == 0 and chaps[-1].end_time == ms(plan.duration_s)
    assert all(a.end_time == b.start_time for a, b in zip(chaps, chaps[1:]))


def test_step_chapters_tile_awkward_routine(write_routine, fake_engine):
    plan, _, _ = synthesize_plan(write_routine(AWKWARD_ROUTINE), engine="fake")
    marks = step_chapters(plan)
    assert marks[0].start_s == 0.0 and marks[-1].end_s == plan.duration_s
    assert all(a.end_s == b.start_s and a.start_s < a.end_s for a, b in zip(marks, marks[1:]))
    titles = [m.title for m in marks]
    assert titles[0].startswith("Forehead: Place two fingers between the brows") and titles[0].endswith("…")
    assert len(titles[0]) <= len("Forehead: ") + 41
    assert titles[1:] == ["Forehead: Tap", "Quiet", "Cheeks: Lift the cheeks", "Closing"]
    # Every step chime lies inside the chapter named after it.
    chimes = [e for e in plan.events if e.type == "chime" and e.kind == "step"]
    assert [m.start_s for m in marks[1:2]] == [chimes[1].start_s]
    assert chapters_for(plan, "sections") == plan.chapters
    with pytest.raises(UsageError, match="chapter mode"):
        chapters_for(plan, "paragraphs")


def test_step_chapters_without_chimes(write_routine, fake_engine):
    plan, _, _ = synthesize_plan(write_routine(SMALL_ROUTINE.replace("music: none", "music: none\nchimes: none")), engine="fake")
    assert not [e for e in plan.events if e.type == "chime"]
    marks = step_chapters(plan)
    instructions = [e for e in plan.speech() if e.kind == "instruction"]
    assert [m.title for m in marks] == [
        "Introduction",
        "Neck: Circle above the collarbones",
        "Neck: Stroke down the neck",
        "Jaw: Glide along the jaw line",
        "Closing",
    ]
    assert marks[2].start_s == instructions[1].start_s
    assert all(a.end_s == b.start_s for a, b in zip(marks, marks[1:]))
    assert marks[0].start_s == 0.0 and marks[-1].end_s == plan.duration_s


def test_unicode_titles_survive_v23(write_routine, fake_engine, tmp_path):
    out = tmp_path / "u.mp3"
    result = render(write_routine(AWKWARD_ROUTINE), out, engine="fake")
    write_mp3_tags(out, result.plan, Metadata(result.plan.title, comment="pace 1.0 — ünï"), chapters="steps")
    tags = ID3(str(out))
    assert str(tags["TIT2"]) == "Älteste Übung — long titles"
    titles = [str(tags[f"CHAP:{cid}"].sub_frames["TIT2"]) for cid in tags["CTOC:toc"].child_element_ids]
    assert titles == [m.title for m in step_chapters(result.plan)]


def test_refuses_to_tag_other_formats(write_routine, fake_engine, tmp_path):
    out = tmp_path / "session.wav"
    result = render(write_routine(SMALL_ROUTINE), out, engine="fake")
    before = out.read_bytes()
    with pytest.raises(ValueError, match="not an MP3"):
        write_mp3_tags(out, result.plan, Metadata(result.plan.title))
    assert out.read_bytes() == before


def test_cover_png_is_valid_and_deterministic():
    png = cover_png("Morning sculpt", "Forehead Cheeks")
    assert png == cover_png("Morning sculpt", "Forehead Cheeks")
    assert png != cover_png("Evening sculpt", "Forehead Cheeks")
    width, height, pixels = read_png(png)
    assert (width, height) == (600, 600)
    assert len(pixels) == height * (1 + width * 3)
    assert all(pixels[row * (1 + width * 3)] <= 4 for row in range(height))  # valid filter types
    width, height, _ = read_png(cover_png("x", "", size=64))
    assert (width, height) == (64, 64)


def test_load_cover(tmp_path):
    good = tmp_path / "c.png"
    good.write_bytes(cover_png("t", "", size=32))
    assert load_cover(good).startswith(b"\x89PNG")
    bad = tmp_path / "c.gif"
    bad.write_bytes(b"GIF89a....")
    with pytest.raises(UsageError, match="PNG or JPEG"):
        load_cover(bad)
    with pytest.raises(UsageError, match="cannot read"):
        load_cover(tmp_path / "missing.png")


def id3v23_frames(data: bytes) -> list[tuple[str, bytes]]:
    """The frames of a leading ID3v2.3 tag in file order, as (frame id, body), walked by hand (not mutagen)."""
    assert data[:3] == b"ID3" and data[3] == 3
    end, pos, frames = id3_size(data), 10, []
    while pos + 10 <= end and data[pos] != 0:  # padding (zeros) follows the last frame
        fid = data[pos : pos + 4].decode("ascii")
        (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])  # v2.3 sizes are plain 32-bit, not synchsafe
        frames.append((fid, data[pos + 10 : pos + 10 + size]))
        pos += 10 + size
    return frames


@pytest.mark.parametrize("mode", ["sections", "steps"])
def test_chapters_are_written_in_time_order(session, mode):
    """CHAP frames sit in the file in time order (players that read them in file order list them right),
    after the CTOC, whose children are in time order too."""
    path, plan, _ = session
    write_mp3_tags(path, plan, Metadata(plan.title, cover_png=cover_png(plan.title, "")), chapters=mode)
    expected = chapters_for(plan, mode)
    assert len(expected) >= 4

    frames = id3v23_frames(path.read_bytes())
    ids = [fid for fid, _ in frames]
    chap_bodies = [body for fid, body in frames if fid == "CHAP"]
    starts = [struct.unpack(">I", body[body.index(b"\0") + 1 :][:4])[0] for body in chap_bodies]
    assert starts == [ms(c.start_s) for c in expected]
    assert ids.index("CTOC") < ids.index("CHAP")
    assert ids[-1] == "APIC"

    tags = ID3(str(path))  # mutagen keeps the frames in the order it read them
    chaps = tags.getall("CHAP")
    assert [c.start_time for c in chaps] == [ms(c.start_s) for c in expected]
    assert [str(c.sub_frames["TIT2"]) for c in chaps] == [c.title for c in expected]
    (toc,) = tags.getall("CTOC")
    assert toc.child_element_ids == [c.element_id for c in chaps]
    assert [tags[f"CHAP:{cid}"].start_time for cid in toc.child_element_ids] == sorted(c.start_time for c in chaps)


@requires_ffmpeg
@pytest.mark.parametrize("mode", ["sections", "steps"])
def test_ffprobe_sees_the_chapters(session, mode):
    path, plan, _ = session
    write_mp3_tags(path, plan, Metadata(plan.title), chapters=mode)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_chapters", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(probe.stdout)["chapters"]
    expected = chapters_for(plan, mode)
    assert [c["tags"]["title"] for c in found] == [c.title for c in expected]
    assert [float(c[key]) for c in found for key in ("start_time", "end_time")] == pytest.approx(
        [ms(t) / 1000 for c in expected for t in (c.start_s, c.end_s)], abs=1e-3
    )
