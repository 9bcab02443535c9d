"""Runs inside a spawned worker process: one pyttsx3 engine, one utterance at a time.

pyttsx3 on espeak has traps (see docs): queued save_to_file calls keep only the last file, runAndWait can
return before the WAV exists, property changes can be dropped, errors go to a callback, and missing data
kills the process. So each utterance is set up, saved, and waited for until the driver says it finished and
the file holds audio; a crash only takes this worker down, and the parent notices.
"""

from __future__ import annotations

import time
import wave

from .protocol import Channel, Done, Failed, Fatal, ListVoices, Pyttsx3Job, Ready, Refused, Voices


DEFAULT_PITCH = 50  # espeak's own default on its 0-100 scale


def _wav_frames(path: str) -> int:
    try:
        with wave.open(path, "rb") as wav:
            return wav.getnframes()
    except (OSError, EOFError, wave.Error):
        return 0


def _espeak_synchronize():
    try:
        from pyttsx3.drivers import _espeak

        return _espeak.Synchronize
    except Exception:  # noqa: BLE001 - not the espeak driver (SAPI5, NSSpeechSynthesizer)
        return lambda: None


def _espeak_languages() -> dict[str, list[tuple[int, str]]]:
    """Every language of every espeak voice with its priority, by lower-case identifier.

    pyttsx3 reports only each voice's first language; espeak lists several, each with a priority (lower is
    stronger; gmw/en: en-gb 2, en 2; sit/cmn: cmn 5, zh-cmn 5, zh 5), and a user may type any of them. Empty when the driver is not
    espeak or the list cannot be read.
    """
    try:
        import ctypes

        from pyttsx3.drivers import _espeak

        found = {}
        for voice in _espeak.ListVoices(None):
            # `languages` is a run of (priority byte, NUL-terminated tag) ending with a zero priority byte;
            # ctypes' c_char_p stops at the first NUL, so read the bytes behind the pointer.
            pointer = ctypes.c_void_p.from_buffer(voice, type(voice).languages.offset).value
            entries, offset = [], 0
            while pointer and len(entries) < 32:
                priority = ctypes.string_at(pointer + offset, 1)[0]
                if priority == 0:
                    break
                tag = ctypes.string_at(pointer + offset + 1)
                entries.append((priority, tag.decode("utf-8", "replace")))
                offset += len(tag) + 2
            found[voice.identifier.decode("utf-8", "replace").lower()] = entries
        return found
    except Exception:  # noqa: BLE001 - another driver (SAPI5, NSSpeechSynthesizer), or an unexpected build
        return {}


def _voice_list(engine) -> list[tuple]:
    """(id, name, languages, gender, priorities) per voice, with espeak's full language lists when it has them."""
    full = _espeak_languages()
    voices = []
    for v in engine.getProperty("voices"):
        languages, priorities = tuple(v.languages or ()), ()
        entries = full.get(str(v.id).lower())
        if entries:
            languages = tuple(tag for _, tag in entries)
            priorities = tuple(priority for priority, _ in entries)
        voices.append((v.id, v.name, languages, v.gender, priorities))
    return voices


def serve(conn: Channel) -> None:  # pragma: no cover - runs in a child process; exercised by the engine tests
    from voiceguide.voice import espeak_setup

    try:
        espeak_setup.prepare()
        import pyttsx3

        engine = pyttsx3.init()
    except BaseException as exc:  # noqa: BLE001 - anything here means "no engine"; tell the parent
        conn.send(Fatal(f"{type(exc).__name__}: {exc}"))
        return

    finished: list[bool] = []
    errors: list[str] = []
    engine.connect("finished-utterance", lambda name=None, completed=True: finished.append(completed))
    engine.connect("error", lambda name=None, exception=None: errors.append(str(exception)))
    conn.send(Ready())

    synchronize = _espeak_synchronize()
    # pyttsx3's Engine.setProperty only queues the change until the next run loop, so synchronize() would wait
    # for nothing; the driver's own setProperty applies it now (SAPI5 and macOS drivers have one too).
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    set_now = driver.setProperty if callable(getattr(driver, "setProperty", None)) else engine.setProperty
    pitch_changed = False
    for message in conn.jobs():
        if isinstance(message, ListVoices):
            conn.send(Voices(_voice_list(engine)))
        elif isinstance(message, Pyttsx3Job):
            job, text, path, timeout_s = message.job, message.text, message.path, message.timeout_s
            voice, rate, volume, pitch = message.voice, message.rate_wpm, message.volume, message.pitch
            if pitch is None and pitch_changed:
                pitch = DEFAULT_PITCH  # undo an earlier job's pitch; espeak keeps it otherwise
            pitch_changed = pitch is not None and pitch != DEFAULT_PITCH
            errors.clear()
            try:
                for key, value in (("voice", voice), ("rate", rate), ("volume", volume), ("pitch", pitch)):
                    if value is not None:
                        set_now(key, value)
                # espeak applies parameters asynchronously: wait until they are in effect before synthesising.
                # Otherwise a worker's first clip could be spoken at the driver's start-up rate of 200 wpm (a
                # quarter too fast, seen under load), and a later cancel could drop changes (rate 150 -> 80 -> 300
                # once gave identical clips).
                synchronize()
            except Exception as exc:  # noqa: BLE001
                errors.append(str(exc))
            if errors:
                conn.send(Refused(job, f"the engine refused voice={voice!r} rate={rate} volume={volume}: {errors[0]}"))
                continue
            finished.clear()
            engine.save_to_file(text, path)
            engine.runAndWait()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and not (finished and _wav_frames(path) > 0):
                time.sleep(0.002)
            if errors:
                conn.send(Failed(job, errors[0]))
            elif not finished or _wav_frames(path) == 0:
                conn.send(Failed(job, f"no audio after {timeout_s:.0f} s"))
            else:
                conn.send(Done(job, path))


if __name__ == "__main__":  # pragma: no cover
    from voiceguide.voice.protocol import leave_stopping_to_the_parent, worker_channel

    leave_stopping_to_the_parent()
    serve(worker_channel())
