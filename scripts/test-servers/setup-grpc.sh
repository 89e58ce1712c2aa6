#!/usr/bin/env bash
# Install the real KServe-v2 gRPC servers the gRPC tests start (idempotent, registry-only).
#
#   triton   : NVIDIA Triton 2.x bundled in PyPI `nvidia-pytriton`, in venv-pytriton   (~1-2 min)
#   mlserver : Seldon MLServer 1.7.1 (PyPI `mlserver`), in venv-mlserver                 (~2-3 min)
#
# usage: scripts/test-servers/setup-grpc.sh [triton] [mlserver]     (default: both)
# Env:   GUIDELLM_TEST_SERVERS  cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/guidellm-test-servers)
#        PY                     interpreter the venvs are made from (default python3)
# Nothing is written into the checkout; the model code the servers run lives in
# scripts/test-servers/grpc/ and is started by guidellm/testing/grpc_servers.py.
set -euo pipefail
ROOT="${GUIDELLM_TEST_SERVERS:-${XDG_CACHE_HOME:-$HOME/.cache}/guidellm-test-servers}"
PY="${PY:-python3}"
PYTRITON_VERSION="${PYTRITON_VERSION:-0.7.0}"
MLSERVER_VERSION="${MLSERVER_VERSION:-1.7.1}"
mkdir -p "$ROOT/logs"
WHAT=("$@"); [ ${#WHAT[@]} -eq 0 ] && WHAT=(triton mlserver)
log() { echo "[setup-grpc $(date +%T)] $*" >&2; }

make_venv() { # dir
  [ -x "$1/bin/python" ] || "$PY" -m venv "$1"
}

setup_triton() {
  local V="$ROOT/venv-pytriton"
  if [ -x "$V/bin/python" ] && "$V/bin/python" -c "import pytriton.triton" 2>/dev/null; then
    log "triton: nvidia-pytriton already installed"; return; fi
  make_venv "$V"
  log "triton: pip install nvidia-pytriton==$PYTRITON_VERSION"
  "$V/bin/pip" install -q --disable-pip-version-check "nvidia-pytriton==$PYTRITON_VERSION"
  "$V/bin/python" -c "import pytriton.triton"
}

setup_mlserver() {
  local V="$ROOT/venv-mlserver"
  if [ -x "$V/bin/mlserver" ] && "$V/bin/python" -c "import mlserver" 2>/dev/null; then
    log "mlserver: already installed"; return; fi
  make_venv "$V"
  log "mlserver: pip install mlserver==$MLSERVER_VERSION"
  "$V/bin/pip" install -q --disable-pip-version-check "mlserver==$MLSERVER_VERSION"
  "$V/bin/python" -c "import mlserver"
}

for w in "${WHAT[@]}"; do
  t0=$(date +%s)
  case "$w" in
    triton) setup_triton ;;
    mlserver) setup_mlserver ;;
    *) echo "unknown component '$w' (use: triton mlserver)" >&2; exit 2 ;;
  esac
  log "$w ready in $(( $(date +%s) - t0 )) s under $ROOT"
done
