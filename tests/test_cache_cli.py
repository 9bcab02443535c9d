"""`voiceguide cache`, `cache prune --max-size` and `cache clear`: output, exit codes, size parsing."""

from __future__ import annotations

import pytest

import voiceguide
from voiceguide.cache_cli import parse_size
from voiceguide.errors import UsageError

from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke


@pytest.fixture
def rendered(write_routine, fake_engine, tmp_path, isolated_cache, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    (models / "voice.onnx").write_bytes(b"m" * 2_500_000)
    monkeypatch.setenv("VOICEGUIDE_MODELS_DIR", str(models))
    voiceguide.render(write_routine(SMALL_ROUTINE), tmp_path / "s.wav", engine="fake")
    return isolated_cache, models


def test_cache_shows_where_it_is_and_how_big(rendered):
    cache, models = rendered
    result = invoke("cache")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert str(cache) in lines[0]
    clips = next(line for line in lines if line.strip().startswith("clips"))
    assert " clips " in clips and "kB" in clips
    assert "0 tracks" in next(line for line in lines if "music loops" in line)  # the routine has no music
    model_line = next(line for line in lines if line.strip().startswith("models"))
    assert "1 file" in model_line and "2.5 MB" in model_line and str(models) in model_line
    assert "of at most 1024 MB" in result.output


def test_prune_to_a_size_then_clear(rendered):
    cache, models = rendered
    result = invoke("cache", "prune", "--max-size", "2.5MB")
    assert result.exit_code == 0, result.output
    assert "removed" in result.output and (models / "voice.onnx").exists()  # clips first
    assert not list(cache.glob("??/*.wav"))
    result = invoke("cache", "clear")
    assert result.exit_code == 0, result.output
    assert not (models / "voice.onnx").exists()
    assert "0 B" in invoke("cache").output.splitlines()[-1]


def test_clear_and_prune_of_a_cache_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "nothing"))
    for args in (("cache", "clear"), ("cache", "prune", "--max-size", "1GB")):
        result = invoke(*args)
        assert result.exit_code == 0 and "empty" in result.output
    assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize("text, expected", [
    ("500MB", 500_000_000), ("500 mb", 500_000_000), ("1.5GB", 1_500_000_000), ("2G", 2_000_000_000),
    ("0", 0), ("700kB", 700_000), ("1MiB", 1 << 20), ("12345", 12345),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text, says", [
    ("lots", "is not a size"), ("-5MB", "is not a size"), ("5XB", "unknown unit 'XB'"), ("", "is not a size"),
    ("MB", "is not a size"),
])
def test_bad_sizes_say_what_to_give(text, says):
    with pytest.raises(UsageError, match=says):
        parse_size(text)


def test_a_bad_size_exits_2_with_the_message(isolated_cache):
    result = invoke("cache", "prune", "--max-size", "half")
    assert_clean_failure(result, 2)
    assert "--max-size 'half' is not a size" in result.output and "500MB" in result.output


def test_prune_needs_a_size(isolated_cache):
    result = invoke("cache", "prune")
    assert result.exit_code == 2 and "--max-size" in result.output
