"""Words said right: respellings applied to the text an engine is given, never to captions or cue sheets.

Two sources, one rule: the built-in lexicon (lexicon.yaml beside this module: the words of our field that the
engines get wrong, some for one engine only) and a routine's own `pronounce: {word: respelling}`, which wins
for the same word and applies with every engine and language. A word matches whole and in any case, never
inside another word ("Chin" is not the start of "Chinese", "4" is not part of "4.5" or "4-7-8"); what is
around it (punctuation, spaces) is kept, so sentences keep their intonation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Mapping

import yaml

# The built-in entries are written for English front ends; a Korean routine's words are left alone.
BUILTIN_LANGUAGE = "en"
# The key in lexicon.yaml for a respelling every engine gets (an engine's own entry replaces it).
EVERY_ENGINE = "all"


@dataclass(frozen=True)
class Entry:
    word: str
    # A line entry replaces a line that is only this word (a spoken count: "5", never the 5 of "5 seconds").
    whole_line: bool
    # engine name (or EVERY_ENGINE) -> respelling; None for an engine means "leave the word as written".
    says: tuple[tuple[str, str | None], ...]

    def for_engine(self, engine: str) -> str | None:
        table = dict(self.says)
        return table[engine] if engine in table else table.get(EVERY_ENGINE)


def _entries(data: object) -> tuple[Entry, ...]:
    """lexicon.yaml's `words:` and `lines:` mappings: word -> a respelling for every engine, or {engine: respelling}."""
    if not isinstance(data, dict) or not isinstance(data.get("words"), dict) or not isinstance(data.get("lines", {}), dict):
        raise ValueError("lexicon.yaml needs a 'words:' mapping (and may have a 'lines:' mapping)")
    out = []
    for section, whole_line in (("words", False), ("lines", True)):
        for word, value in data.get(section, {}).items():
            says = value if isinstance(value, dict) else {EVERY_ENGINE: value}
            if not all(isinstance(v, str) or v is None for v in says.values()):
                raise ValueError(f"lexicon.yaml: the respellings of {word!r} must be text")
            out.append(Entry(str(word), whole_line, tuple((str(k), v) for k, v in says.items())))
    return tuple(out)


@lru_cache(maxsize=1)
def builtin_entries() -> tuple[Entry, ...]:
    text = resources.files(__package__).joinpath("lexicon.yaml").read_text(encoding="utf-8")
    return _entries(yaml.safe_load(text))


def _primary(language: str | None) -> str:
    return re.split(r"[-_]", language or "en")[0].lower()


def table(
    engine: str, language: str | None = "en", pronounce: Mapping[str, str] | None = None, whole_line: bool = False
) -> dict[str, str]:
    """Lower-cased word -> respelling for this engine and language: the built-in entries (English routines
    only), then the routine's own words, which replace a built-in word entry for the same word. With
    `whole_line`, the built-in entries for lines that are only that word."""
    out: dict[str, str] = {}
    if _primary(language) == BUILTIN_LANGUAGE:
        for entry in builtin_entries():
            says = entry.for_engine(engine)
            if says is not None and entry.whole_line == whole_line:
                out[_key(entry.word)] = says
    if not whole_line:
        for word, says in (pronounce or {}).items():
            out[_key(word)] = says
    return out


def _key(word: str) -> str:
    return " ".join(word.split()).lower()


# Whole words: no letter, digit or underscore either side; a number is also not part of a decimal, a time,
# a range or a pattern (4.5, 1:30, 4-7-8, 3/4).
_BEFORE = r"(?<!\w)(?<!\d[-.,:/])"
_AFTER = r"(?![-.,:/]\d)(?!\w)"


@lru_cache(maxsize=64)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so "carrier oil" is taken before "oil"; spaces inside an entry match any run of spaces.
    alternatives = [r"\s+".join(re.escape(part) for part in word.split()) for word in sorted(words, key=len, reverse=True)]
    return re.compile(_BEFORE + "(?:" + "|".join(alternatives) + ")" + _AFTER, re.IGNORECASE)


def respell(text: str, engine: str, language: str | None = "en", pronounce: Mapping[str, str] | None = None) -> str:
    """The text `engine` is given for `text`: every listed word replaced, in one pass (a respelling is never
    respelt again), with a capital kept where the word had one at the start of a sentence or name. A line that
    is one word with a line entry (a count) takes that entry's whole text instead."""
    lines = table(engine, language, whole_line=True)
    alone = _key(text.strip().rstrip(".!,;"))
    if alone in lines and not (pronounce and alone in {_key(w) for w in pronounce}):
        return lines[alone]
    words = table(engine, language, pronounce)
    if not words:
        return text

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        says = words.get(_key(found))
        if says is None:  # a match the regex's case folding finds but casefold() spells otherwise ("İ"): as written
            return found
        if found[:1].isupper() and says[:1].islower():
            return says[:1].upper() + says[1:]
        return says

    return _pattern(tuple(words)).sub(replace, text)
