#!/usr/bin/env bash
# The wheel as a user gets it: build it, install it in a fresh environment, run a scenario.
#
#   1. build the sdist and the wheel from it (`python -m build --no-isolation`: the repo's .venv
#      has setuptools and build; nothing to fetch)
#   2. a fresh venv with drydock-emulator[trainer,report,fireworks] (torch: the CPU wheel
#      $DRYDOCK_TORCH_SPEC; third-party packages come from cached layers, see below)
#   3. from outside the repo: `drydock run preempt-mid-step` passes (exit 0), --out writes files
#   4. a fresh venv with [trainer,report] only (no real client): exit 2, and the message names
#      the extra to install
#   5. a fresh venv with the core only: no torch, matplotlib, hypothesis or real client, yet
#      drydock.sdk, the server and the command import; the scenario names both extras
#
# Usage: scripts/check_wheel.sh [WORKDIR]  (default: a temporary directory, removed at the end)
# Env: PYTHON (python3), DRYDOCK_TORCH_SPEC (torch==2.13.0), KEEP=1 keeps WORKDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}
TORCH_SPEC=${DRYDOCK_TORCH_SPEC:-torch==2.13.0}
BUILD_PY=${BUILD_PYTHON:-$REPO/.venv/bin/python}
WORK=${1:-$(mktemp -d -t drydock-wheel.XXXXXX)}
if [ -z "${1:-}" ] && [ -z "${KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; fi
quiet() { "$@" 2>&1 | grep -v "^WARNING: Location" || true; test "${PIPESTATUS[0]}" -eq 0; }
step() { printf '[check_wheel %3ds] %s\n' "$SECONDS" "$*"; }

step "build the wheel"
rm -rf "$WORK/dist" && mkdir -p "$WORK/dist" "$WORK/run"
# sdist first, then the wheel from the unpacked sdist: what a user installs, and nothing stale
# from an old build/ folder can slip in.
quiet "$BUILD_PY" -m build -q --no-isolation --outdir "$WORK/dist" "$REPO"
WHEEL=$(ls "$WORK"/dist/drydock_emulator-*.whl)
"$BUILD_PY" - "$WHEEL" "$REPO" <<'EOF'
import pathlib, sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
repo = pathlib.Path(sys.argv[2])
# every module in the wheel is a file of the tree (drydock/<pkg>/... <- <pkg>/...)
gone = sorted(n for n in names if n.startswith("drydock/") and n.endswith(".py")
              and not (repo / n.removeprefix("drydock/")).is_file())
assert not gone, f"wheel holds modules the tree does not: {gone}"
need = {"drydock/wire/__init__.py", "drydock/wire/fireworks/__init__.py", "drydock/cli/__init__.py",
        "drydock/scenarios/library/preempt-mid-step.yaml", "drydock/scenarios/library/README.md"}
need |= {f"drydock/{p}/py.typed" for p in ("wire", "sdk", "cli", "emulator", "trainer",
                                           "scenarios", "testing")}
missing = sorted(need - names)
stray = sorted(n for n in names if n.startswith(("tests/", "drydock/tests/")) or "__pycache__" in n)
assert not missing and not stray, f"wheel: missing {missing}, stray {stray}"
print(f"  {sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} files")
EOF

# Third-party dependencies live in two cached layers (keyed by the wheel's requirements, the
# torch spec and the Python version), built once with `pip install --target`: A holds what
# [trainer,report] needs, B the real client (pinned to A's versions where they overlap). Each
# check venv is new and gets only the wheel; a .pth file puts the layers on its path, so pip
# still resolves the extras against them but unpacks nothing big (torch alone takes ~50 s).
REQS=$("$BUILD_PY" - "$WHEEL" <<'EOF2'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
print("\n".join(l for l in z.read(meta).decode().splitlines() if l.startswith("Requires-Dist:")))
EOF2
)
FW_REQ=$(printf '%s\n' "$REQS" | sed -n 's/^Requires-Dist: \(fireworks-ai[^;]*\); extra == "fireworks".*/\1/p' | tr -d ' ')
KEY=$(printf '%s\n%s\n%s\n' "$REQS" "$TORCH_SPEC" "$("$PY" -V)" | sha256sum | cut -c1-16)
CACHE_ROOT=${DRYDOCK_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock-check-wheel}
CACHE=$CACHE_ROOT/$KEY
if [ ! -f "$CACHE/.done" ]; then
  # layers of older requirements are dead weight (about 1.5 GB each)
  mkdir -p "$CACHE_ROOT" && find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 ! -name "$KEY" -exec rm -rf {} +
  step "build the dependency layers once ($CACHE)"
  rm -rf "$CACHE" && mkdir -p "$CACHE"
  quiet "$BUILD_PY" -m pip install -q --target "$CACHE/A" "$TORCH_SPEC" "$WHEEL[trainer,report]"
  rm -rf "$CACHE"/A/drydock "$CACHE"/A/drydock_emulator-*.dist-info "$CACHE"/A/bin/drydock
  "$BUILD_PY" -m pip list -q --path "$CACHE/A" --format=freeze 2>/dev/null > "$CACHE/A.txt"
  quiet "$BUILD_PY" -m pip install -q --target "$CACHE/B" -c "$CACHE/A.txt" "$FW_REQ"
  touch "$CACHE/.done"
fi

fresh_venv() {  # fresh_venv DIR LAYER...: a new venv that sees the given layers
  local dir=$1; shift
  rm -rf "$dir" && "$PY" -m venv "$dir"
  local site; site=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf 'import site; site.addsitedir(%s)\n' "'$CACHE/$1'" > "$site/zz_layers.pth"
  shift
  for layer in "$@"; do printf 'import site; site.addsitedir(%s)\n' "'$CACHE/$layer'" >> "$site/zz_layers.pth"; done
}

step "fresh venv: the wheel with [trainer,report,fireworks]"
fresh_venv "$WORK/venv" A B
V="$WORK/venv/bin"
quiet "$V/python" -m pip install "$WHEEL[trainer,report,fireworks]" | grep "^Successfully" | cut -c1-160

step "drydock run preempt-mid-step (from outside the repo)"
cd "$WORK/run"
"$V/python" - <<'EOF'
import drydock.cli, drydock.sdk, sys
assert "/site-packages/" in drydock.cli.__file__, drydock.cli.__file__  # the wheel, not the repo
EOF
"$V/drydock" --version
"$V/drydock" run preempt-mid-step --no-live --timeline-limit 0 --out out > run.txt \
    || { cat run.txt; echo "check_wheel: drydock run failed"; exit 1; }
tail -n 3 run.txt
test -s out/events.jsonl && test -s out/summary.json && test -s out/timeline.png

step "a fresh venv without the real client: exit 2 naming the extra"
cd "$REPO"
fresh_venv "$WORK/venv-nofw" A
quiet "$WORK/venv-nofw/bin/python" -m pip install -q "$WHEEL[trainer,report]"
cd "$WORK/run"
set +e
"$WORK/venv-nofw/bin/drydock" run preempt-mid-step --no-live > missing.out 2> missing.err
rc=$?
set -e
cat missing.err
if [ "$rc" -ne 2 ] || ! grep -q "pip install 'drydock-emulator\[fireworks\]'" missing.err; then
  echo "check_wheel: expected exit 2 naming drydock-emulator[fireworks], got $rc"; exit 1
fi
step "a fresh venv with the core only (no torch, matplotlib, hypothesis, real client)"
rm -rf "$WORK/venv-core" && "$PY" -m venv "$WORK/venv-core"
C="$WORK/venv-core/bin"
quiet "$C/python" -m pip install -q "$WHEEL"
"$C/python" - <<'EOF'
import importlib.util
import drydock.sdk, drydock.emulator, drydock.cli  # the client, the server and the command
present = [m for m in ("torch", "matplotlib", "hypothesis", "fireworks") if importlib.util.find_spec(m)]
assert not present, f"the core pulled in {present}"
EOF
"$C/drydock" validate preempt-mid-step
set +e
"$C/drydock" run preempt-mid-step --no-live > core.out 2> core.err
rc=$?
set -e
cat core.err
if [ "$rc" -ne 2 ] || ! grep -q "pip install 'drydock-emulator\[trainer,fireworks\]'" core.err; then
  echo "check_wheel: expected exit 2 naming drydock-emulator[trainer,fireworks], got $rc"; exit 1
fi
step "ok"
