"""The studio's ASGI app (Starlette): the page, its JSON API, progress as Server-Sent Events, audio with Range."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import threading
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..config import Config
from ..errors import ParameterError, VoiceguideError
from . import core
from .core import Folders, RenderQueue, StudioError

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
AUDIO_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/ogg"}
COOKIE = "voiceguide_token"
# A JSON request carries at most a routine's text and a few settings.
MAX_BODY_BYTES = core.MAX_TEXT_BYTES + 64_000
CHUNK_BYTES = 256 * 1024


class TokenGate:
    """Every request needs the token (query `token`, the cookie the page gets, or the X-Voiceguide-Token header):
    HTTP 403 without it, so another local user or a web page in the browser cannot drive the studio."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self._allowed(scope):
            await PlainTextResponse("403: this page needs the studio's link with its token (printed when it started)", 403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope) -> bool:
        offered = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        for name, value in scope.get("headers", []):
            if name == b"x-voiceguide-token":
                offered.append(value.decode("latin-1"))
            elif name == b"cookie":
                cookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # noqa: BLE001 - a malformed cookie is no token
                    continue
                if COOKIE in cookie:
                    offered.append(cookie[COOKIE].value)
        return any(secrets.compare_digest(o.encode("utf-8", "replace"), self.token.encode()) for o in offered)


async def json_body(request: Request) -> dict:
    """The request's JSON object, refused (413) past MAX_BODY_BYTES however the client describes it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise StudioError(f"the request is larger than {MAX_BODY_BYTES:,} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise StudioError(f"the request is larger than {MAX_BODY_BYTES:,} bytes", 413)
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise StudioError("the request is not JSON") from None
    if not isinstance(data, dict):
        raise StudioError("the request must be a JSON object")
    return data


def _text(data: dict, key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise StudioError(f"'{key}' must be text")
    return value


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single "bytes=" range, None for the whole file; ValueError when unsatisfiable."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or (not match[1] and not match[2]):
        return None  # several ranges or another unit: the whole file, as RFC 9110 allows
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise ValueError("empty suffix range")
        return max(size - suffix, 0), size - 1
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    if first >= size or last < first:
        raise ValueError("range outside the file")
    return first, last


def audio_response(path: Path, range_header: str | None, download: bool) -> Response:
    size = path.stat().st_size
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    media = AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
    try:
        span = byte_range(range_header, size)
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    first, last = span if span else (0, size - 1)

    def chunks():
        with path.open("rb") as handle:
            handle.seek(first)
            left = last - first + 1
            while left > 0:
                block = handle.read(min(CHUNK_BYTES, left))
                if not block:
                    return
                left -= len(block)
                yield block

    headers["Content-Length"] = str(max(last - first + 1, 0))
    if span is None:
        return StreamingResponse(chunks(), 200, headers=headers, media_type=media)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return StreamingResponse(chunks(), 206, headers=headers, media_type=media)


def create_app(
    token: str, folders: Folders, config: Config | None = None, lan_url: str | None = None, qr_svg: str | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> TokenGate:
    """The studio for one user: their `folders`, their `config`; `token` guards every request. `stopping()` turns
    true when the server is shutting down: progress streams then end, so the shutdown need not cut them off."""
    config = config or Config()
    renders = RenderQueue(folders, config)

    async def page(request: Request) -> Response:
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        response = Response(html, media_type=STATIC_TYPES[".html"], headers={"Cache-Control": "no-store"})
        # The page's own requests (scripts, audio, downloads) then carry the token without it in every address.
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = STATIC_DIR / name
        if "/" in name or path.suffix not in STATIC_TYPES or not path.is_file():
            return PlainTextResponse("not found", 404)
        return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "no-store"})

    async def info(request: Request) -> Response:
        return JSONResponse({"lan_url": lan_url, "qr_svg": qr_svg, "routines_dir": str(folders.routines),
                             "sessions_dir": str(folders.sessions), "max_text_bytes": core.MAX_TEXT_BYTES})

    async def routines(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(core.list_routines, folders))

    async def routine_get(request: Request) -> Response:
        source = request.query_params.get("source", "builtin")
        name = request.query_params.get("name", "")
        return JSONResponse({"name": name, "source": source, "yaml": await run_in_threadpool(core.read_routine, folders, source, name)})

    async def routine_put(request: Request) -> Response:
        data = await json_body(request)
        name = _text(data, "name")
        path = await run_in_threadpool(core.save_routine, folders, name, _text(data, "yaml"), bool(data.get("overwrite", True)))
        return JSONResponse({"saved": path.stem})

    async def routine_copy(request: Request) -> Response:
        data = await json_body(request)
        new = data.get("new_name") or None
        name = await run_in_threadpool(core.copy_builtin, folders, _text(data, "name"), new)
        return JSONResponse({"name": name, "source": "mine"})

    async def validate(request: Request) -> Response:
        data = await json_body(request)
        return JSONResponse(await run_in_threadpool(core.validate, folders, _text(data, "yaml"), _text(data, "name", "routine")))

    async def form(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(core.form_description))

    # Typing asks for a plan every few hundred ms and one may take seconds (speech is synthesised): one plan at a
    # time, and a request that a newer one has overtaken while it waited answers at once.
    planning = threading.Lock()
    latest_plan = [0]

    async def plan(request: Request) -> Response:
        data = await json_body(request)
        latest_plan[0] += 1
        mine = latest_plan[0]

        def work() -> dict:
            with planning:
                if mine != latest_plan[0]:
                    return {"superseded": True}
                return core.plan_for(folders, _text(data, "yaml"), _text(data, "name", "routine"), data.get("settings"), config)

        return JSONResponse(await run_in_threadpool(work))

    async def preview(request: Request) -> Response:
        data = await json_body(request)
        text = data.get("text")
        routine = data.get("yaml")
        audio = await run_in_threadpool(core.preview_voice, data.get("settings"), text if isinstance(text, str) else None, folders,
                                        routine if isinstance(routine, str) else None, config)
        return Response(audio, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    async def render(request: Request) -> Response:
        data = await json_body(request)
        job = await run_in_threadpool(renders.submit, _text(data, "yaml"), _text(data, "name", "routine"), data.get("settings"))
        return JSONResponse(job.public(), status_code=202)

    def _job(request: Request):
        job = renders.jobs.get(request.path_params["job"])
        if job is None:
            raise StudioError("no such render", 404)
        return job

    async def render_status(request: Request) -> Response:
        return JSONResponse(_job(request).public())

    async def render_cancel(request: Request) -> Response:
        return JSONResponse(renders.cancel(request.path_params["job"]).public())

    async def render_events(request: Request) -> Response:
        job = _job(request)

        async def stream():
            seen = -1
            while True:
                if job.version != seen:
                    seen = job.version
                    yield f"data: {json.dumps(job.public())}\n\n"
                    if job.state in ("done", "failed", "cancelled"):
                        return
                if stopping() or await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def sessions(request: Request) -> Response:
        return JSONResponse({"sessions": await run_in_threadpool(core.list_sessions, folders)})

    async def session_audio(request: Request) -> Response:
        path = folders.session_path(request.path_params["name"])
        if not path.is_file():
            raise StudioError("no such session", 404)
        return audio_response(path, request.headers.get("range"), request.query_params.get("download") == "1")

    async def refused(request: Request, exc: Exception) -> Response:
        if isinstance(exc, OSError):
            # A folder the studio may not write, a full disk: the page says so; the server goes on.
            where = f": {exc.filename}" if exc.filename else ""
            return JSONResponse({"error": f"{exc.strerror or exc}{where}"}, status_code=500)
        if isinstance(exc, StudioError):
            status = exc.status
        elif isinstance(exc, VoiceguideError):
            status = 400 if exc.exit_code == 2 else 500
        else:
            status = 500
        body: dict[str, Any] = {"error": str(exc) if isinstance(exc, VoiceguideError) else f"unexpected {type(exc).__name__}: {exc}"}
        if isinstance(exc, ParameterError):
            body["parameter"] = exc.parameter
        problems = getattr(exc, "problems", None)
        if problems:
            body["problems"] = [{"line": p.line, "column": p.column, "message": p.message} for p in problems]
        return JSONResponse(body, status_code=status)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        renders.close()  # a render under way stops at its next check and leaves no file

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/static/{name}", static),
            Route("/api/info", info),
            Route("/api/routines", routines),
            Route("/api/routine", routine_get, methods=["GET"]),
            Route("/api/routine", routine_put, methods=["PUT"]),
            Route("/api/routines/copy", routine_copy, methods=["POST"]),
            Route("/api/validate", validate, methods=["POST"]),
            Route("/api/form", form),
            Route("/api/plan", plan, methods=["POST"]),
            Route("/api/preview", preview, methods=["POST"]),
            Route("/api/render", render, methods=["POST"]),
            Route("/api/render/{job}", render_status),
            Route("/api/render/{job}/events", render_events),
            Route("/api/render/{job}/cancel", render_cancel, methods=["POST"]),
            Route("/api/sessions", sessions),
            Route("/sessions/{name}", session_audio),
        ],
        exception_handlers={VoiceguideError: refused, OSError: refused, Exception: refused},
        lifespan=lifespan,
    )
    gate = TokenGate(app, token)
    gate.renders = renders
    return gate
