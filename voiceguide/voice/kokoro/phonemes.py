"""Text -> Kokoro phoneme pieces: the language's front end, then sentences cut to what one model call takes."""

from __future__ import annotations

import re

# The model takes 512 tokens with the two boundary tokens; its voice packs have a style row per length up to 510.
MAX_TOKENS = 510
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def primary(language: str | None) -> str:
    return re.split(r"[-_]", language or "en")[0].lower()


def front_end(language: str):
    """The phonemiser for a language: Korean and Japanese their own; everything else is read as English."""
    code = primary(language)
    if code == "ko":
        from .hangul import to_phonemes
    elif code == "ja":
        from .japanese import to_phonemes
    else:
        from .english import to_phonemes
    return to_phonemes


def keep_known(phonemes: str, vocabulary: dict[str, int]) -> str:
    """Only symbols the model has a token for (an unknown one would be an error, or noise)."""
    return "".join(c for c in phonemes if c in vocabulary)


def _cut(piece: str, limit: int) -> list[str]:
    """A piece longer than `limit`: at clause ends, then at spaces, then anywhere."""
    if len(piece) <= limit:
        return [piece]
    for pattern in (_CLAUSE_END, re.compile(r"\s+")):
        parts = pattern.split(piece)
        if len(parts) > 1:
            out, current = [], ""
            for part in parts:
                joined = f"{current} {part}" if current else part
                if len(joined) <= limit:
                    current = joined
                    continue
                if current:
                    out.append(current)
                current = part
            out.append(current)
            return [p for part in out for p in _cut(part, limit)]
    return [piece[i : i + limit] for i in range(0, len(piece), limit)]


def sentences(phonemes: str, limit: int = MAX_TOKENS) -> list[str]:
    """Phonemes as sentences, each within one model call (one symbol is one token)."""
    pieces = []
    for sentence in _SENTENCE_END.split(phonemes.strip()):
        pieces += [p.strip() for p in _cut(sentence.strip(), limit) if p.strip()]
    return pieces


def phoneme_sentences(text: str, language: str, vocabulary: dict[str, int]) -> list[str]:
    return sentences(keep_known(front_end(language)(text), vocabulary))
