"""The Xing/LAME "Info" frame at the start of a CBR MP3.

lameenc streams frames but cannot write this header. Without it a decoder cannot know the encoder delay
and padding, so every sound is heard ~25 ms late, the decoded file is longer than the session, and
players estimate the duration. With it (as LAME's own CLI writes it) decoding is sample-exact.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

SAMPLES_PER_FRAME = 1152
ENCODER_DELAY = 576  # LAME's own delay; decoders add their 529 samples themselves
_BITRATES_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_RATES = {44100: 0, 48000: 1, 32000: 2}


def frame_size(bitrate_kbps: int, sample_rate: int, padding: int = 0) -> int:
    return 144 * bitrate_kbps * 1000 // sample_rate + padding


def _crc16(data: bytes, crc: int = 0) -> int:
    # CRC-16/ARC, as LAME computes it for the tag.
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def count_frames(f: BinaryIO, start: int, chunk_bytes: int = 1 << 20) -> tuple[int, int]:
    """Walk the MPEG-1 Layer III frames from `start`; return (frames, bytes). Reads a chunk at a time, so a
    long session's file is never held in memory."""
    rates = {v: k for k, v in _RATES.items()}
    offset = frames = 0  # offset: bytes from `start` to the next frame header
    buffer, buffer_start = b"", 0  # buffer holds the file from start + buffer_start on
    while True:
        local = offset - buffer_start
        if local + 4 > len(buffer):
            # Refill from the next header itself: a frame may end past the current chunk.
            f.seek(start + offset)
            buffer, buffer_start = f.read(chunk_bytes), offset
            if len(buffer) < 4:
                break
            continue
        b1, b2 = buffer[local + 1], buffer[local + 2]
        if buffer[local] != 0xFF or (b1 & 0xFE) != 0xFA:
            break
        offset += frame_size(_BITRATES_KBPS[b2 >> 4], rates[(b2 >> 2) & 3], (b2 >> 1) & 1)
        frames += 1
    return frames, offset


def info_frame(bitrate_kbps: int, sample_rate: int, channels: int, audio_frames: int, audio_bytes: int, samples: int) -> bytes:
    size = frame_size(bitrate_kbps, sample_rate)
    header = bytes(
        (0xFF, 0xFB, (_BITRATES_KBPS.index(bitrate_kbps) << 4) | (_RATES[sample_rate] << 2), 0xC4 if channels == 1 else 0x44)
    )
    side_info = bytes(17 if channels == 1 else 32)
    total_bytes = size + audio_bytes
    toc = bytes(min(255, i * 256 // 100) for i in range(100))
    xing = b"Info" + struct.pack(">IIII", 0x0F, audio_frames, total_bytes, 0)[: 4 * 3] + toc + struct.pack(">I", 50)
    padding = audio_frames * SAMPLES_PER_FRAME - samples - ENCODER_DELAY
    delay_padding = (ENCODER_DELAY << 12) | max(0, min(padding, 0xFFF))
    lame = (
        b"LAME3.100"
        + bytes((0x01,))  # tag revision 0, CBR
        + bytes((170,))  # lowpass / 100 Hz, informative
        + bytes(8)  # replay gain: not computed
        + bytes((0,))
        + bytes((min(bitrate_kbps, 255),))
        + delay_padding.to_bytes(3, "big")
        + bytes((0,))  # misc
        + bytes((0,))  # mp3 gain
        + bytes(2)  # preset / surround
        + struct.pack(">I", total_bytes)
        + bytes(2)  # music CRC: left zero, as decoders do not check it
    )
    frame = bytearray(header + side_info + xing + lame)
    frame += struct.pack(">H", _crc16(bytes(frame)))
    frame += bytes(size - len(frame))
    return bytes(frame)


def supported(bitrate_kbps: int, sample_rate: int) -> bool:
    return sample_rate in _RATES and bitrate_kbps in _BITRATES_KBPS and frame_size(bitrate_kbps, sample_rate) >= 200
