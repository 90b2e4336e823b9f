#!/usr/bin/env bash
# Install cronkit into a virtual environment beside this file and put `cronkit` on the PATH.
#   ./install.sh          the tool
#   ./install.sh --dev    the tool plus the test dependencies (pytest, hypothesis, kubernetes-validate)
# Running it again upgrades in place; it never touches a crontab.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="${CRONKIT_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
extras=""
for arg in "$@"; do
  case "$arg" in
    --dev) extras="[dev]" ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: cronkit needs Python 3.11 or newer ($python is $("$python" -V 2>&1))" >&2
  exit 1
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "install.sh: $python lacks venv/ensurepip; on Debian: apt-get install python3-venv" >&2
  exit 1
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# A regular (not editable) install: `cronkit run` starts on every cron tick, and an editable
# install's import hook costs it time.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$here$extras"

if [ "$(id -u)" = 0 ]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
mkdir -p "$bindir"
ln -sfn "$venv/bin/cronkit" "$bindir/cronkit"
echo "cronkit $("$venv/bin/cronkit" --version 2>/dev/null || true) installed: $bindir/cronkit -> $venv/bin/cronkit"
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "note: $bindir is not on your PATH; add it, or call $venv/bin/cronkit" ;;
esac
