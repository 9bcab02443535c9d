"""Command line: a thin click layer over the library API. Exit codes: 0 ok, 2 bad input, 1 failure."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import time
import traceback
from contextlib import ExitStack
import warnings
from functools import wraps
from pathlib import Path

import click

from . import __version__, cache_cli
from ._entry import INTERRUPTED, drop_unwritable, install_signal_handlers
from .errors import UsageError, VoiceguideError
from .eta import Eta, timing_text
from .chimes import SETS
from .library import builtin_routines, builtin_tracks, routine_format_text
from .plan import build_plan, check_session_length, estimated_speech
from .config import CONFIG_TEMPLATE, config_path, describe, load_config
from .export import atomic_output, check_output_path, formats
from .export.files import file_in_the_way, same_file_key
from .pipeline import render_batch, render_request, say, synthesize_session, write_json
from .requests import Session, output_of, resolve_session, session_of
from .starter import starter_routine
from .routine import MAX_SESSION_S, format_duration, load_routine, parse_duration
from .settings import SETTINGS, given, resolve
from .voice import engine_session
from .voice.auto import (
    AUTO, NATURAL_INSTALL_HINT, SYSTEM_ENGINE, NaturalVoiceHint, engine_installed, auto_picks, hint_shown, natural_engines,
    natural_languages, remember_hint_shown,
)
from .voice.registry import engine_names


# Characters a terminal acts on instead of showing: C0 controls (but newline and tab), DEL, C1 controls (CSI
# among them), and the bidi controls that reorder what follows. A routine's keys and text, file names and
# engine messages reach the terminal in errors, warnings, summaries and tables: these are shown escaped.
_UNPRINTABLE = frozenset(
    [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F,
     *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def printable(text: str, json_escapes: bool = False) -> str:
    """`text` with every character a terminal would act on shown as an escape: \\x1b, \\u202e (\\u001b in JSON)."""
    text = str(text)
    if not any(ord(c) in _UNPRINTABLE for c in text):
        return text
    return "".join(
        (f"\\u{ord(c):04x}" if json_escapes or ord(c) > 0xFF else f"\\x{ord(c):02x}") if ord(c) in _UNPRINTABLE else c
        for c in text
    )


def note(message: str = "", err: bool = True, nl: bool = True) -> None:
    """A message (error, warning, summary), escaped; dropped if it cannot be written (stream closed or full)."""
    try:
        click.echo(printable(message), err=err, nl=nl)
    except OSError:
        drop_unwritable("stderr" if err else "stdout")


def show(text: str, json_escapes: bool = False) -> None:
    """A command's output on stdout (a table, the JSON plan, a listing): a failure to write it is an error."""
    try:
        click.echo(printable(text, json_escapes))
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise  # stdout closed early (| head): quietly, as click does
        drop_unwritable("stdout")
        raise VoiceguideError(f"could not write to standard output: {exc.strerror or exc}") from None


def _friendly(func):
    """Library errors become one clear message and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.showwarning = _warning_shower(bool(kwargs.get("quiet")))
                return func(*args, **kwargs)
        except VoiceguideError as exc:
            prefix = "" if str(exc).startswith(tuple(_source_prefixes(exc))) else "error: "
            note(f"{prefix}{exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (see main); temporary files are already gone
            note(f"\n{INTERRUPTED}")
            sys.exit(130)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # stdout closed early (| head): click exits quietly
            if os.environ.get("VOICEGUIDE_DEBUG"):
                traceback.print_exc()
            where = f": {exc.filename}" if exc.filename else ""
            note(f"error: {exc.strerror or exc}{where}")
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a traceback
            if os.environ.get("VOICEGUIDE_DEBUG"):
                traceback.print_exc()
            note(f"error: unexpected {type(exc).__name__}: {exc} (set VOICEGUIDE_DEBUG=1 for details)")
            sys.exit(1)

    return wrapper


def _warning_shower(quiet: bool):
    """Warnings as "warning:" lines; the natural-voice hint as a note, once ever (kept in the cache folder)."""

    def show_warning(message, category, *args, **kwargs) -> None:
        if issubclass(category, NaturalVoiceHint):
            if not quiet and not hint_shown():
                note(f"note: {message}")
                remember_hint_shown()
            return
        note(f"warning: {message}")

    return show_warning


def plural(count: int, word: str, plural_word: str | None = None, none: str | None = None) -> str:
    """'1 section', '3 sections' (and `none`, e.g. 'no chapters', for zero when given)."""
    if count == 0 and none is not None:
        return none
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"


def _source_prefixes(exc: VoiceguideError) -> list[str]:
    source = getattr(exc, "source", None)
    return [source] if source else []


class _Progress:
    """One line on stderr, redrawn at most ten times a second: the stage, a bar, time elapsed and about how long is
    left (voiceguide.eta: from the rate so far, so a cold neural render says early that it takes minutes)."""

    def __init__(self, enabled: bool, clock=time.monotonic):
        # A redrawn bar only makes sense on a terminal; logs and pipes get the summary line alone.
        try:
            self.enabled = enabled and sys.stderr is not None and sys.stderr.isatty()
        except (OSError, ValueError):  # a closed stream
            self.enabled = False
        self.clock = clock
        self.eta = Eta(clock)
        self.last = 0.0
        self.shown = False
        self.width = 0
        # Renders that finish within a moment need no bar.
        self.quiet_until = clock() + 0.5

    def line(self, stage: str, done: int, total: int) -> str:
        left_s = self.eta.update(stage, done, total)
        width = 30
        filled = int(width * done / total) if total else width
        label = {"voice": "voice", "mix": "mixing"}.get(stage, stage)
        return f"{label:<7}[{'#' * filled}{'.' * (width - filled)}] {100 * done // max(total, 1):3d}%  {timing_text(self.eta, left_s)}"

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        if not self.enabled:
            return
        text = self.line(stage, done, total)  # every report counts towards the rate, drawn or not
        if now < self.quiet_until or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        self._draw("\r" + text.ljust(self.width))
        self.width = max(self.width, len(text))
        self.shown = True

    def _draw(self, text: str) -> None:
        try:
            click.echo(text, err=True, nl=False)
        except OSError:  # the terminal went away: the render goes on without a bar
            self.enabled = False
            drop_unwritable("stderr")

    def finish(self) -> None:
        if self.shown:
            self._draw("\r" + " " * self.width + "\r")


def _length(ctx, param, value):
    """One duration, or for render a comma-separated list (5m,10m,15m) to make several lengths at once."""
    if value is None:
        return None
    lengths = []
    for part in value.split(","):
        try:
            seconds = parse_duration(part)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        if seconds <= 0:
            raise click.BadParameter("must be more than zero")
        if seconds > MAX_SESSION_S:
            raise click.BadParameter(f"{part.strip()} is longer than a session may be ({format_duration(MAX_SESSION_S)})")
        lengths.append(seconds)
    if ctx.command.name != "render" and len(lengths) > 1:
        raise click.BadParameter("give one length here (several lengths are for 'render')")
    return lengths if ctx.command.name == "render" else lengths[0]


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan (it compares false with both bounds, so FloatRange lets it in)."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class UserPath(click.Path):
    """click.Path with '~' and '~user' expanded (also when quoted); a path that cannot name a file here (an
    unknown user, a name over 255 bytes) is a bad option (exit 2), not an error from deep inside the render."""

    def convert(self, value, param, ctx):
        from .routine import _shown, user_path

        if isinstance(value, str):
            try:
                value = str(user_path(value))
            except ValueError as exc:
                self.fail(f"'{_shown(value, 60)}' {exc}", param, ctx)
        return super().convert(value, param, ctx)


def setting_option(key: str, show_default: bool = False):
    """The click option of a knob, made from the settings table: its flag, type, range or choices, and help."""
    knob = SETTINGS[key]
    kwargs: dict = {"help": knob.cli_help()}
    if knob.kind == "duration":
        kwargs["callback"] = _length
    elif knob.choices and knob.cli_checked:
        kwargs["type"] = click.Choice([str(c) for c in knob.choice_list()])
    elif knob.kind == "bool":
        kwargs["default"] = None  # not given: the routine's choice stands
    elif knob.kind == "int":
        kwargs["type"] = click.IntRange(knob.low, knob.high)
    elif knob.kind == "float":
        kwargs["type"] = FiniteFloatRange(knob.low, knob.high)
    if show_default:
        kwargs.update(default=knob.default_value(), show_default=True)
    return click.option(knob.flag, knob.param or knob.key, **kwargs)


def setting_options(*keys: str):
    """Options for these knobs, shown in this order in --help."""

    def decorate(func):
        for key in reversed(keys):
            func = setting_option(key)(func)
        return func

    return decorate


voice_options = setting_options("pace", "voice", "rate_wpm", "volume", "engine", "preset", "chimes", "length")


def quiet_option(func):
    return click.option("-q", "--quiet", is_flag=True, help="No summary line (errors and warnings are still printed).")(func)


def clock(seconds: float) -> str:
    """A time in the plan table: m:ss.s (h:mm:ss.s from an hour on)."""
    tenths = int(round(seconds * 10))
    minutes, tenths = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{tenths / 10:04.1f}" if hours else f"{minutes}:{tenths / 10:04.1f}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voiceguide")
def cli() -> None:
    """Turn a routine script (YAML) into a narrated audio session with music and chimes.

    ROUTINE is a path to a .yaml file or the name of a built-in routine (see 'voiceguide routines').
    """


@cli.command("render")
@click.argument("routines", metavar="ROUTINE...", nargs=-1, required=True)
@click.option("-o", "--output", type=UserPath(dir_okay=False), help=f"Output file ({formats.suffixes()}). Default: ROUTINE-NAME.mp3 here (or in your config's output_dir).")
@click.option("--out-dir", type=UserPath(file_okay=False), help="Folder for the sessions of a batch (several routines or lengths).")
@voice_options
@click.option("--cues", type=UserPath(dir_okay=False), help="Also write the cue sheet (timed events and chapters) as JSON.")
@click.option("--captions", type=UserPath(dir_okay=False), help="Also write captions: .vtt or .srt (timed), or .txt (a transcript).")
@setting_option("chapters", show_default=True)
@click.option("--cover", type=UserPath(exists=True, dir_okay=False), help="Cover art (PNG or JPEG) for an MP3, M4A, FLAC, Ogg or Opus file; default: a generated image.")
@click.option("--artist", help="Artist tag for an MP3, M4A, FLAC, Ogg or Opus file (default: voiceguide).")
@click.option("--stems", type=UserPath(file_okay=False), help="Also write voice.wav, music.wav and chimes.wav (aligned) into this folder.")
@setting_option("loudness_lufs")
@setting_option("bitrate_kbps")
@setting_option("pan")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@_friendly
def render_cmd(routines, output, out_dir, pace, voice, rate_wpm, volume, engine, preset, chimes, length_s, cues, captions, chapters, cover, artist, stems, loudness_lufs, bitrate_kbps, pan, force, quiet):
    """Render ROUTINE to an audio file; several routines, or several --length values, make a batch.

    Settings come from, lowest first: built-in defaults, your config ('voiceguide config'), the routine, and
    these options.
    """
    config = load_config()
    lengths = length_s or [None]
    if len(routines) > 1 or len(lengths) > 1:
        if output or cues or captions or stems:
            raise UsageError("a batch writes one file per session: use --out-dir instead of -o, --cues, --captions or --stems")
        folder = Path(resolve("output_dir", given(out_dir), config=given(config.output_dir)))
        jobs = [
            dict(routine=r, output=str(folder / f"{Path(r).stem}{f'-{_length_label(n)}' if n else ''}.mp3"),
                 voice=voice, rate_wpm=rate_wpm, volume=volume, preset=preset, pace=pace, chimes=chimes, length_s=n,
                 config=config, engine=engine, force=force, chapters=chapters, cover=cover, artist=artist,
                 loudness_lufs=loudness_lufs, bitrate_kbps=int(bitrate_kbps) if bitrate_kbps else None, pan=pan)
            for r in routines
            for n in lengths
        ]
        _refuse_clashes(jobs)
        _output_folder(folder)
        progress = _Progress(enabled=not quiet)
        try:
            results = render_batch(jobs, progress=lambda done, total: progress("sessions", done, total))
        finally:
            progress.finish()
        failed = 0
        for job, outcome in zip(jobs, results):
            if isinstance(outcome, str):
                failed += 1
                note(f"{job['routine']}: {outcome}")
            elif not quiet:
                note(f"Wrote {job['output']} ({format_duration(outcome)})", err=False)
        if failed:
            sys.exit(2 if failed == len(jobs) else 1)
        return
    routine = routines[0]
    length_s = lengths[0]
    if out_dir and not output:
        output = str(_output_folder(Path(out_dir)) / f"{Path(routine).stem}.mp3")
    session = _session(routine, voice, rate_wpm, volume, preset, engine, pace, length_s, chimes, config, pan)
    request = output_of(
        output, force=force, cues=cues, captions=captions, stems=stems, chapters=chapters, cover=cover, artist=artist,
        loudness_lufs=loudness_lufs, bitrate_kbps=int(bitrate_kbps) if bitrate_kbps else None,
    )
    progress = _Progress(enabled=not quiet)
    try:
        result = render_request(session, request, progress=progress)
    finally:
        progress.finish()
    out = result.output
    for warning in result.plan.warnings:
        note(f"warning: {warning}")
    if not quiet:
        note(
            f"Wrote {out} ({format_duration(result.plan.duration_s)}, {plural(len(result.chapters), 'chapter', none='no chapters')}; "
            f"{plural(result.clips_synthesized, 'clip')} synthesised, {result.clips_cached} from cache) "
            f"in {result.timings_s['total']:.1f} s",
            err=False,
        )


def _session(routine, voice, rate_wpm, volume, preset, engine, pace, length_s, chimes, config, pan=None) -> Session:
    """The Session request of the voice options (an option not given is NOT_GIVEN)."""
    return session_of(
        routine, voice=voice, rate_wpm=rate_wpm, volume=volume, preset=preset, engine=engine, pace=pace,
        length_s=length_s, chimes=chimes, config=config, pan=pan,
    )


def _output_folder(folder: Path) -> Path:
    """A batch's folder, made if it is missing (like --stems); a file in its way is bad input."""
    blocker = file_in_the_way(folder)
    if blocker is not None:
        raise UsageError(f"cannot use {folder} as the output folder: {blocker} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from None
    return folder


def _refuse_clashes(jobs: list[dict]) -> None:
    """Refuse, before any work, a batch in which two sessions would be written to one file."""
    seen: dict[str, dict] = {}
    for job in jobs:
        first = seen.setdefault(same_file_key(job["output"]), job)
        if first is job:
            continue

        def what(j: dict) -> str:
            return f"{j['routine']}" + (f" at {format_duration(j['length_s'])}" if j["length_s"] else "")

        same_length = first["routine"] == job["routine"]
        hint = (
            "give each length once" if same_length
            else "render them in separate batches with different --out-dir folders, or one at a time with -o"
        )
        raise UsageError(f"two sessions of this batch would both be written to {job['output']} ({what(first)} and {what(job)}): {hint}")


def _length_label(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}m" if whole % 60 == 0 else f"{whole // 60}m{whole % 60:02d}s"


@cli.command("plan")
@click.argument("routine")
@voice_options
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable plan (the cue sheet).")
@click.option("-o", "--output", type=UserPath(dir_okay=False), help="Write the JSON plan to this file instead of stdout.")
@click.option("--svg", type=UserPath(dir_okay=False), help="Also draw the timeline (sections, steps, speech, chimes, music) as an SVG file.")
@click.option("--force", is_flag=True, help="Overwrite an existing -o or --svg file.")
@quiet_option
@_friendly
def plan_cmd(routine, pace, voice, rate_wpm, volume, engine, preset, chimes, length_s, as_json, output, svg, force, quiet):
    """Show the timeline of ROUTINE (speech is synthesised or taken from the cache to time it; no session is rendered)."""
    if output:
        _check_json_output(Path(output), force)
    if svg:
        _check_svg_output(Path(svg), force, output)
    session = _session(routine, voice, rate_wpm, volume, preset, engine, pace, length_s, chimes, load_config())
    plan, _, _ = synthesize_session(resolve_session(session))
    if svg:
        _write_svg(Path(svg), plan, force, quiet, to_stderr=as_json and not output)  # stdout holds the JSON alone
    if as_json and not output:  # the warnings are in the JSON; the output is the JSON alone
        show(json.dumps(plan.to_json(), indent=2, ensure_ascii=False), json_escapes=True)
        return
    if output:
        write_json(Path(output), plan.to_json())
        if not quiet:
            note(f"Wrote {output} ({format_duration(plan.duration_s)}, {plural(len(plan.events), 'event')})", err=False)
        for warning in plan.warnings:
            note(f"warning: {warning}")
        return
    show(f"{plan.title}  ({format_duration(plan.duration_s)})")
    show(f"{'start':>9} {'end':>9}  {'type':<7} what")
    for event in plan.events:
        what = event.text or event.kind or ""
        if event.type == "action":
            what = f"hands-on{f' ({event.side})' if event.side else ''}"
        elif event.type == "pause":
            what = "quiet"
        elif event.type == "chime":
            what = f"{event.kind} chime"
        if len(what) > 70:
            what = what[:67] + "..."
        show(f"{clock(event.start_s):>9} {clock(event.end_s):>9}  {event.type:<7} {what}")
    for warning in plan.warnings:
        note(f"warning: {warning}")


def _check_svg_output(path: Path, force: bool, json_output: str | None) -> None:
    """Refuse, before any work, an SVG output that exists (without --force), is a folder or is also the -o file."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name such as {path / 'timeline.svg'}")
    check_output_path(path, force, audio=False)
    if json_output and same_file_key(json_output) == same_file_key(path):
        raise UsageError(f"-o and --svg name the same file, {path}: give each output its own name")


def _write_svg(path: Path, plan, force: bool, quiet: bool, to_stderr: bool) -> None:
    from .timeline_svg import plan_svg

    with atomic_output(path, replace=force) as tmp:
        tmp.write_text(plan_svg(plan), encoding="utf-8")
    if not quiet:
        note(f"Wrote {path} (the timeline of {format_duration(plan.duration_s)})", err=to_stderr)


def _check_json_output(path: Path, force: bool) -> None:
    """Refuse, before any work, a JSON output that exists (without --force) or has no folder to go in."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name such as {path / 'plan.json'}")
    check_output_path(path, force, audio=False)  # as for -o of render: a regular file or nothing, a writable folder


@cli.command("check")
@click.argument("routine")
@click.option("--listen", is_flag=True, help="Also voice every line and have an offline recogniser transcribe it: lists the lines it did not understand (needs the listen extra; exit 1 when some were not).")
@setting_options("voice", "rate_wpm", "volume", "engine", "preset")
@click.option("--json", "as_json", is_flag=True, help="With --listen: print the results as JSON.")
@quiet_option
@_friendly
def check_cmd(routine, listen, voice, rate_wpm, volume, engine, preset, as_json, quiet):
    """Validate ROUTINE without synthesising anything; with --listen, hear how well each line is understood."""
    if listen or as_json or any(v is not None for v in (voice, rate_wpm, volume, engine, preset)):
        from .listen import check_listen

        session = _session(routine, voice, rate_wpm, volume, preset, engine, None, None, None, load_config())
        sys.exit(check_listen(session, listen, as_json, quiet, _Progress(not quiet), show, note))
    loaded = load_routine(routine)
    steps = sum(len(s.steps) for s in loaded.sections)
    estimate = build_plan(loaded, estimated_speech(loaded))
    check_session_length(estimate, loaded.source, estimated=True)
    if not quiet:
        note(
            f"{loaded.source}: ok - '{loaded.title}', {plural(len(loaded.sections), 'section')}, {plural(steps, 'step')}, "
            f"about {format_duration(estimate.duration_s)}",
            err=False,
        )
    for warning in estimate.warnings:
        note(f"warning: {warning}")


@cli.command("routines")
@_friendly
def routines_cmd():
    """List the built-in routines with their title and approximate length."""
    for name, path in builtin_routines().items():
        routine = load_routine(path)
        plan = build_plan(routine, estimated_speech(routine))
        show(f"{name:<12} ~{format_duration(plan.duration_s):>6}  {routine.title}")
        if routine.description:
            show(f"{'':<21}{routine.description}")


@cli.command("config")
@click.option("--show", "action", flag_value="show", default=True, help="Print the config file's path and settings (default).")
@click.option("--edit", "action", flag_value="edit", help="Open the config file in your editor (created from a commented template).")
@click.option("--path", "action", flag_value="path", help="Print only the config file's path.")
@_friendly
def config_cmd(action):
    """Your defaults for voice, rate, pace, music, chimes, bitrate and output folder.

    Precedence, lowest first: built-in defaults < config < the routine's keys < command-line options.
    VOICEGUIDE_CONFIG names another config file.
    """
    path = config_path()
    if action == "path":
        show(str(path))
        return
    if action == "edit":
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
        # An editor the user named is theirs to run; a fallback (vi, nano) needs a terminal to draw on.
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor and not (sys.stdin.isatty() and sys.stdout.isatty()):
            show(f"Your config file is {path}: edit it with any text editor ('voiceguide config' then shows the settings in effect).")
            return
        try:
            click.edit(filename=str(path), editor=editor or None)
        except click.ClickException as exc:
            raise VoiceguideError(f"{exc.message}; edit {path} with any text editor instead") from None
    show(describe(load_config(path)))


@cli.command("new")
@click.argument("name")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@quiet_option
@_friendly
def new_cmd(name, force, quiet):
    """Write a commented starter routine NAME.yaml to edit."""
    path = Path(name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    check_output_path(path, force, audio=False)
    title = path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or "My routine"
    # Written beside and renamed into place: a symbolic link there is replaced, never written through.
    with atomic_output(path, replace=force) as tmp:
        tmp.write_text(starter_routine(title), encoding="utf-8")
    if not quiet:
        note(
            f"Wrote {path}: edit it ('voiceguide docs' explains every key), then 'voiceguide check {path}' "
            f"and 'voiceguide render {path}'",
            err=False,
        )


@cli.command("say")
@click.argument("text")
@click.option("-o", "--output", type=UserPath(dir_okay=False), default="say.mp3", show_default=True, help=f"Output file ({formats.suffixes()}).")
@setting_options("voice", "rate_wpm", "volume", "preset")
@setting_option("language", show_default=True)
@setting_option("engine")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@quiet_option
@_friendly
def say_cmd(text, output, voice, rate_wpm, volume, preset, language, engine, force, quiet):
    """Speak TEXT to a file: a quick preview of a voice, rate and preset."""
    seconds = say(text, output, voice=voice, rate_wpm=rate_wpm, volume=volume, preset=preset, language=language, engine=engine, force=force)
    if not quiet:
        note(f"Wrote {output} ({seconds:.1f} s)", err=False)


@cli.command("docs")
@_friendly
def docs_cmd():
    """Print the routine format reference: every key of a routine file, with examples (Markdown)."""
    show(routine_format_text().rstrip("\n"))


@cli.command("schema")
@_friendly
def schema_cmd():
    """Print the JSON Schema (draft 2020-12) of the routine format, for editors and other tools."""
    from .schema import routine_schema

    show(json.dumps(routine_schema(), indent=2, ensure_ascii=False), json_escapes=True)


@cli.command("music")
@_friendly
def music_cmd():
    """List the built-in music tracks with their length and mood."""
    for name, track in builtin_tracks().items():
        show(f"{name:<14} {format_duration(track.duration_s):>6}  {track.mood}")


@cli.command("chimes")
@_friendly
def chimes_cmd():
    """List the chime sets (use with --chimes or 'chimes:' in a routine)."""
    for name, description in SETS.items():
        show(f"{name:<6} {description}")
    show(f"{'none':<6} no chimes (steps follow each other without a sound)")


@cli.command("voices")
@click.option("--language", help="Only voices for this language (e.g. en, ko).")
@click.option("--engine", help="Only this engine's voices (default: every engine that is installed); auto: only auto's picks.")
@_friendly
def voices_cmd(language, engine):
    """List the installed voices of every engine, after what the default engine, auto, picks for each language."""
    voices, opened = [], {}
    with ExitStack() as stack:
        for name in [engine] if engine and engine != AUTO else engine_names():
            try:
                eng = stack.enter_context(engine_session(name))
                voices += eng.voices()
                opened[name] = eng
            except UsageError as exc:
                if engine:
                    raise
                if engine_installed(name):
                    note(f"note: no {name} voices: {exc}")
        if not engine or engine == AUTO:
            _show_auto_picks([language] if language else natural_languages(), opened, others=not language)
    if engine == AUTO:
        return
    if language:
        lang = language.lower().replace("_", "-")
        voices = [v for v in voices if any(tag.lower() == lang or tag.lower().startswith(lang + "-") for tag in v.languages)]
        if not voices:
            raise UsageError(f"no installed voice for language '{language}'")
    show("")
    for v in sorted(voices, key=lambda v: (v.engine, v.id)):
        # Languages last: espeak lists several for one voice (en-gb-x-rp, en-gb, en), which no column fits.
        show(f"{v.engine:<8} {v.id:<28} {v.name:<34} {', '.join(v.languages)}")


def _show_auto_picks(languages: list[str], engines: dict, others: bool) -> None:
    """The engine and voice `auto` (the default) speaks each language with, natural or the system's."""
    show("auto (the default engine) speaks:")
    for pick in auto_picks(languages, engines):
        missing = natural_engines(pick.language, installed_only=False)
        kind = "natural" if pick.natural else "system voice" + (f"; natural: {NATURAL_INSTALL_HINT}" if missing else "")
        show(f"  {pick.language:<6} {pick.engine:<8} {pick.voice or '(system default)':<28} {kind}")
    if others:
        show(f"  {'other':<6} {SYSTEM_ENGINE:<8} {'(by language)':<28} system voice")


@cli.command("studio")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; open the printed link yourself.")
@click.option("--lan", is_flag=True, help="Listen on the local network too and print a QR code, so a phone on the same Wi-Fi can open it.")
@_friendly
def studio_cmd(port, no_browser, lan):
    """A local web page to pick, edit, preview and render routines (needs the 'studio' extra).

    Prints the page's link (with a private token) as its first line; Ctrl-C stops it.
    """
    from .studio.server import serve

    serve(port, open_browser=not no_browser, lan=lan)


cache_cli.register(cli, _friendly, show)


def main() -> None:
    """Run the command line (the `voiceguide` command goes through voiceguide._entry, which calls this)."""
    # SIGTERM and SIGHUP stop a command the way Ctrl-C does (KeyboardInterrupt), so temporary files are removed
    # and workers stopped. Signals arriving while that cleanup runs are ignored; ones ignored at start stay so.
    install_signal_handlers()
    try:
        code = cli.main(prog_name="voiceguide", standalone_mode=False)
    except click.ClickException as exc:
        # click's own messages (a bad option, a missing --cover file) name what the user typed: escaped too.
        text = io.StringIO()
        exc.show(file=text)
        note(text.getvalue(), nl=False)
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            note(INTERRUPTED)
            sys.exit(130)
        note("Aborted!")
        sys.exit(1)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # stdout closed early (| head): no message, and nothing more is written
        drop_unwritable("stdout")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
