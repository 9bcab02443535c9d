"""English text -> Kokoro phonemes: espeak-ng's IPA (en-us), rewritten into the symbols Kokoro was trained on.

espeak-ng comes from the espeakng-loader wheel, loaded by its path with its own data, so a system espeak-ng
changes nothing. It is called in-process through ctypes (espeak_TextToPhonemes), one clause at a time; the
clause punctuation, which espeak does not return, is put back so the model pauses and intones as written.
"""

from __future__ import annotations

import ctypes
import re
import threading

# espeak_TextToPhonemes' phonememode: bit 1 IPA; bit 7 with a tie character in bits 8-23, so multi-letter
# phonemes arrive joined ("a^ɪ") and can be told from two phonemes side by side.
_TIE = "^"
_IPA_WITH_TIES = 0x02 | 0x80 | (ord(_TIE) << 8)
_CHARS_UTF8 = 1
_SYNCHRONOUS = 0x02
# espeak IPA -> Kokoro (misaki's US English symbols: one letter for each diphthong and affricate, no length marks).
# Longest first, so "e^ɪ" is replaced before "e".
_TO_KOKORO = sorted(
    {
        "ʔˌn\u0329": "tᵊn", "ʔn\u0329": "tᵊn", "ʔn": "tᵊn", "ʔ": "t",
        "a^ɪ": "I", "a^ʊ": "W", "e^ɪ": "A", "e": "A", "o^ʊ": "O", "ɔ^ɪ": "Y", "ə^ʊ": "O",
        "d^ʒ": "ʤ", "t^ʃ": "ʧ",
        "r": "ɹ", "x": "k", "ç": "k", "ɬ": "l", "ɐ": "ə", "ə^l": "ᵊl",
        "ʲo": "jo", "ʲə": "jə", "ʲ": "",
        "ɚ": "əɹ", "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ", "ɪə": "iə", "ː": "",
        _TIE: "",
    }.items(),
    key=lambda item: -len(item[0]),
)
_CLAUSE = re.compile(r"([^,;:.!?…]+)([,;:.!?…]*)")
_lock = threading.Lock()
_library = None


def _load():
    global _library
    if _library is None:
        import espeakng_loader

        library = ctypes.CDLL(espeakng_loader.get_library_path())
        library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        library.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        library.espeak_TextToPhonemes.restype = ctypes.c_char_p
        if library.espeak_Initialize(_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0) <= 0:
            raise RuntimeError("espeak-ng (from espeakng-loader) could not be initialised")
        if library.espeak_SetVoiceByName(b"en-us") != 0:
            raise RuntimeError("espeak-ng has no en-us voice")
        _library = library
    return _library


def espeak_ipa(text: str) -> str:
    """espeak-ng's IPA for `text` (every clause, joined by spaces), with ties."""
    with _lock:
        library = _load()
        data = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(data))
        out = []
        while pointer.value:
            phonemes = library.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, _IPA_WITH_TIES)
            if phonemes:
                out.append(phonemes.decode("utf-8", "replace").strip())
        return " ".join(p for p in out if p)


def to_kokoro(ipa: str) -> str:
    for before, after in _TO_KOKORO:
        ipa = ipa.replace(before, after)
    return ipa


def to_phonemes(text: str) -> str:
    """English text -> Kokoro phonemes, clause by clause with the clause's punctuation kept."""
    out = []
    for words, marks in _CLAUSE.findall(text.replace("\n", " ")):
        if not words.strip():
            if marks and out:
                out[-1] += marks[0]
            continue
        phonemes = to_kokoro(espeak_ipa(words.strip()))
        if phonemes:
            mark = "…" if marks.startswith("..") else marks[:1]
            out.append(phonemes + mark)
    return " ".join(out).strip()
