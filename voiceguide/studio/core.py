"""What the studio does, without HTTP: its two folders, names checked into paths, routines, the settings form,
plans, and the render queue. Every request goes through the library's request API (Session, Output)."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import queue
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Config, _config_music
from ..errors import Cancelled, Problem, RoutineError, UsageError, VoiceguideError
from ..export import atomic_output
from ..export.formats import FORMATS
from ..inputs import NotReadable, read_capped
from ..library import _music_dir, builtin_routines, builtin_tracks
from ..pipeline import render_request, say, synthesize_session
from ..plan import build_plan, check_session_length, estimated_speech
from ..requests import Cancel, Output, Session, resolve_session
from ..routine import MAX_FILE_BYTES, Routine, format_duration, parse_duration, parse_routine
from ..settings import NOT_GIVEN, ROUTINE, SETTINGS, resolve
from ..timeline_svg import plan_svg

# The editor's text and any upload obey the cap of a routine file (routine.MAX_FILE_BYTES).
MAX_TEXT_BYTES = MAX_FILE_BYTES
MAX_PREVIEW_CHARS = 300
PREVIEW_TEXT = "This is how I sound. Let your shoulders drop, and breathe out slowly."
# A name from the page is a name, never a path: letters, digits, '_' and '-' (any script), then our suffix.
_NAME = re.compile(r"[^\W][\w-]{0,63}")
_SESSION_NAME = re.compile(r"[^\W][\w.-]{0,150}")
# The form's fields, in the order the page shows them: knobs of the settings table, and the output format.
FORM_KEYS = ("voice", "engine", "preset", "rate_wpm", "volume", "pace", "length", "music", "music_volume_db", "chimes",
             "pan", "loudness_lufs", "bitrate_kbps", "chapters")
# A yes/no knob is a choice on the page (left empty: as the routine says).
_BOOL_CHOICES = {"on": True, "off": False}


class StudioError(UsageError):
    """A request the studio refuses (HTTP 400 unless `status` says otherwise), with a message for the page."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Folders:
    """The only two places the studio reads or writes: the user's routines and their rendered sessions."""

    routines: Path
    sessions: Path

    @classmethod
    def from_config(cls, config: Config) -> Folders:
        import platformdirs

        sessions = config.output_dir or Path(platformdirs.user_data_dir("voiceguide")) / "sessions"
        return cls(Path(resolve("routines_dir", config=config.routines_dir or NOT_GIVEN)), Path(sessions))

    def routine_path(self, name: str) -> Path:
        return _inside(self.routines, name, _NAME, ".yaml", "routine")

    def session_path(self, name: str) -> Path:
        path = _inside(self.sessions, name, _SESSION_NAME, "", "session")
        if path.suffix.lower() not in FORMATS:
            raise StudioError(f"'{name}' is not a session file", 404)
        return path


def _inside(folder: Path, name: Any, pattern: re.Pattern, suffix: str, what: str) -> Path:
    """folder/name+suffix, only when `name` is a plain name and the file, links resolved, stays in `folder`."""
    if not isinstance(name, str) or not pattern.fullmatch(name) or ".." in name:
        raise StudioError(f"a {what} name is letters, digits, '-' and '_' (not a path): {str(name)[:80]!r}")
    path = folder / f"{name}{suffix}"
    base = folder.resolve()
    if path.resolve().parent != base:
        raise StudioError(f"the {what} '{name}' is outside {folder}", 403)
    return path


# --- routines --------------------------------------------------------------------------------------------


def routine_summary(routine: Routine) -> dict:
    estimate = build_plan(routine, estimated_speech(routine))
    return {"title": routine.title, "description": routine.description, "estimated_s": round(estimate.duration_s, 1)}


def list_routines(folders: Folders) -> dict:
    builtins = []
    for name, path in builtin_routines().items():
        builtins.append({"name": name, **routine_summary(_parse_file(path, name, path.parent))})
    mine = []
    if folders.routines.is_dir():
        for path in sorted(folders.routines.glob("*.yaml"), key=lambda p: p.stem):
            if not _NAME.fullmatch(path.stem) or not path.is_file():
                continue
            entry = {"name": path.stem, "title": path.stem, "description": "", "estimated_s": None}
            try:
                entry.update(routine_summary(_parse_file(path, path.stem, folders.routines)))
            except (VoiceguideError, OSError, NotReadable):
                entry["problem"] = True  # listed all the same: the editor shows what is wrong
            mine.append(entry)
    return {"builtins": builtins, "mine": mine, "routines_dir": str(folders.routines)}


def _parse_file(path: Path, name: str, base_dir: Path) -> Routine:
    return parse_routine(read_capped(path, MAX_TEXT_BYTES), source=f"{name}.yaml", base_dir=base_dir)


def read_routine(folders: Folders, source: str, name: str) -> str:
    if source == "builtin":
        path = builtin_routines().get(name)
        if path is None:
            raise StudioError(f"no built-in routine '{str(name)[:80]}'", 404)
    else:
        path = folders.routine_path(name)
        if not path.is_file():
            raise StudioError(f"no routine '{name}' in {folders.routines}", 404)
    try:
        return read_capped(path, MAX_TEXT_BYTES).decode("utf-8", errors="replace")
    except (OSError, NotReadable) as exc:
        raise StudioError(f"{name}.yaml cannot be read: {exc}") from None


def save_routine(folders: Folders, name: str, text: str, overwrite: bool = True) -> Path:
    """Write the user's routine text (valid or not: it is their work) atomically into their folder."""
    check_text_size(text)
    path = folders.routine_path(name)
    if path.exists() and not overwrite:
        raise StudioError(f"you already have a routine called '{name}': pick another name", 409)
    folders.routines.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, replace=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def copy_builtin(folders: Folders, name: str, new_name: str | None = None) -> str:
    """Copy a built-in routine into the user's folder under a name of its own (name, name-2, ...)."""
    text = read_routine(folders, "builtin", name)
    if new_name:
        save_routine(folders, new_name, text, overwrite=False)
        return new_name
    for n in itertools.count(1):
        candidate = name if n == 1 else f"{name}-{n}"
        if not folders.routine_path(candidate).exists():
            save_routine(folders, candidate, text, overwrite=False)
            return candidate
    raise AssertionError("unreachable")


def check_text_size(text: Any) -> None:
    if not isinstance(text, str):
        raise StudioError("the routine text must be a string")
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_TEXT_BYTES:
        raise StudioError(f"the routine is larger than {MAX_TEXT_BYTES:,} bytes, the most a routine may be", 413)


def parse_text(folders: Folders, text: str, name: str = "routine") -> Routine:
    """The editor's text as a routine: the same parser and messages as a file, then the studio's folder rule for
    the files a routine may name (music, a voice model): the built-in music, or files in the routines folder."""
    check_text_size(text)
    source = f"{name}.yaml" if isinstance(name, str) and _NAME.fullmatch(name) else "routine.yaml"
    routine = parse_routine(text, source=source, base_dir=folders.routines)
    allowed = [folders.routines.resolve(), _music_dir().resolve()]
    named = [("music", routine.music.path)] if routine.music is not None else []
    if routine.voice.name and routine.voice.name.lower().endswith(".onnx"):
        named.append(("voice", Path(routine.voice.name)))
    for what, path in named:
        real = Path(path).resolve()
        if not any(real == a or a in real.parents for a in allowed):
            line = _key_line(text, what)
            raise RoutineError(source, [Problem(line, 1 if line else None,
                f"{what} '{path}' is outside your routines folder ({folders.routines}): in the studio, use a built-in "
                f"track or put the file in that folder")])
    return routine


def _key_line(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*(?:{key}|track|name)\s*:", line):
            return number
    return None


def validate(folders: Folders, text: str, name: str = "routine") -> dict:
    """What `voiceguide check` says of the text: every problem with its line and column, or a summary."""
    try:
        routine = parse_text(folders, text, name)
        estimate = build_plan(routine, estimated_speech(routine))
        check_session_length(estimate, routine.source, estimated=True)
    except RoutineError as exc:
        return {"ok": False, "problems": [{"line": p.line, "column": p.column, "message": p.message} for p in exc.problems]}
    except StudioError:
        raise
    except UsageError as exc:
        return {"ok": False, "problems": [{"line": None, "column": None, "message": str(exc)}]}
    steps = sum(len(s.steps) for s in routine.sections)
    return {
        "ok": True,
        "problems": [],
        "summary": f"ok - '{routine.title}', {len(routine.sections)} sections, {steps} steps, about {format_duration(estimate.duration_s)}",
        "warnings": list(estimate.warnings),
    }


# --- the settings form -----------------------------------------------------------------------------------


def form_description() -> dict:
    """The form, made from the settings table: each field's kind, choices, bounds, default, unit and help."""
    fields = []
    for key in FORM_KEYS:
        knob = SETTINGS[key]
        choices = [str(c) for c in knob.choice_list()]
        if key == "music":
            choices = [*builtin_tracks(), "none"]
        if knob.kind == "bool":
            choices = list(_BOOL_CHOICES)
        default = knob.default_value()
        fields.append({
            "key": key, "kind": "choice" if choices else knob.kind, "choices": choices,
            "low": knob.low, "high": knob.high, "unit": knob.unit,
            "default": default if isinstance(default, (int, float, str)) or default is None else str(default),
            "shown_default": str(knob.shown()), "help": knob.cli_help(),
            # Left empty, a knob a routine may set keeps the routine's value; the others take the default.
            "in_routine": ROUTINE in knob.where,
        })
    fields.append({"key": "format", "kind": "choice", "choices": [s.lstrip(".") for s in FORMATS], "default": "mp3",
                   "low": None, "high": None, "unit": "", "shown_default": "mp3", "help": "The session's file format.",
                   "in_routine": False})
    return {"fields": fields}


def _number(key: str, value: Any) -> float:
    knob = SETTINGS[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StudioError(f"{key} '{str(value)[:40]}' is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise StudioError(f"{key} '{value}' is not a finite number")
    if (knob.low is not None and number < knob.low) or (knob.high is not None and number > knob.high):
        raise StudioError(f"{key} {number:g} is out of range; use {knob.range_text()}")
    if knob.kind == "int":
        if not number.is_integer():
            raise StudioError(f"{key} {number:g} must be a whole number")
        return int(number)
    return number


@dataclass(frozen=True)
class FormValues:
    session: dict[str, Any] = field(default_factory=dict)  # Session fields
    output: dict[str, Any] = field(default_factory=dict)  # Output fields
    music: str | None = None
    music_volume_db: float | None = None
    format: str = "mp3"


def form_values(settings: Any) -> FormValues:
    """The page's settings, each checked as the command line checks it (kind, bounds, choices from the table)."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise StudioError("settings must be an object of setting names to values")
    unknown = sorted(set(settings) - set(FORM_KEYS) - {"format"})
    if unknown:
        raise StudioError(f"unknown setting '{str(unknown[0])[:40]}'")
    values = {k: v for k, v in settings.items() if v not in (None, "")}
    session: dict[str, Any] = {}
    output: dict[str, Any] = {}
    for key, value in values.items():
        knob = SETTINGS.get(key)
        if key in ("voice", "engine", "preset", "chimes", "chapters", "music", "format"):
            if not isinstance(value, str):
                raise StudioError(f"{key} must be text")
            choices = [str(c) for c in knob.choice_list()] if knob is not None else []
            if key == "music":
                choices = [*builtin_tracks(), "none"]
            if key == "format":
                choices = [s.lstrip(".") for s in FORMATS]
            if choices and key != "engine" and value not in choices:
                raise StudioError(f"{key} '{value[:40]}' is not one of: {', '.join(choices)}")
        elif knob is not None and knob.kind == "bool":
            if isinstance(value, bool):
                pass
            elif isinstance(value, str) and value in _BOOL_CHOICES:
                value = _BOOL_CHOICES[value]
            else:
                raise StudioError(f"{key} '{str(value)[:40]}' is not one of: {', '.join(_BOOL_CHOICES)}")
        elif key == "length":
            try:
                value = parse_duration(value)
            except ValueError as exc:
                raise StudioError(f"length: {exc}") from None
        else:
            value = _number(key, value)
        if key in ("voice", "engine", "preset", "chimes", "pace", "rate_wpm", "volume", "pan"):
            session[key] = value
        elif key == "length":
            session["length_s"] = value
        elif key in ("loudness_lufs", "bitrate_kbps", "chapters"):
            output[key] = value
    if "pace" in session and "length_s" in session:
        del session["pace"]  # the form shows one of them at a time; the length chooses the pace itself
    return FormValues(session, output, values.get("music"), values.get("music_volume_db"), values.get("format", "mp3"))


def with_music(routine: Routine, values: FormValues) -> Routine:
    """The form's music over the routine's (the form is the caller, so it wins), by the config's own rules."""
    if values.music is None and values.music_volume_db is None:
        return routine
    return replace(routine, music=_config_music(routine.music, Config(music=values.music, music_volume_db=values.music_volume_db)))


def session_request(folders: Folders, text: str, name: str, settings: Any, config: Config) -> tuple[Session, FormValues, Routine]:
    values = form_values(settings)
    routine = parse_text(folders, text, name)
    from ..config import apply_config

    # The config fills in what the routine leaves unset; then the form's music; then the Session's own knobs.
    routine = with_music(apply_config(routine, config), values)
    return Session(routine, **values.session), values, routine


def plan_for(folders: Folders, text: str, name: str, settings: Any, config: Config) -> dict:
    """The real plan (speech synthesised, or found in the clip cache) and its picture."""
    session, _, _ = session_request(folders, text, name, settings, config)
    plan, _, _ = synthesize_session(resolve_session(session))
    return {"plan": plan.to_json(), "duration_s": round(plan.duration_s, 3), "svg": plan_svg(plan), "pace": plan.pace}


def preview_voice(settings: Any, text: str | None, folders: Folders | None = None, yaml_text: str | None = None,
                  config: Config | None = None) -> bytes:
    """One line spoken as the session would speak it, as WAV bytes (written to a private temporary folder): the
    routine's voice settings under the form's, and by default the routine's first sentence."""
    values = form_values(settings)
    s = values.session
    voice = {"voice": s.get("voice"), "rate_wpm": s.get("rate_wpm"), "volume": s.get("volume"), "preset": s.get("preset"),
             "language": "en", "engine": s.get("engine")}
    if folders is not None and isinstance(yaml_text, str) and yaml_text.strip():
        session, _, routine = session_request(folders, yaml_text, "routine", settings, config or Config())
        resolved = resolve_session(session)
        o = resolved.options
        voice = {"voice": o.voice, "rate_wpm": o.rate_wpm, "volume": o.volume, "preset": o.preset, "language": o.language,
                 "engine": resolved.engine}
        if not text and routine.intro:
            text = re.split(r"(?<=[.!?。])\s", routine.intro.strip(), maxsplit=1)[0]
    line = " ".join(str(text or PREVIEW_TEXT).split())[:MAX_PREVIEW_CHARS]
    with tempfile.TemporaryDirectory(prefix="voiceguide-preview-") as folder:
        out = Path(folder) / "preview.wav"
        say(line, out, **voice)
        return out.read_bytes()


# --- sessions rendered before ------------------------------------------------------------------------------


def list_sessions(folders: Folders) -> list[dict]:
    if not folders.sessions.is_dir():
        return []
    found = []
    for path in folders.sessions.iterdir():
        if path.suffix.lower() not in FORMATS or not _SESSION_NAME.fullmatch(path.name) or not path.is_file():
            continue
        entry = {"name": path.name, "size_bytes": path.stat().st_size, "modified": path.stat().st_mtime,
                 "title": path.stem, "duration_s": None, "chapters": []}
        cues = path.with_suffix(".json")
        if cues.is_file():
            try:
                data = json.loads(read_capped(cues, 50_000_000))
                entry.update(title=data.get("title", path.stem), duration_s=data.get("duration_s"), chapters=data.get("chapters", []))
            except (OSError, NotReadable, ValueError):
                pass
        found.append(entry)
    return sorted(found, key=lambda e: e["modified"], reverse=True)


# --- the render queue ------------------------------------------------------------------------------------


@dataclass
class Job:
    id: str
    name: str
    state: str = "queued"  # queued, running, done, failed, cancelled
    stage: str = ""
    fraction: float = 0.0
    message: str = ""
    session: dict | None = None
    cancel: Cancel = field(default_factory=Cancel)
    version: int = 0  # bumped on every change, so a progress stream sends only news

    def public(self) -> dict:
        return {"id": self.id, "state": self.state, "stage": self.stage, "fraction": round(self.fraction, 3),
                "message": self.message, "session": self.session}


class RenderQueue:
    """One render at a time, in the order asked; the others wait. A job is cancelled with its Cancel token."""

    def __init__(self, folders: Folders, config: Config):
        self.folders, self.config = folders, config
        self.jobs: dict[str, Job] = {}
        self._waiting: queue.Queue[tuple[Job, Session, Output] | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="voiceguide-studio-render", daemon=True)
        self._worker.start()

    def submit(self, text: str, name: str, settings: Any) -> Job:
        session, values, routine = session_request(self.folders, text, name, settings, self.config)
        stem = name if isinstance(name, str) and _NAME.fullmatch(name) else "session"
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.folders.sessions.mkdir(parents=True, exist_ok=True)
        path = self.folders.session_path(f"{stem}-{stamp}-{next(self._ids)}.{values.format}")
        # The config's loudness and bitrate unless the form sets them (the Session carries no config: the routine
        # already has it applied, and applying it again would put the config's music over the form's).
        defaults = {"loudness_lufs": self.config.loudness_lufs, "bitrate_kbps": self.config.bitrate_kbps}
        extra = {k: v for k, v in defaults.items() if v is not None and k not in values.output}
        output = Output(path=path, cues=path.with_suffix(".json"), **values.output, **extra)
        # Every check of the request (output, loudness, chapters, pace, length...) before the job is queued.
        from ..requests import resolve_request

        resolve_request(session, output)
        job = Job(id=f"{len(self.jobs) + 1}-{os.urandom(4).hex()}", name=path.name)
        with self._lock:
            self.jobs[job.id] = job
        self._waiting.put((job, session, output))
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise StudioError("no such render", 404)
        job.cancel.set()
        if job.state == "queued":
            self._update(job, state="cancelled", message="cancelled")
        return job

    def _update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(job, key, value)
            job.version += 1

    def _run(self) -> None:
        while True:
            item = self._waiting.get()
            if item is None:
                return
            job, session, output = item
            if job.cancel.is_set():
                continue
            self._update(job, state="running", stage="voice")
            last = [0.0]

            def progress(stage: str, done: int, total: int) -> None:
                # Speech is about a third of a render's time, the mix and encoder the rest.
                share = done / total if total else 1.0
                fraction = 0.3 * share if stage == "voice" else 0.3 + 0.7 * share
                now = time.monotonic()
                if now - last[0] > 0.1 or done >= total:
                    last[0] = now
                    self._update(job, stage=stage, fraction=fraction)

            try:
                result = render_request(session, output, progress=progress, cancel=job.cancel)
            except Cancelled:
                self._update(job, state="cancelled", message="cancelled: nothing was written")
            except VoiceguideError as exc:
                self._update(job, state="failed", message=str(exc))
            except Exception as exc:  # noqa: BLE001 - the page gets a message, the server goes on
                self._update(job, state="failed", message=f"unexpected {type(exc).__name__}: {exc}")
            else:
                chapters = [c.to_json() for c in result.chapters] or [c.to_json() for c in result.plan.chapters]
                self._update(job, state="done", fraction=1.0, stage="done", session={
                    "name": Path(result.output).name, "duration_s": round(result.plan.duration_s, 3), "chapters": chapters,
                    "title": result.plan.title,
                })

    def close(self, timeout_s: float = 30.0) -> None:
        """Cancel every job and wait for the one under way to stop (it removes its temporary file)."""
        for job in list(self.jobs.values()):
            job.cancel.set()
        self._waiting.put(None)
        self._worker.join(timeout_s)
