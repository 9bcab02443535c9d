"""Help text that agrees with behaviour: which formats an option applies to, every option explained."""

from __future__ import annotations

import pytest
import soundfile

from voiceguide.cli import cli
from voiceguide.export.formats import ENCODERS
from voiceguide.export.formats import TAGGED_FORMATS

from .conftest import invoke

NAMES = {".mp3": "MP3", ".m4a": "M4A", ".flac": "FLAC", ".ogg": "Ogg", ".opus": "Opus"}


def option(command: str, name: str):
    return next(p for p in cli.commands[command].params if name in p.opts)


@pytest.mark.parametrize("name", ["--chapters", "--cover", "--artist"])
def test_tag_options_name_every_tagged_format(name):
    help_text = option("render", name).help
    assert "MP3 only" not in help_text and "for the MP3" not in help_text
    for suffix in TAGGED_FORMATS:
        assert NAMES[suffix] in help_text, (name, suffix)


def test_bitrate_help_names_the_lossy_formats():
    help_text = option("render", "--bitrate").help
    assert not help_text.startswith("MP3 bitrate")
    for suffix in (".mp3", ".m4a", ".ogg", ".opus"):
        assert suffix in help_text


def test_every_option_of_every_command_has_help():
    for name, command in cli.commands.items():
        for param in command.params:
            if param.param_type_name == "option" and "--help" not in param.opts:
                assert param.help, f"{name} {param.opts[0]} has no help"


def test_say_help_lists_every_format_it_writes(fake_engine, tmp_path):
    help_text = option("say", "--output").help
    for suffix in ENCODERS:
        assert suffix in help_text, suffix
        out = tmp_path / f"hello{suffix}"
        result = invoke("say", "Hello there.", "-o", out, "--engine", "fake")
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
        if suffix != ".m4a":
            assert soundfile.info(str(out)).duration > 0.5
