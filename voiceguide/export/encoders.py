"""Streaming encoders: feed float32 stereo blocks, get a finished file."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

import numpy as np
import soundfile

from . import lametag

DEFAULT_BITRATE_KBPS = 128
# LAME's quality knob: 5 is its "good" default; 2 doubles the encode time for no audible gain on this material.
LAME_QUALITY = 5
# lameenc's encoder scales its input by 0.95 (measured: -0.446 dB on a sine, through both mpg123 and
# ffmpeg); undo it so the MP3 keeps the loudness the mix was levelled to. Peaks stay below full scale
# because the mix bus ends at -1.6 dBFS.
LAMEENC_GAIN_COMPENSATION = np.float32(1 / 0.95)


# libsndfile sets Vorbis and Opus bitrates through one "compression level" from 0 to 1 (soundfile's
# compression_level). Vorbis: level = 1 - quality, and this is the quality whose nominal bitrate is each
# kbit/s at 44.1 kHz stereo (libvorbis's own table, the rate written in the file's header).
VORBIS_QUALITY = {96: 0.2, 112: 0.3, 128: 0.4, 160: 0.5, 192: 0.6, 224: 0.7, 256: 0.8, 320: 0.9}
# Opus: the level maps linearly from 256 kbit/s per channel (0) down to 6 kbit/s per channel (1).
OPUS_KBPS_PER_CHANNEL = (256.0, 6.0)


def vorbis_compression_level(bitrate_kbps: float) -> float:
    rates = sorted(VORBIS_QUALITY)
    return 1.0 - float(np.interp(bitrate_kbps, rates, [VORBIS_QUALITY[r] for r in rates]))


def opus_compression_level(bitrate_kbps: float, channels: int) -> float:
    top, bottom = OPUS_KBPS_PER_CHANNEL
    return min(1.0, max(0.0, (top - bitrate_kbps / channels) / (top - bottom)))


def to_int16(block: np.ndarray) -> np.ndarray:
    """Blocks arrive already clipped to [-1, 1] by the mixer."""
    return np.round(block * np.float32(32767.0)).astype(np.int16)


def new_lame(sample_rate: int, channels: int, bitrate_kbps: int):
    import lameenc

    lame = lameenc.Encoder()
    lame.set_bit_rate(bitrate_kbps)
    lame.set_in_sample_rate(sample_rate)
    # LAME would drop to 32 kHz at low bitrates on its own; the session format is fixed.
    lame.set_out_sample_rate(sample_rate)
    lame.set_channels(channels)
    lame.set_quality(LAME_QUALITY)
    return lame


def lame_pcm(block: np.ndarray) -> bytes:
    return to_int16(block * LAMEENC_GAIN_COMPENSATION).tobytes()


class Encoder:
    def write(self, block: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Encoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Mp3Encoder(Encoder):
    """LAME in-process (lameenc): no ffmpeg needed, and PCM goes in block by block.

    A gapless Info frame is reserved first and filled in on close (see lametag).
    """

    def __init__(self, path: Path, sample_rate: int, channels: int = 2, bitrate_kbps: int = DEFAULT_BITRATE_KBPS):
        self._rate, self._channels, self._bitrate = sample_rate, channels, bitrate_kbps
        self._samples = 0
        self._tag = lametag.supported(bitrate_kbps, sample_rate)
        self._lame = new_lame(sample_rate, channels, bitrate_kbps)
        self._file: BinaryIO = open(path, "w+b")  # noqa: SIM115
        if self._tag:
            self._file.write(bytes(lametag.frame_size(bitrate_kbps, sample_rate)))

    def write(self, block: np.ndarray) -> None:
        self._samples += len(block)
        self._file.write(self._lame.encode(lame_pcm(block)))

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._file.write(self._lame.flush())
            if self._tag:
                start = lametag.frame_size(self._bitrate, self._rate)
                frames, audio_bytes = lametag.count_frames(self._file, start)
                self._file.seek(0)
                self._file.write(lametag.info_frame(self._bitrate, self._rate, self._channels, frames, audio_bytes, self._samples))
        finally:
            self._file.close()


class SoundfileEncoder(Encoder):
    def __init__(
        self, path: Path, sample_rate: int, channels: int = 2, format: str = "WAV", subtype: str = "PCM_16",
        compression_level: float | None = None,
    ):
        self._file = soundfile.SoundFile(
            str(path), "w", sample_rate, channels, format=format, subtype=subtype, compression_level=compression_level
        )

    def write(self, block: np.ndarray) -> None:
        self._file.write(block)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class OpusEncoder(Encoder):
    """Ogg Opus through libsndfile at `bitrate_kbps` (VBR). Opus runs at 48 kHz, so the session is resampled
    on the way (soxr, streamed, so the length and timing are kept)."""

    OPUS_RATE = 48000

    def __init__(self, path: Path, sample_rate: int, channels: int = 2, bitrate_kbps: int = DEFAULT_BITRATE_KBPS, **_):
        import soxr

        self._resampler = soxr.ResampleStream(sample_rate, self.OPUS_RATE, channels, dtype="float32", quality="HQ")
        self._file = soundfile.SoundFile(
            str(path), "w", self.OPUS_RATE, channels, format="OGG", subtype="OPUS",
            compression_level=opus_compression_level(bitrate_kbps, channels),
        )

    def write(self, block: np.ndarray) -> None:
        out = self._resampler.resample_chunk(np.ascontiguousarray(block, dtype=np.float32))
        if len(out):
            self._file.write(out)

    def close(self) -> None:
        if not self._file.closed:
            tail = self._resampler.resample_chunk(np.zeros((0, self._file.channels), dtype=np.float32), last=True)
            if len(tail):
                self._file.write(tail)
            self._file.close()


def encode_blocks(encoder: Encoder, blocks: Iterable[np.ndarray], on_block: Callable[[int], None] | None = None) -> None:
    """Feed blocks to the encoder on a second thread, so mixing the next block overlaps encoding this one.

    LAME releases the GIL while it encodes. The queue is short, so memory stays at a few blocks.
    """
    pending: queue.Queue = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def work() -> None:
        while (block := pending.get()) is not None:
            if failure:
                continue  # drain so the producer never blocks on a dead consumer
            try:
                encoder.write(block)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                failure.append(exc)

    thread = threading.Thread(target=work, name="voiceguide-encoder", daemon=True)
    thread.start()
    try:
        for block in blocks:
            if failure:
                break
            pending.put(block)
            if on_block:
                on_block(len(block))
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]
