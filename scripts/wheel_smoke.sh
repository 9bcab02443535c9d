#!/usr/bin/env bash
# What a new user gets: build the wheel from this checkout, install it (not editable) into a fresh virtual
# environment, and run the commands a newcomer runs from a folder outside the checkout, with an empty cache
# and no config. Exits non-zero at the first command that fails.
#
#   bash scripts/wheel_smoke.sh            # uses python3; PYTHON=python3.12 to pick another
#   KEEP=1 bash scripts/wheel_smoke.sh     # leave the work folder behind to look at
set -euo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/voiceguide-smoke-XXXXXX")"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

step() { printf '\n$ %s\n' "$*"; "$@"; }

# Build from a copy of the committed tree plus local edits, so stray build/ or egg-info folders in the
# checkout cannot leak into the wheel.
mkdir -p "$work/src" "$work/dist" "$work/user"
(cd "$checkout" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$work/src" 2>/dev/null) \
  || cp -r "$checkout/." "$work/src"
step "$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/src"
wheel="$(ls "$work/dist"/voiceguide-*.whl)"
echo "built $(basename "$wheel")"

step "$python" -m venv "$work/venv"
step "$work/venv/bin/python" -m pip install --quiet "$wheel"

# A user's own folder, a user's own (empty) cache and config: nothing of the checkout or of this machine's
# earlier runs can help.
cd "$work/user"
export VOICEGUIDE_CACHE_DIR="$work/cache" VOICEGUIDE_CONFIG="$work/config.yaml"
export PYTHONPATH="" PYTHONNOUSERSITE=1
vg="$work/venv/bin/voiceguide"

step "$vg" --version
step "$work/venv/bin/python" -c "import voiceguide, voiceguide.music; print(voiceguide.__file__); assert 'site-packages' in voiceguide.__file__"
step "$vg" routines
step "$vg" music
step "$vg" chimes
step "$vg" render morning -o morning.mp3
step "$work/venv/bin/python" - <<'EOF'
import mutagen.mp3
info = mutagen.mp3.MP3("morning.mp3").info
print(f"morning.mp3: {info.length:.1f} s, {info.bitrate // 1000} kbit/s, {info.sample_rate} Hz")
assert info.length > 60, info.length
EOF
step "$vg" new evening-glow
step "$vg" check evening-glow.yaml
step "$vg" check morning
step "$vg" docs > docs.md
head -n 3 docs.md
grep -q "sections" docs.md

# Bad input: exit 2 with the file and line, no traceback, nothing written.
printf 'title: Broken\nsections:\n  - title: A\n    steps:\n      - say: Hi\n        hodl: 3s\n' > broken.yaml
set +e
"$vg" check broken.yaml 2> err.txt
code=$?
set -e
cat err.txt
[ "$code" = 2 ] || { echo "expected exit 2 for a bad routine, got $code"; exit 1; }
grep -q '^broken.yaml:6:9: ' err.txt || { echo "expected FILE:LINE:COLUMN in the message"; exit 1; }
if grep -q Traceback err.txt; then echo "a traceback was printed"; exit 1; fi

echo
echo "wheel smoke test passed: $(basename "$wheel") from $work/user"
