"""Korean text -> Kokoro phonemes: the standard pronunciation rules (표준 발음법) applied to Hangul syllables.

Written from the rules in the project's korean-pronunciation notes. Each word (a space-separated eojeol) is
taken apart into initial, vowel and final letters; the rules rewrite the letters at each syllable boundary in
the order the standard gives them (liaison, palatalisation, aspiration, ㅎ weakening, neutralisation,
nasalisation, lateralisation, tensification); then every letter becomes IPA. Digits and Latin letters are
turned into Hangul words first (korean_numbers), and only symbols of Kokoro's vocabulary come out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .korean_numbers import spell_out

FIRST, LAST = 0xAC00, 0xD7A3
INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
VOWELS = ("ㅏ", "ㅐ", "ㅑ", "ㅒ", "ㅓ", "ㅔ", "ㅕ", "ㅖ", "ㅗ", "ㅘ", "ㅙ", "ㅚ", "ㅛ", "ㅜ", "ㅝ", "ㅞ", "ㅟ", "ㅠ", "ㅡ", "ㅢ", "ㅣ")
FINALS = ("", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ", "ㄿ", "ㅀ", "ㅁ", "ㅂ", "ㅄ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ")

VOWEL_IPA = {
    "ㅏ": "a", "ㅐ": "ɛ", "ㅑ": "ja", "ㅒ": "jɛ", "ㅓ": "ʌ", "ㅔ": "e", "ㅕ": "jʌ", "ㅖ": "je", "ㅗ": "o", "ㅘ": "wa",
    "ㅙ": "wɛ", "ㅚ": "we", "ㅛ": "jo", "ㅜ": "u", "ㅝ": "wʌ", "ㅞ": "we", "ㅟ": "wi", "ㅠ": "ju", "ㅡ": "ɯ",
    "ㅢ": "ɯi", "ㅣ": "i",
}
# Kokoro's vocabulary has the affricates as single symbols (ʨ ʥ, as its Japanese voices were trained with them)
# and no separate ʑ. Tense consonants are written plain: doubled or glottal spellings were understood no better.
INITIAL_IPA = {
    "ㄱ": "k", "ㄲ": "k", "ㄴ": "n", "ㄷ": "t", "ㄸ": "t", "ㄹ": "ɾ", "ㅁ": "m", "ㅂ": "p", "ㅃ": "p", "ㅅ": "s",
    "ㅆ": "s", "ㅇ": "", "ㅈ": "ʨ", "ㅉ": "ʨ", "ㅊ": "ʨʰ", "ㅋ": "kʰ", "ㅌ": "tʰ", "ㅍ": "pʰ", "ㅎ": "h",
}
# Lenis stops voice between voiced sounds inside a word (not across words: that was understood worse).
VOICED = {"ㄱ": "ɡ", "ㄷ": "d", "ㅂ": "b", "ㅈ": "ʥ"}
# Final letters as the seven sounds that can end a syllable (neutralisation), by class.
NEUTRAL = {
    "ㄱ": "k", "ㄲ": "k", "ㅋ": "k", "ㄳ": "k", "ㄺ": "k",
    "ㄷ": "t", "ㅅ": "t", "ㅆ": "t", "ㅈ": "t", "ㅊ": "t", "ㅌ": "t", "ㅎ": "t",
    "ㅂ": "p", "ㅍ": "p", "ㅄ": "p", "ㄿ": "p",
    "ㄴ": "n", "ㄵ": "n", "ㄶ": "n",
    "ㄹ": "l", "ㄼ": "l", "ㄽ": "l", "ㄾ": "l", "ㅀ": "l",
    "ㅁ": "m", "ㄻ": "m",
    "ㅇ": "ŋ",
}
FINAL_IPA = {"k": "k", "t": "t", "p": "p", "n": "n", "l": "l", "m": "m", "ŋ": "ŋ"}
# A double final keeps its first letter and gives the second to a following vowel (읽어 -> 일거).
SPLIT = {"ㄳ": ("ㄱ", "ㅆ"), "ㄵ": ("ㄴ", "ㅈ"), "ㄺ": ("ㄹ", "ㄱ"), "ㄻ": ("ㄹ", "ㅁ"), "ㄼ": ("ㄹ", "ㅂ"), "ㄽ": ("ㄹ", "ㅆ"),
         "ㄾ": ("ㄹ", "ㅌ"), "ㄿ": ("ㄹ", "ㅍ"), "ㅄ": ("ㅂ", "ㅆ")}
ASPIRATED = {"ㄱ": "ㅋ", "ㄷ": "ㅌ", "ㅂ": "ㅍ", "ㅈ": "ㅊ"}
TENSE = {"ㄱ": "ㄲ", "ㄷ": "ㄸ", "ㅂ": "ㅃ", "ㅅ": "ㅆ", "ㅈ": "ㅉ"}
NASAL = {"k": "ŋ", "t": "n", "p": "m"}
Y_VOWELS = {"ㅑ": "ㅏ", "ㅒ": "ㅐ", "ㅕ": "ㅓ", "ㅖ": "ㅔ", "ㅛ": "ㅗ", "ㅠ": "ㅜ"}
# Stems whose ㄼ is read p, not l (밟다 -> 밥따); for every other word ㄼ is l (넓다 -> 널따).
P_STEMS = ("밟",)


@dataclass
class Syllable:
    initial: str  # a letter of INITIALS ("ㅇ": none)
    vowel: str
    final: str  # a letter of FINALS ("" when none); after neutralisation, a sound of FINAL_IPA
    neutral: bool = False  # final already reduced to one of the seven sounds
    written: str = ""  # the final as written, kept for rules that depend on it after neutralisation


def is_hangul(char: str) -> bool:
    return FIRST <= ord(char) <= LAST


def decompose(char: str) -> Syllable:
    """A precomposed syllable (가 .. 힣) as its three letters: 0xAC00 + (initial * 21 + vowel) * 28 + final."""
    index = ord(char) - FIRST
    return Syllable(INITIALS[index // 588], VOWELS[index // 28 % 21], FINALS[index % 28])


def _liaison(a: Syllable, b: Syllable) -> None:
    """Rules 1-2: a final moves to a following vowel; final ㄷ ㅌ before 이 become ㅈ ㅊ; ㅎ before a vowel drops."""
    final = a.final
    if b.initial != "ㅇ" or not final or final == "ㅇ":
        return
    if final == "ㅎ":
        a.final = ""
    elif final in ("ㄶ", "ㅀ"):
        a.final, b.initial = "", "ㄴ" if final == "ㄶ" else "ㄹ"
    elif final in SPLIT:
        a.final, b.initial = SPLIT[final]
    else:
        a.final, b.initial = "", final
    if b.vowel == "ㅣ" and b.initial in ("ㄷ", "ㅌ"):
        b.initial = "ㅈ" if b.initial == "ㄷ" else "ㅊ"


def _aspiration(a: Syllable, b: Syllable) -> None:
    """Rule 3 (and ㅎ's other meetings): ㅎ with ㄱ ㄷ ㅂ ㅈ makes ㅋ ㅌ ㅍ ㅊ, in either order."""
    if a.final in ("ㅎ", "ㄶ", "ㅀ"):
        rest = {"ㅎ": "", "ㄶ": "ㄴ", "ㅀ": "ㄹ"}[a.final]
        if b.initial in ASPIRATED:
            a.final, b.initial = rest, ASPIRATED[b.initial]
        elif b.initial == "ㅅ":  # 좋습니다 -> 조씀니다
            a.final, b.initial = rest, "ㅆ"
        elif b.initial == "ㄴ":  # 놓는 -> 논는; 않는 -> 안는
            a.final = rest or "ㄴ"
        return
    if b.initial != "ㅎ" or not a.final:
        return
    first, _ = SPLIT.get(a.final, (a.final, ""))
    if a.final in ("ㄺ", "ㄼ"):  # 밝히다 -> 발키다: the ㄹ stays, the stop joins the ㅎ
        a.final, b.initial = "ㄹ", ASPIRATED[SPLIT[a.final][1]]
        return
    sound = NEUTRAL.get(first)
    if sound in ("k", "t", "p"):
        if b.vowel == "ㅣ" and first in ("ㄷ", "ㅌ"):  # 굳히다 -> 구치다 (palatalised as well)
            b.initial = "ㅊ"
        elif first == "ㅈ":  # 맞히다 -> 마치다
            b.initial = "ㅊ"
        else:
            b.initial = {"k": "ㅋ", "t": "ㅌ", "p": "ㅍ"}[sound]
        a.final = "" if a.final not in SPLIT else SPLIT[a.final][0]


def _h_weakening(a: Syllable, b: Syllable) -> None:
    """Rule 4: ㅎ after ㄴ ㄹ ㅁ ㅇ is nearly silent (천천히 -> 천처니, 열심히 -> 열시미, 영향 -> 영양)."""
    if b.initial != "ㅎ":
        return
    if a.final in ("ㄴ", "ㄹ", "ㅁ"):
        a.final, b.initial = "", a.final
    elif a.final == "ㅇ":
        b.initial = "ㅇ"


def _neutralise(a: Syllable, b: Syllable | None) -> None:
    """Rule 5: a final is one of k t p n l m ŋ (ㄺ before ㄱ is l: 맑게 -> 말께; ㄼ is l but p in 밟-)."""
    if not a.final or a.neutral:
        return
    if a.final == "ㄺ" and b is not None and b.initial == "ㄱ":
        sound = "l"
    elif a.final == "ㄼ" and _compose(a) in P_STEMS:
        sound = "p"
    else:
        sound = NEUTRAL[a.final]
    a.written, a.final, a.neutral = a.final, sound, True


def _nasalise(a: Syllable, b: Syllable) -> None:
    """Rule 6: k t p before ㄴ ㅁ become ŋ n m; ㄹ after any final but ㄴ ㄹ becomes ㄴ (심리 -> 심니, 국립 -> 궁닙)."""
    if b.initial == "ㄹ" and a.final in ("m", "ŋ", "k", "t", "p"):
        b.initial = "ㄴ"
    if a.final in NASAL and b.initial in ("ㄴ", "ㅁ"):
        a.final = NASAL[a.final]


def _lateralise(a: Syllable, b: Syllable) -> None:
    """Rule 7: ㄴ next to ㄹ becomes ㄹ (신라 -> 실라, 칼날 -> 칼랄)."""
    if a.final == "n" and b.initial == "ㄹ":
        a.final = "l"
    elif a.final == "l" and b.initial == "ㄴ":
        b.initial = "ㄹ"


def _tensify(a: Syllable, b: Syllable) -> None:
    """Rule 8: a lenis initial after k t p is tense (학교 -> 학꾜, 듣고 -> 듣꼬, 입고 -> 입꼬), and after the
    stem finals ㄼ ㄾ (넓게 -> 널께)."""
    if (a.final in ("k", "t", "p") or a.written in ("ㄺ", "ㄼ", "ㄾ")) and b.initial in TENSE:
        b.initial = TENSE[b.initial]


def _compose(s: Syllable) -> str:
    final = s.final if not s.neutral else ""
    return chr(FIRST + (INITIALS.index(s.initial) * 21 + VOWELS.index(s.vowel)) * 28 + FINALS.index(final))


def apply_rules(syllables: list[Syllable]) -> list[Syllable]:
    """The pronunciation rules across each boundary of one word, in the standard's order; rewrites in place."""
    pairs = list(zip(syllables, syllables[1:]))
    for step in (_liaison, _aspiration, _h_weakening):
        for a, b in pairs:
            step(a, b)
    for a, b in zip(syllables, syllables[1:] + [None]):
        _neutralise(a, b)
    for step in (_nasalise, _lateralise, _tensify):
        for a, b in pairs:
            step(a, b)
    return syllables


_SOUND_LETTER = {"k": "ㄱ", "t": "ㄷ", "p": "ㅂ", "n": "ㄴ", "l": "ㄹ", "m": "ㅁ", "ŋ": "ㅇ"}


def respell(word: str) -> str:
    """The word as it is said, written in Hangul (끝을 -> 끄틀, 국물 -> 궁물): the rules' result, readable."""
    out = []
    for s in apply_rules([decompose(c) for c in word]):
        final = _SOUND_LETTER[s.final] if s.neutral else s.final
        out.append(chr(FIRST + (INITIALS.index(s.initial) * 21 + VOWELS.index(s.vowel)) * 28 + FINALS.index(final)))
    return "".join(out)


def _vowel_ipa(s: Syllable, position: int, last: bool) -> str:
    if s.vowel == "ㅢ":
        if position == 0 and s.initial == "ㅇ":
            return "ɯi"  # 의사
        if s.initial == "ㅇ" and last:
            return "e"  # the possessive particle: 어깨의 -> 어깨에
        return "i"  # 희망 -> 히망, 회의 -> 회이
    if s.initial in ("ㅈ", "ㅉ", "ㅊ") and s.vowel in Y_VOWELS:  # 가져 -> 가저: the affricate is already palatal
        return VOWEL_IPA[Y_VOWELS[s.vowel]]
    return VOWEL_IPA[s.vowel]


def word_ipa(word: str) -> str:
    """One word of Hangul syllables (no spaces) -> IPA in Kokoro's symbols."""
    syllables = apply_rules([decompose(c) for c in word])
    out = []
    previous_voiced = False  # the sound before this initial: a vowel or a voiced final, inside this word
    for i, s in enumerate(syllables):
        vowel = _vowel_ipa(s, i, i == len(syllables) - 1)
        initial = s.initial
        if previous_voiced and initial in VOICED:
            sound = VOICED[initial]
        elif initial == "ㄹ" and i > 0 and syllables[i - 1].final == "l":
            sound = "l"  # ㄹㄹ is a long l: 실라, 빨리
        elif initial in ("ㅅ", "ㅆ") and vowel[0] in "ij" and not vowel.startswith("ɯ"):
            sound = "ɕ"  # 시 ɕi, 셔 ɕʌ
        else:
            sound = INITIAL_IPA[initial]
        if sound == "ɕ" and vowel.startswith("j"):
            vowel = vowel[1:]
        out.append(sound + vowel)
        if s.final:
            out.append(FINAL_IPA[s.final])
        previous_voiced = s.final in ("", "n", "l", "m", "ŋ")
    return "".join(out)


# Punctuation the model knows (a pause or a rise); everything else non-Hangul is dropped or spaced.
PUNCTUATION = {",": ",", ".": ".", "!": "!", "?": "?", "…": "…", ";": ",", ":": ",", "、": ",", "。": ".",
               "~": ",", "·": ",", "-": " ", "—": ",", "–": ","}
_ELLIPSIS = re.compile(r"\.{2,}")


def to_phonemes(text: str) -> str:
    """Korean text -> a phoneme string for Kokoro (numbers and Latin letters spelled out in Hangul first)."""
    text = _ELLIPSIS.sub("…", spell_out(text))
    out: list[str] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            out.append(word_ipa("".join(word)))
            word.clear()

    for char in text:
        if is_hangul(char):
            word.append(char)
            continue
        flush()
        if char in PUNCTUATION:
            mark = PUNCTUATION[char]
            while out and out[-1] == " ":
                out.pop()
            out.append(mark)
            if mark != " ":
                out.append(" ")
        elif char.isspace() and out and out[-1] != " ":
            out.append(" ")
    flush()
    return re.sub(r" {2,}", " ", "".join(out)).strip()
