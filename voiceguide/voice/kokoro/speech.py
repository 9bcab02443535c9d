"""Kokoro-82M on onnxruntime: phoneme sentences -> one clip (runs inside a worker process)."""

from __future__ import annotations

import numpy as np

from ..clips import trim_silence
from .model import SAMPLE_RATE, vocabulary, voices_file
from .phonemes import MAX_TOKENS, phoneme_sentences

# One gain for the whole clip, with headroom for the resampler and filters downstream (as Piper's worker).
PEAK = 0.89


class Kokoro:
    """One loaded model and its voice packs."""

    def __init__(self, model: str, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Several workers share the cores: each keeps to its share instead of every one spinning on all of them.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
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
        """The text's sentences spoken one model call each, silence-trimmed, joined with `pause_s` between them."""
        gap = np.zeros(int(round(pause_s * SAMPLE_RATE)), dtype=np.float32)
        parts: list[np.ndarray] = []
        for phonemes in phoneme_sentences(text, language, self.vocabulary):
            audio = trim_silence(self.sentence(phonemes, voice, speed), SAMPLE_RATE)
            if audio.size:
                parts += [gap, audio] if parts else [audio]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(parts)
        peak = float(np.max(np.abs(audio)))
        if peak > 1e-6:
            audio = audio * (PEAK * volume / peak)
        return audio
