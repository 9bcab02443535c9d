"""What the user typed (`--voice`, `voice:`, a routine's `language:`) -> one of the engine's own voices.

Engines name their voices differently (espeak-ng 1.52: id `gmw/en` with the languages `en-gb` and `en`;
older builds: `en-gb`; macOS: `com.apple.voice.compact.en-GB.Daniel` with `en_GB`), and an engine's
set-voice call often accepts only some of those spellings (espeak-ng 1.52 refuses `en-gb`, which it lists
as a language, not a voice). So nothing here knows any engine's ids: the match is made against the voice
list the engine itself reports, and the engine is then given that voice's id.

Order (case, surrounding spaces and `_` versus `-` never matter):

1. a voice id, then a voice name, exactly;
2. a language tag: the voice that lists it with the best priority (espeak ranks its languages; otherwise a
   voice's first language counts before its later ones), then the one listed first;
3. the same tag as the last part of an id (`en-us` for `gmw/en-us`);
4. the tag without its last subtag, again and again (`de-at` -> `de`, `en-gb-x-foo` -> `en-gb` -> `en`);
5. any voice of the same base language (`fr` finds `fr-fr` where no plain `fr` is listed).

For `--voice` and `voice:` (free text, where a typo must stay an error), steps 4 and 5 only apply to a plain
language or language-region tag (`fr`, `de-AT`, `zh-Hant-TW`); a routine's `language:` always falls back.
"""

from __future__ import annotations

import difflib
import re
from typing import Sequence

from .base import VoiceInfo


def normal(text: str) -> str:
    """The spelling used for comparing: `EN_gb ` -> `en-gb`."""
    return str(text).strip().lower().replace("_", "-")


def _rank(voice: VoiceInfo, index: int) -> int:
    """How strongly a voice claims its index-th language (lower is stronger)."""
    if index < len(voice.priorities):
        return voice.priorities[index]
    return index


def _by_language(tag: str, voices: Sequence[VoiceInfo]) -> VoiceInfo | None:
    best = None
    for order, voice in enumerate(voices):
        for index, language in enumerate(voice.languages):
            if normal(language) == tag:
                score = (_rank(voice, index), order)
                if best is None or score < best[0]:
                    best = (score, voice)
    return best[1] if best else None


def _by_id_tail(tag: str, voices: Sequence[VoiceInfo]) -> VoiceInfo | None:
    for voice in voices:
        if normal(voice.id).rsplit("/", 1)[-1] == tag:
            return voice
    return None


def _by_base_language(base: str, voices: Sequence[VoiceInfo]) -> VoiceInfo | None:
    best = None
    for order, voice in enumerate(voices):
        for index, language in enumerate(voice.languages):
            tag = normal(language)
            if tag.split("-")[0] == base:
                score = (_rank(voice, index), len(tag), order)
                if best is None or score < best[0]:
                    best = (score, voice)
    return best[1] if best else None


# A language, or a language with a region (and a script before it): the tags whose base language may stand in
# for them. Not any tag that parses: `no-such-voice` is a well-formed tag (Norwegian), but a typo as a voice.
_REGIONAL = re.compile(r"[a-z]{2,3}(?:(?:-[a-z]{4})?-(?:[a-z]{2}|[0-9]{3}))?")


def is_language_tag(text: str) -> bool:
    """A language or language-region tag (`en`, `en-GB`, `zh-Hant-TW`), not a typo that merely starts like one
    (`en-uss`)."""
    return _REGIONAL.fullmatch(normal(text)) is not None


def resolve_language(language: str, voices: Sequence[VoiceInfo], fallback: bool = True) -> VoiceInfo | None:
    """The voice for a language tag (steps 2 to 5 above), or None when no voice speaks it.

    Without `fallback`, steps 4 and 5 apply only to a plain language or language-region tag (`de-at`)."""
    tag = normal(language)
    if not tag:
        return None
    found = _by_language(tag, voices) or _by_id_tail(tag, voices)
    if found is not None or not (fallback or _REGIONAL.fullmatch(tag)):
        return found
    parts = tag.split("-")[:-1]
    while parts:
        shorter = "-".join(parts)
        found = _by_language(shorter, voices) or _by_id_tail(shorter, voices)
        if found is not None:
            return found
        parts.pop()
    return _by_base_language(tag.split("-")[0], voices)


def resolve_voice(wanted: str, voices: Sequence[VoiceInfo]) -> VoiceInfo | None:
    """The voice for an id, a name or a language tag, or None when nothing fits (see the module's notes)."""
    key = normal(wanted)
    if not key:
        return None
    for voice in voices:
        if normal(voice.id) == key:
            return voice
    for voice in voices:
        if normal(voice.name) == key:
            return voice
    return resolve_language(key, voices, fallback=False)


# A bare language: `en`, `ko`, `yue`.
_BARE_LANGUAGE = re.compile(r"[a-z]{2,3}")


def resolve_exact(wanted: str, voices: Sequence[VoiceInfo]) -> VoiceInfo | None:
    """A voice that is exactly `wanted`: an id or a name, a language tag a voice lists as such (or the last part
    of its id), or for a bare language (`en`, `ko`) any voice of it; never a stand-in for a regional tag (an
    en-us voice is not en-gb). How engine `auto` tells which engine really has the voice a user typed."""
    key = normal(wanted)
    if not key:
        return None
    for voice in voices:
        # A name's first part too: Piper's voice "joe (medium, bundled)" is joe.
        if key in (normal(voice.id), normal(voice.name), normal(voice.name.split(" (")[0])):
            return voice
    if _BARE_LANGUAGE.fullmatch(key):
        return resolve_language(key, voices)
    return _by_language(key, voices) or _by_id_tail(key, voices)


def close_matches(wanted: str, voices: Sequence[VoiceInfo], extra: Sequence[str] = (), n: int = 3) -> list[str]:
    """Up to n ids, names or languages spelled like `wanted`, for a "did you mean" hint."""
    names: dict[str, str] = {}
    for text in [*(v.id for v in voices), *(v.name for v in voices), *(lang for v in voices for lang in v.languages), *extra]:
        names.setdefault(normal(text), text)
    return [names[m] for m in difflib.get_close_matches(normal(wanted), list(names), n=n, cutoff=0.6)]
