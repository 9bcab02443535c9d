"""Digits and Latin letters in Korean text, written out as Hangul words (the front end reads only Hangul).

A line that is only a number is a spoken count, said with native numbers (하나 둘 셋, as the plan's Korean
counts are). A number before a counter that takes native numbers (번, 방울, 개, ...) uses their short forms
(세 번, 두 방울); every other number is Sino-Korean (오 초, 십 분, 삼십).
"""

from __future__ import annotations

import re

SINO_DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
NATIVE_ONES = ("", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉")
NATIVE_TENS = ("", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔")
# Before a counter the first four and twenty shorten: 한 번, 두 방울, 세 번, 네 개, 스무 번.
SHORT = {"하나": "한", "둘": "두", "셋": "세", "넷": "네", "스물": "스무"}
# Counters said with native numbers; the rest (초, 분, 회, 도, 퍼센트 ...) take Sino-Korean ones.
NATIVE_COUNTERS = ("번째", "번", "방울", "개", "가지", "명", "살", "시간", "바퀴", "군데", "곳", "세트", "호흡")
LETTERS = {
    "a": "에이", "b": "비", "c": "씨", "d": "디", "e": "이", "f": "에프", "g": "지", "h": "에이치", "i": "아이",
    "j": "제이", "k": "케이", "l": "엘", "m": "엠", "n": "엔", "o": "오", "p": "피", "q": "큐", "r": "알", "s": "에스",
    "t": "티", "u": "유", "v": "브이", "w": "더블유", "x": "엑스", "y": "와이", "z": "제트",
}
_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(\s*)(%|" + "|".join(NATIVE_COUNTERS) + r")?(?!월)")
_ONLY_NUMBER = re.compile(r"^\s*(\d+)\s*[.!?…]*\s*$")
_LATIN = re.compile(r"[A-Za-z]+")


def sino(n: int) -> str:
    """Sino-Korean: 5 -> 오, 15 -> 십오, 230 -> 이백삼십, 10000 -> 만 (a leading 일 is dropped before 십 백 천 만)."""
    if n == 0:
        return "영"
    words = []
    for unit, name in ((10**8, "억"), (10**4, "만"), (1, "")):
        group, n = divmod(n, unit)
        if not group:
            continue
        part = ""
        for power, place in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
            digit, group = divmod(group, power)
            if digit:
                part += ("" if digit == 1 and place else SINO_DIGITS[digit]) + place
        words.append("" if part == "일" and name == "만" else part)
        words[-1] += name
    return "".join(words)


def native(n: int, before_counter: bool = False) -> str:
    """Native Korean for 1-99 (3 -> 셋, 12 -> 열둘; before a counter 세, 열두); other numbers Sino-Korean."""
    if not 1 <= n <= 99:
        return sino(n)
    tens, ones = divmod(n, 10)
    word = NATIVE_TENS[tens] + NATIVE_ONES[ones]
    if before_counter:
        last = NATIVE_ONES[ones] or NATIVE_TENS[tens]
        if last in SHORT:
            word = word[: -len(last)] + SHORT[last]
    return word


def _number(match: re.Match) -> str:
    whole, fraction, space, counter = match.group(1), match.group(2), match.group(3), match.group(4) or ""
    n = int(whole.replace(",", ""))
    if counter == "%":
        return sino(n) + ("점" + "".join(SINO_DIGITS[int(d)] for d in fraction) if fraction else "") + " 퍼센트"
    if fraction:
        return sino(n) + "점" + "".join(SINO_DIGITS[int(d)] for d in fraction) + space + counter
    if counter == "번째" and n == 1:
        return "첫" + space + counter
    if counter:
        return native(n, before_counter=True) + (space or " ") + counter
    return sino(n) + space


def spell_out(text: str) -> str:
    """Digits and Latin letters as Hangul words; the rest of the text unchanged."""
    only = _ONLY_NUMBER.match(text)
    if only:
        return text.replace(only.group(1), native(int(only.group(1))), 1)
    text = _NUMBER.sub(_number, text)
    return _LATIN.sub(lambda m: " ".join(LETTERS[c] for c in m.group(0).lower()), text)
