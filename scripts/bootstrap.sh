#!/usr/bin/env bash
# Makes a fresh machine able to build and test Gantry: installs what is missing with apt-get
# (Debian packages) and checks the Rust toolchain. Idempotent: does nothing when all is there.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-dev)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
for extra in "$@"; do command -v "$extra" >/dev/null 2>&1 || need_apt+=("$extra"); done

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y "${need_apt[@]}" || { $SUDO apt-get update && $SUDO apt-get install -y "${need_apt[@]}"; }
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo (the Rust toolchain) is required to build Gantry's native core; install it with rustup" >&2
  exit 1
fi
