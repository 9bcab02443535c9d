"""AAC in an MP4 (.m4a) container through PyAV, whose wheels bundle ffmpeg: no system ffmpeg is needed.

PyAV is imported only here, and this module only when an .m4a is written, so other formats never load it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from ..plan import Chapter
from .encoders import DEFAULT_BITRATE_KBPS, Encoder

# ffmpeg's "ipod" muxer is its MP4 flavour for .m4a (iTunes brand M4A, iTunes metadata, chapter track).
MUXER = "ipod"
# ffmpeg's native AAC-LC encoder, built into PyAV's wheels (libfdk_aac is not, for licence reasons).
CODEC = "aac"
# Its "fast" coder: 2.6x faster than the "twoloop" coder PyAV's build uses by default (60 s of a session: 4.5 s
# vs 11.7 s on a loaded 2-core machine), which made an .m4a render 3.8x slower than the same .mp3. ffmpeg's AAC
# maintainer made it the default in 2018 because twoloop "at higher bitrates sounds worse than the fast coder ...
# and needs quite a lot more CPU" (ffmpeg commit fcb681ac); our bitrates are 96 to 320 kbit/s.
# Temporal noise shaping and perceptual noise substitution off: together 8-14 % less encoding, and the decoded
# error against the mix the same or lower in every band (measured on four routines at 96 to 320 kbit/s; the
# error before chime onsets, where TNS would matter, unchanged at -81 dBFS). Intensity stereo stays on: without
# it the bits went to the noisy music's highs and soothe's error below 2 kHz rose 3 dB, past the MP3's.
CODER_OPTIONS = {"aac_coder": "fast", "aac_tns": "0", "aac_pns": "0"}
# The AAC encoder takes float samples, and ffmpeg's rate control re-encodes each frame that comes out well
# under its share of the bitrate (up to five times, aacenc.c). The float mix leaves many such frames (pads and
# speech with little above 10 kHz: 106 kbit/s written of 128); the same mix on the 16-bit grid, which LAME,
# WAV and FLAC get, fills the frames at the first try: measured on 120 s of a session, 1.42 s of encoding
# became 0.86 s, and the error against the float mix stays 7 dB below the MP3's (SNR 41.3 dB vs 34.0 dB).
PCM_STEPS = np.float32(32767.0)


def aac_planar(block: np.ndarray) -> np.ndarray:
    """(samples, channels) float -> (channels, samples) float32 on the 16-bit grid: planar float is what the
    encoder takes, so PyAV does no format conversion, only re-framing to 1024."""
    block = np.asarray(block, dtype=np.float32)
    planar = np.empty((block.shape[1], block.shape[0]), dtype=np.float32)
    np.multiply(block.T, PCM_STEPS, out=planar)
    np.rint(planar, out=planar)
    planar *= np.float32(1.0) / PCM_STEPS
    return planar


def _movie_options(sample_rate: int) -> dict[str, str]:
    # The movie time scale is the unit of the edit list that trims the encoder's priming and padding: ffmpeg's
    # default 1000 would round the session's end to a millisecond; the sample rate keeps it sample-exact.
    return {"movie_timescale": str(sample_rate)}


class M4aEncoder(Encoder):
    """Streams float32 stereo blocks into AAC-LC in an .m4a, a few AAC frames in memory at a time.

    The AAC encoder delays its output by 1024 samples (priming) and pads the last frame; ffmpeg records both in
    an edit list, so players that honour it (Apple's, ffmpeg's at the start) play exactly the mixed samples.
    `bitrate_kbps` is the same nominal figure as MP3's; AAC sounds at least as good at the same rate.
    """

    def __init__(self, path: Path, sample_rate: int, channels: int = 2, bitrate_kbps: int = DEFAULT_BITRATE_KBPS, **_):
        import av

        self._layout = {1: "mono", 2: "stereo"}[channels]
        self._rate = sample_rate
        self._pts = 0
        self._container = av.open(str(path), "w", format=MUXER, options=_movie_options(sample_rate))
        try:
            self._stream = self._container.add_stream(CODEC, rate=sample_rate, layout=self._layout)
            self._stream.bit_rate = int(bitrate_kbps) * 1000
            self._stream.codec_context.options = dict(CODER_OPTIONS)
        except BaseException:
            self._container.close()
            raise
        self._closed = False

    def write(self, block: np.ndarray) -> None:
        import av

        if not len(block):
            return
        frame = av.AudioFrame.from_ndarray(aac_planar(block), format="fltp", layout=self._layout)
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += len(block)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):  # flush the last frames
                self._container.mux(packet)
        finally:
            # Writes the moov atom (sample tables, edit list) and releases the file even if flushing failed.
            self._container.close()


# Nero's chpl atom gives a title one length byte, and ffmpeg cuts longer ones mid-character (readers then
# reject the whole list); it also holds at most 255 chapters (the QuickTime chapter track keeps them all).
CHPL_TITLE_BYTES = 255


def _chpl_safe(title: str) -> str:
    """The title cut to at most 255 UTF-8 bytes at a character boundary."""
    return title.encode("utf-8")[:CHPL_TITLE_BYTES].decode("utf-8", errors="ignore")


def write_chapters(path: str | Path, marks: Sequence[Chapter], sample_rate: int | None = None) -> None:
    """Rewrite an .m4a with these chapters (none: no chapters), packet for packet: the AAC is not re-encoded.

    ffmpeg writes them both ways players look for them: a QuickTime chapter text track (Apple Podcasts, iOS,
    macOS, VLC) and a Nero `chpl` atom (many Android players, mutagen). The moov atom goes in front of the
    audio ("faststart"), so a player streaming the file can start before it has all of it.
    The copy is made beside the file and renamed over it, so an interruption leaves the file as it was.
    """
    import av

    from .files import atomic_output

    path = Path(path)
    with atomic_output(path) as tmp, av.open(str(path)) as source:
        audio = source.streams.audio[0]
        rate = sample_rate or audio.codec_context.sample_rate
        options = {**_movie_options(rate), "movflags": "+faststart"}
        # Chapter starts to the sample, as the mixer places events: the chapter track counts in the movie time
        # scale (the sample rate) and Nero's chpl in 100 ns units.
        time_base = Fraction(1, rate)
        with av.open(str(tmp), "w", format=MUXER, options=options) as target:
            stream = target.add_stream_from_template(audio)
            target.set_chapters(
                [
                    {
                        "id": i,
                        "start": round(mark.start_s * rate),
                        "end": round(mark.end_s * rate),
                        "time_base": time_base,
                        "metadata": {"title": _chpl_safe(mark.title)},
                    }
                    for i, mark in enumerate(marks, start=1)
                ]
            )
            for packet in source.demux(audio):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = stream
                target.mux(packet)
