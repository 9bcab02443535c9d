"""The output format table: one home for what each suffix is written with and what it can carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceguide.errors import UsageError
from voiceguide.export import check_output_path
from voiceguide.export.formats import FORMATS, TAGGED_FORMATS, bitrate_help, chapters_help, lossless_help, output_format, suffixes
from voiceguide.export.mp3_segments import write_mp3
from voiceguide.export.tags import write_mp3_tags, write_mp4_tags, write_vorbis_tags


def test_each_format_names_its_writers():
    assert output_format("a.MP3").session_writer is write_mp3
    assert [s for s, f in FORMATS.items() if f.session_writer] == [".mp3", ".m4a"]
    assert FORMATS[".mp3"].tag_writer is write_mp3_tags
    assert FORMATS[".m4a"].tag_writer is write_mp4_tags
    for suffix in (".ogg", ".opus", ".flac"):
        assert FORMATS[suffix].tag_writer is write_vorbis_tags
    assert FORMATS[".wav"].tag_writer is None and not FORMATS[".wav"].chapters
    assert TAGGED_FORMATS == (".mp3", ".m4a", ".ogg", ".opus", ".flac")


@pytest.mark.parametrize("name", ["session.aiff", "session", "session.mp3.txt"])
def test_one_message_for_an_unsupported_suffix(name, tmp_path):
    with pytest.raises(UsageError) as direct:
        output_format(Path(name))
    with pytest.raises(UsageError) as checked:
        check_output_path(tmp_path / name, force=False)
    for message in (str(direct.value), str(checked.value)):
        assert "unsupported output format" in message and ".flac, .m4a, .mp3, .ogg, .opus, .wav" in message


def test_help_texts_come_from_the_table():
    assert suffixes() == ".mp3, .m4a, .ogg, .opus, .flac, .wav"
    assert chapters_help() == "MP3, M4A, Ogg, Opus, FLAC; a .wav has none"
    assert bitrate_help() == ".mp3 and .m4a (constant), .ogg and .opus (variable, about this rate)"
    assert lossless_help() == "FLAC and WAV"
