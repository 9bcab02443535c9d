"""The worker protocol: typed messages that cross a Channel unchanged, and the jobs each engine sends."""

from __future__ import annotations

import io

from voiceguide.voice import VoiceOptions
from voiceguide.voice.piper_engine import PiperEngine, length_scale, sentence_silence_s
from voiceguide.voice.protocol import Channel, Done, Failed, Fatal, ListVoices, PiperJob, Pyttsx3Job, Ready, Refused, Voices


def test_messages_cross_a_channel_unchanged():
    messages = [
        Ready(), Fatal("no driver"), Pyttsx3Job(3, "Breathe in.", "/tmp/c.wav", 20.5, "gmw/en-us", 150, 1.0, None),
        ListVoices(), Voices([("en-us", "English", ("en-us",), None, (2,))]), Done(3, "/tmp/c.wav"),
        Failed(3, "no audio"), Refused(3, "unknown voice"), None,
    ]
    pipe = io.BytesIO()
    writer = Channel(io.BytesIO(), pipe)
    for message in messages:
        writer.send(message)
    pipe.seek(0)
    reader = Channel(pipe, io.BytesIO())
    assert [reader.recv() for _ in messages] == messages
    pipe.seek(0)
    assert list(Channel(pipe, io.BytesIO()).jobs()) == messages[:-1]  # None ends the jobs


def test_the_piper_job_carries_what_its_worker_reads(monkeypatch):
    engine = PiperEngine()

    class Voice:
        model, config = "/v/joe.onnx", "/v/joe.onnx.json"

    monkeypatch.setattr(engine, "_voice", lambda options: Voice)
    job = engine.job_message(7, "Rest.", VoiceOptions(rate_wpm=128, volume=0.8, pitch=38), "/tmp/x.wav", 21.0)
    assert job == PiperJob(7, "Rest.", "/tmp/x.wav", 21.0, "/v/joe.onnx", "/v/joe.onnx.json", length_scale(128), 0.8, sentence_silence_s(128))
