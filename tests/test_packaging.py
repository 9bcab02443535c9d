"""What ships: the sdist and the wheel built from it hold every module, routine, track and doc, and no data
package hides a module (voiceguide.music once did, breaking every command of an installed wheel).

The wheel installed in a fresh venv and run from another folder is scripts/wheel_smoke.sh, which CI runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`python -m build` makes the sdist, then the wheel from the unpacked sdist (as pip does from PyPI)."""
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src")
    # A clean copy of the tracked files: a stray build/ or egg-info in the checkout must not leak in.
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        target = src / name.decode()
        if (ROOT / name.decode()).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((ROOT / name.decode()).read_bytes())
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = out.glob("voiceguide-*.tar.gz")
    (wheel,) = out.glob("voiceguide-*.whl")
    return sdist, wheel


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_no_package_in_the_wheel_hides_a_module(built):
    names = _wheel_names(built[1])
    modules = {n[: -len(".py")] for n in names if n.endswith(".py")}
    folders = {n.rsplit("/", 1)[0] for n in names if "/" in n and not n.startswith("voiceguide-")}
    assert not modules & folders, f"a package folder and a module share a name: {sorted(modules & folders)}"
    assert "voiceguide/music.py" in names


def test_the_wheel_holds_every_module_routine_track_and_doc(built):
    names = _wheel_names(built[1])
    # What git tracks is what a clone builds from (a new module not yet added is not in either).
    tracked = subprocess.run(["git", "ls-files", "voiceguide"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    source_modules = {name for name in tracked if name.endswith(".py")}
    assert source_modules <= names, sorted(source_modules - names)
    routines = {f"voiceguide/routines/{p.name}" for p in (ROOT / "voiceguide" / "routines").glob("*.yaml")}
    assert routines and routines <= names
    index = json.loads((ROOT / "music" / "tracks.json").read_text(encoding="utf-8"))
    tracks = {f"voiceguide/builtin_music/{entry['file']}" for entry in index}
    assert len(tracks) >= 4 and tracks <= names
    assert "voiceguide/builtin_music/tracks.json" in names
    assert "voiceguide/builtin_docs/routine-format.md" in names
    assert "voiceguide/voice/lexicon.yaml" in names  # the built-in pronunciations


def test_the_sdist_holds_the_top_level_folders(built):
    with tarfile.open(built[0]) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "music/tracks.json", "music/warm-pad.ogg",
                   "docs/routine-format.md", "voiceguide/music.py", "voiceguide/routines/sculpt.yaml"):
        assert needed in names, needed


def test_the_installed_layout_finds_tracks_and_docs(built, tmp_path):
    """The wheel unpacked on its own (no checkout beside it) finds its tracks, routines and docs."""
    with zipfile.ZipFile(built[1]) as archive:
        archive.extractall(tmp_path / "site")
    probe = (
        "import sys; from voiceguide import library, music\n"
        "assert library.__file__.startswith(sys.argv[1]), library.__file__\n"
        "tracks = library.builtin_tracks()\n"
        "assert {'warm-pad', 'ocean-wash'} <= set(tracks), tracks\n"
        "assert all(t.path.is_file() and t.path.is_relative_to(sys.argv[1]) for t in tracks.values())\n"
        "assert 'sculpt' in library.builtin_routines()\n"
        "assert library.routine_format_text().startswith('#')\n"
        "assert music.Loop\n"
    )
    site = str(tmp_path / "site")
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {site!r}); exec({probe!r})", site],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
