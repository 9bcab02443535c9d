"""Kokoro-82M on onnxruntime: phoneme sentences -> one clip (runs inside a worker process)."""

from __future__ import annotations

import numpy as np

from ..worker_loop import join_sentences, onnx_session
from .model import SAMPLE_RATE, vocabulary, voices_file
from .phonemes import MAX_TOKENS, phoneme_sentences


class Kokoro:
    """One loaded model and its voice packs."""

    def __init__(self, model: str, threads: int = 1):
        self.session = onnx_session(model, threads)
        self.vocabulary = vocabulary()
        with np.load(voices_file()) as packs:
            self.voices = {name: np.asarray(packs[name], dtype=np.float32) for name in packs.files}

    def sentence(self, phonemes: str, voice: str, speed: float) -> np.ndarray:
        ids = [self.vocabulary[c] for c in phonemes if c in self.vocabulary][:MAX_TOKENS]
        if not ids:
            return np.zeros(0, dtype=np.float32)
        pack = self.voices[voice]
        # A voice pack holds one style per input length: the row for this sentence's token count.
        style = pack[min(len(ids), len(pack) - 1)].reshape(1, -1)
        audio = self.session.run(None, {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([speed], dtype=np.float32),
        })[0]
        return np.asarray(audio, dtype=np.float32).ravel()

    def speak(self, text: str, language: str, voice: str, speed: float, volume: float, pause_s: float) -> np.ndarray:
        """The text's sentences spoken one model call each, joined into one clip (worker_loop.join_sentences)."""
        sentences = (self.sentence(phonemes, voice, speed) for phonemes in phoneme_sentences(text, language, self.vocabulary))
        return join_sentences(sentences, SAMPLE_RATE, pause_s, volume)
