"""The studio's HTTP API, in-process (Starlette's TestClient) with the fake engine: token, routines, validation,
plan picture, renders with progress, cancel and queue, audio with Range, and the folder and size rules."""

from __future__ import annotations

import io
import json
import sys
import threading
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import soundfile as sf  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from voiceguide.settings import SETTINGS  # noqa: E402
from voiceguide.studio.app import MAX_BODY_BYTES, byte_range, create_app  # noqa: E402
from voiceguide.studio.core import MAX_TEXT_BYTES, Folders  # noqa: E402
from voiceguide.voice import ENGINES  # noqa: E402

from .conftest import SMALL_ROUTINE, FakeEngine, assert_clean_failure, invoke  # noqa: E402

TOKEN = "test-token-123"


@pytest.fixture
def folders(tmp_path):
    return Folders(tmp_path / "routines", tmp_path / "sessions")


@pytest.fixture
def client(folders, fake_engine):
    with TestClient(create_app(TOKEN, folders), headers={"X-Voiceguide-Token": TOKEN}) as c:
        yield c


def _events(client, job_id: str) -> list[dict]:
    with client.stream("GET", f"/api/render/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


def test_every_page_and_call_needs_the_token(folders):
    with TestClient(create_app(TOKEN, folders)) as anonymous:
        for path in ("/", "/static/studio.js", "/api/routines", "/api/form", "/sessions/x.mp3"):
            assert anonymous.get(path).status_code == 403, path
        assert anonymous.get("/api/routines?token=wrong").status_code == 403
        assert anonymous.post("/api/validate", json={"yaml": "title: x"}).status_code == 403
        page = anonymous.get(f"/?token={TOKEN}")
        assert page.status_code == 200 and 'data-testid="routine-select"' in page.text
        # The page's cookie then carries the token for its scripts, audio and downloads.
        assert anonymous.get("/api/routines").status_code == 200
        assert anonymous.get("/static/studio.js").status_code == 200


def test_routines_lists_builtins_and_copies(client):
    listing = client.get("/api/routines").json()
    morning = next(r for r in listing["builtins"] if r["name"] == "morning")
    assert morning["title"].startswith("Morning") and morning["description"]
    assert 200 < morning["estimated_s"] < 330  # `voiceguide routines` says about 4:17
    assert listing["mine"] == []
    assert client.post("/api/routines/copy", json={"name": "morning"}).json()["name"] == "morning"
    assert client.post("/api/routines/copy", json={"name": "morning"}).json()["name"] == "morning-2"
    mine = client.get("/api/routines").json()["mine"]
    assert [r["name"] for r in mine] == ["morning", "morning-2"] and mine[0]["title"] == morning["title"]
    builtin = client.get("/api/routine", params={"source": "builtin", "name": "morning"}).json()["yaml"]
    assert client.get("/api/routine", params={"source": "mine", "name": "morning"}).json()["yaml"] == builtin
    saved = client.put("/api/routine", json={"name": "morning", "yaml": SMALL_ROUTINE}).json()
    assert saved == {"saved": "morning"}
    assert client.get("/api/routine", params={"source": "mine", "name": "morning"}).json()["yaml"] == SMALL_ROUTINE
    assert client.post("/api/routines/copy", json={"name": "morning", "new_name": "morning"}).status_code == 409


def test_validate_gives_check_messages_with_lines_and_did_you_mean(client, write_routine):
    text = SMALL_ROUTINE.replace("    steps:\n      - say: Glide", "    stpes:\n      - say: Glide")
    result = client.post("/api/validate", json={"yaml": text, "name": "mine"}).json()
    assert result["ok"] is False
    (problem, *_) = [p for p in result["problems"] if "stpes" in p["message"]]
    assert problem["line"] == text.splitlines().index("    stpes:") + 1 and problem["column"] == 5
    assert "did you mean 'steps'?" in problem["message"]
    # The same words `voiceguide check` prints for the same text in a file.
    checked = invoke("check", write_routine(text, "mine.yaml"))
    assert_clean_failure(checked, 2)
    assert f":{problem['line']}:{problem['column']}: {problem['message']}" in checked.output
    ok = client.post("/api/validate", json={"yaml": SMALL_ROUTINE}).json()
    assert ok["ok"] is True and "2 sections" in ok["summary"]


def test_form_comes_from_the_settings_table(client):
    fields = {f["key"]: f for f in client.get("/api/form").json()["fields"]}
    assert (fields["pace"]["low"], fields["pace"]["high"], fields["pace"]["default"]) == (SETTINGS["pace"].low, SETTINGS["pace"].high, 1.0)
    assert fields["chimes"]["choices"] == list(SETTINGS["chimes"].choice_list())
    assert "fake" in fields["engine"]["choices"] and "none" in fields["music"]["choices"]
    assert "mp3" in fields["format"]["choices"] and fields["rate_wpm"]["help"] == SETTINGS["rate_wpm"].cli_help()


def test_plan_svg_follows_the_settings(client):
    base = client.post("/api/plan", json={"yaml": SMALL_ROUTINE, "settings": {"engine": "fake"}}).json()
    slow = client.post("/api/plan", json={"yaml": SMALL_ROUTINE, "settings": {"engine": "fake", "pace": 0.5}}).json()
    action_s = sum(e["end_s"] - e["start_s"] for e in base["plan"]["events"] if e["type"] in ("action", "pause"))
    assert slow["duration_s"] == pytest.approx(base["duration_s"] + action_s, abs=0.05)  # pace 0.5: hands-on and quiet time double
    svg = ET.fromstring(slow["svg"])
    assert float(svg.get("data-duration-s")) == pytest.approx(slow["duration_s"], abs=0.001)
    fitted = client.post("/api/plan", json={"yaml": SMALL_ROUTINE, "settings": {"engine": "fake", "length": "1:20"}}).json()
    assert fitted["duration_s"] == pytest.approx(80, abs=1.0)
    bad = client.post("/api/plan", json={"yaml": SMALL_ROUTINE, "settings": {"engine": "fake", "pace": 9}})
    assert bad.status_code == 400 and "out of range" in bad.json()["error"]
    broken = client.post("/api/plan", json={"yaml": "title: x\n", "settings": {"engine": "fake"}})
    assert broken.status_code == 400 and broken.json()["problems"][0]["message"]


def test_render_streams_progress_and_serves_audio_with_ranges(client, folders):
    job = client.post("/api/render", json={"yaml": SMALL_ROUTINE, "name": "small", "settings": {"engine": "fake", "format": "wav", "pace": 0.8}})
    assert job.status_code == 202
    events = _events(client, job.json()["id"])
    assert events[-1]["state"] == "done", events[-1]
    fractions = [e["fraction"] for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    session = events[-1]["session"]
    assert [c["title"] for c in session["chapters"]] == ["Introduction", "Neck", "Jaw", "Closing"]
    path = folders.sessions / session["name"]
    data = path.read_bytes()
    audio, rate = sf.read(io.BytesIO(client.get(f"/sessions/{session['name']}").content))
    assert len(audio) / rate == pytest.approx(session["duration_s"], abs=0.05)
    part = client.get(f"/sessions/{session['name']}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}" and part.headers["accept-ranges"] == "bytes"
    assert part.content == data[100:1100]
    tail = client.get(f"/sessions/{session['name']}", headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    open_end = client.get(f"/sessions/{session['name']}", headers={"Range": f"bytes={len(data) - 10}-"})
    assert open_end.content == data[-10:]
    assert client.get(f"/sessions/{session['name']}", headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    download = client.get(f"/sessions/{session['name']}?download=1")
    assert "attachment" in download.headers["content-disposition"] and download.content == data
    listed = client.get("/api/sessions").json()["sessions"]
    assert listed[0]["name"] == session["name"] and listed[0]["duration_s"] == pytest.approx(session["duration_s"], abs=0.01)


def test_byte_range_parsing():
    assert byte_range(None, 10) is None and byte_range("bytes=0-0,5-6", 10) is None
    assert byte_range("bytes=2-", 10) == (2, 9) and byte_range("bytes=2-100", 10) == (2, 9) and byte_range("bytes=-3", 10) == (7, 9)
    for bad in ("bytes=10-", "bytes=5-2", "bytes=-0"):
        with pytest.raises(ValueError):
            byte_range(bad, 10)


class GatedEngine(FakeEngine):
    """The fake voice, waiting for the test to let it speak: a render that is surely running."""

    name = "gated"

    def __init__(self):
        super().__init__()
        self.started, self.go = threading.Event(), threading.Event()

    def synthesize(self, texts, options, out_dir, on_clip):
        self.started.set()
        assert self.go.wait(30)
        super().synthesize(texts, options, out_dir, on_clip)


def test_one_render_at_a_time_and_cancel_leaves_nothing(client, folders, monkeypatch):
    engine = GatedEngine()
    monkeypatch.setitem(ENGINES, "gated", lambda: engine)
    first = client.post("/api/render", json={"yaml": SMALL_ROUTINE, "name": "a", "settings": {"engine": "gated", "format": "wav"}}).json()
    second = client.post("/api/render", json={"yaml": SMALL_ROUTINE, "name": "b", "settings": {"engine": "fake", "format": "wav"}}).json()
    assert engine.started.wait(30)
    assert client.get(f"/api/render/{second['id']}").json()["state"] == "queued"  # waits for the first
    assert client.post(f"/api/render/{first['id']}/cancel").status_code == 200
    engine.go.set()
    assert _events(client, first["id"])[-1]["state"] == "cancelled"
    assert _events(client, second["id"])[-1]["state"] == "done"
    names = sorted(p.name for p in folders.sessions.iterdir())
    assert len(names) == 2 and all(n.startswith("b-") for n in names)  # b's audio and cue sheet; nothing of a


def test_names_not_paths(client, folders, tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text(SMALL_ROUTINE)
    for name in ("../secret", "/etc/passwd", "a/b", "..", ".hidden", "x\\..\\y", ""):
        assert client.get("/api/routine", params={"source": "mine", "name": name}).status_code in (400, 404), name
        assert client.put("/api/routine", json={"name": name, "yaml": "x"}).status_code == 400, name
    folders.routines.mkdir(parents=True)
    (folders.routines / "link.yaml").symlink_to(outside)
    assert client.get("/api/routine", params={"source": "mine", "name": "link"}).status_code == 403
    assert client.get("/sessions/..%2F..%2Fsecret.yaml").status_code in (400, 404)
    assert client.get("/sessions/secret.yaml").status_code in (400, 404)
    assert client.get("/api/routine", params={"source": "builtin", "name": "../routines/morning"}).status_code == 404
    # A routine from the page may name music only in the routines folder (or a built-in track).
    music = tmp_path / "song.wav"
    sf.write(music, [0.0] * 48000, 48000)
    text = SMALL_ROUTINE.replace("music: none", f"music: {music}")
    result = client.post("/api/validate", json={"yaml": text}).json()
    assert not result["ok"] and "outside your routines folder" in result["problems"][0]["message"]
    assert result["problems"][0]["line"] == 2
    assert not list(tmp_path.glob("*.mp3"))


def test_sizes_are_capped(client, folders):
    big = "title: x\n" + "#" * MAX_TEXT_BYTES
    assert client.post("/api/validate", json={"yaml": big}).status_code == 413
    assert client.put("/api/routine", json={"name": "big", "yaml": big}).status_code == 413
    assert not folders.routines.exists() or not list(folders.routines.iterdir())
    huge = b'{"yaml": "' + b"a" * (MAX_BODY_BYTES + 1) + b'"}'
    assert client.post("/api/validate", content=huge, headers={"content-type": "application/json"}).status_code == 413
    assert client.post("/api/validate", content=b"not json").status_code == 400
    unknown = client.post("/api/plan", json={"yaml": SMALL_ROUTINE, "settings": {"output_dir": "/tmp"}})
    assert unknown.status_code == 400 and "unknown setting" in unknown.json()["error"]


def test_preview_speaks_one_line(client):
    response = client.post("/api/preview", json={"settings": {"engine": "fake", "rate_wpm": 120}, "text": "one two three"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(response.content))
    assert 1.0 < len(audio) / rate < 3.0 and abs(audio).max() > 0.05


def test_studio_without_its_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = invoke("studio", "--no-browser")
    assert_clean_failure(result, 2)
    assert 'pip install "voiceguide[studio]"' in result.output


def studio_info(url: str) -> dict:
    """/api/info from a studio started as a subprocess, given the link it printed (asked again while it starts)."""
    import time
    import urllib.request

    base, token = url.split("/?")[0], url.split("token=")[1]
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{base}/api/info?token={token}", timeout=5) as response:
                return json.loads(response.read())
        except OSError:  # not listening yet
            time.sleep(0.1)
    raise AssertionError(f"the studio at {base} never answered")


def test_the_command_prints_its_link_first_and_stops_on_ctrl_c(tmp_path):
    import os
    import signal
    import subprocess
    import urllib.error
    import urllib.request

    env = {**os.environ, "VOICEGUIDE_CONFIG": str(tmp_path / "config.yaml")}
    (tmp_path / "config.yaml").write_text(f"routines_dir: {tmp_path / 'r'}\noutput_dir: {tmp_path / 's'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "voiceguide", "studio", "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        base = url.split("/?")[0]
        info = studio_info(url)
        assert info["routines_dir"] == str(tmp_path / "r") and info["sessions_dir"] == str(tmp_path / "s")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/info", timeout=5)
        assert refused.value.code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Studio stopped." in err


def test_lan_prints_a_qr_code_and_the_page_shows_it(tmp_path):
    import os
    import signal
    import subprocess

    env = {**os.environ, "VOICEGUIDE_CONFIG": str(tmp_path / "none.yaml")}
    proc = subprocess.Popen([sys.executable, "-m", "voiceguide", "studio", "--lan", "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    url = proc.stdout.readline().strip()
    if not url:  # a machine with no network: a clear refusal, not a traceback
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2 and "no local network address" in err and "Traceback" not in err
        return
    try:
        assert url.startswith("http://") and not url.startswith("http://127.")
        info = studio_info(url)
        assert info["lan_url"] == url and info["qr_svg"].lstrip().startswith("<svg")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "\u2588" in err and proc.returncode == 0  # the QR code's blocks on the terminal


def test_preview_speaks_as_the_routine_would(client, monkeypatch):
    """The routine's voice settings (its rate) under the form's, and its first sentence by default."""
    text = SMALL_ROUTINE.replace("music: none", "music: none\nvoice: {engine: fake, rate_wpm: 100}")
    slow = client.post("/api/preview", json={"yaml": text, "settings": {}})
    fast = client.post("/api/preview", json={"yaml": text, "settings": {"rate_wpm": 200}})
    assert slow.status_code == 200 and fast.status_code == 200, slow.text
    slow_s = len(sf.read(io.BytesIO(slow.content))[0])
    fast_s = len(sf.read(io.BytesIO(fast.content))[0])
    assert 1.6 < slow_s / fast_s < 2.2  # the first sentence at 100 and at 200 words a minute


@pytest.mark.slow
def test_ctrl_c_during_a_render_stops_cleanly_and_leaves_no_file(tmp_path):
    """The real command: a long render under way with its progress stream open, then Ctrl-C."""
    import urllib.request

    from .test_studio_browser import start_studio, stop_studio

    proc, url = start_studio(tmp_path)
    base, token = url.split("/?")[0], url.split("token=")[1]
    long_routine = SMALL_ROUTINE.replace("hold: 2.5s", "hold: 40m")

    def call(path: str, body: dict | None = None):
        request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode() if body else None,
                                         headers={"X-Voiceguide-Token": token, "Content-Type": "application/json"})
        return urllib.request.urlopen(request, timeout=30)

    try:
        studio_info(url)
        job = json.loads(call("/api/render", {"yaml": long_routine, "name": "long", "settings": {"format": "wav"}}).read())
        stream = call(f"/api/render/{job['id']}/events")
        while b'"stage": "mix"' not in stream.readline():
            pass
    finally:
        err = stop_studio(proc)
    assert proc.returncode == 0 and "Traceback" not in err and "Studio stopped." in err, err
    assert not (tmp_path / "sessions").exists() or list((tmp_path / "sessions").iterdir()) == []


def test_a_port_in_use_is_a_clear_refusal(tmp_path):
    import os
    import socket
    import subprocess

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {**os.environ, "VOICEGUIDE_CONFIG": str(tmp_path / "none.yaml")}
        result = subprocess.run([sys.executable, "-m", "voiceguide", "studio", "--port", str(port), "--no-browser"],
                                capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert f"port {port} is in use" in result.stderr and "--port" in result.stderr and "Traceback" not in result.stderr


SIDED_ROUTINE = """\
title: Sided
music: none
lead_in: 1s
sections:
  - title: Neck
    steps:
      - say: Stroke down the side of your neck.
        hold: 4s
        sides: [left, right]
"""


def _leaning_blocks(path) -> list[str]:
    """For each 100 ms block where the channels differ by more than 1 dB, which one is louder, in time order."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    hop = rate // 10
    blocks = data[: len(data) // hop * hop].reshape(-1, hop, 2)
    level = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    return ["left" if left > right else "right" for left, right in level if abs(left - right) > 1.0]


def test_pan_is_a_form_choice_and_turns_the_lean_off(client, folders):
    fields = {f["key"]: f for f in client.get("/api/form").json()["fields"]}
    assert fields["pan"]["choices"] == ["on", "off"] and fields["pan"]["in_routine"]
    leaning = {}
    for choice in ("on", "off"):
        job = client.post("/api/render", json={"yaml": SIDED_ROUTINE, "name": f"sided-{choice}",
                                               "settings": {"engine": "fake", "format": "wav", "pan": choice}})
        assert job.status_code == 202, job.text
        done = _events(client, job.json()["id"])[-1]
        assert done["state"] == "done", done
        leaning[choice] = _leaning_blocks(folders.sessions / done["session"]["name"])
    # On: "Left side first." leans left, "Now the right side." right. Off: every block centred.
    assert leaning["on"] and leaning["on"][0] == "left" and leaning["on"][-1] == "right"
    assert leaning["off"] == []
    bad = client.post("/api/plan", json={"yaml": SIDED_ROUTINE, "settings": {"engine": "fake", "pan": "sideways"}})
    assert bad.status_code == 400 and "pan 'sideways' is not one of: on, off" in bad.json()["error"]
