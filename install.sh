#!/usr/bin/env bash
# Install cronkit into a virtual environment beside this file and put `cronkit` on the PATH.
#   ./install.sh                 the tool, its dependencies at the versions in requirements/lock.txt
#   ./install.sh --dev           the tool plus the test and docs tools (requirements/dev-lock.txt,
#                                docs-lock.txt), and as root
#                                on Debian the system packages the test suite needs (apt-get)
#   ./install.sh --dev --latest  the newest versions pyproject.toml allows instead of the locked ones
# Running it again upgrades in place; it never touches a crontab. scripts/lock refreshes the locks.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="${CRONKIT_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
dev=false
latest=false
for arg in "$@"; do
  case "$arg" in
    --dev) dev=true ;;
    --latest) latest=true ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# The Debian packages the test suite runs (README "Set up"), each found by a command it installs.
test_packages() {
  command -v redis-server >/dev/null || echo redis-server
  command -v redis-benchmark >/dev/null || echo redis-tools
  { command -v cron && command -v crontab; } >/dev/null || echo cron
  command -v sqlite3 >/dev/null || echo sqlite3
  command -v chromium >/dev/null || echo chromium
  command -v chromedriver >/dev/null || echo chromium-driver
  command -v promtool >/dev/null || echo prometheus
  command -v systemd-analyze >/dev/null || echo systemd
  command -v faketime >/dev/null || echo faketime
}

has_venv() { "$python" -c 'import venv, ensurepip' 2>/dev/null; }

missing=()
has_venv || missing+=(python3-venv)
if $dev; then
  while read -r package; do missing+=("$package"); done < <(test_packages)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install.sh: installing Debian packages: ${missing[*]}"
    log=$(mktemp)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      echo "install.sh: apt-get failed (above)" >&2
      exit 1
    fi
    rm -f "$log"
  elif command -v apt-get >/dev/null; then
    echo "install.sh: missing Debian packages; as root, run: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  else
    echo "install.sh: missing system packages (Debian names): ${missing[*]}" >&2
  fi
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: cronkit needs Python 3.11 or newer ($python is $("$python" -V 2>&1))" >&2
  exit 1
fi
if ! has_venv; then
  echo "install.sh: $python lacks venv/ensurepip; on Debian: apt-get install python3-venv" >&2
  exit 1
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
if $latest; then
  # The newest releases the ranges in pyproject.toml allow: what the next lock would pin.
  "${pip[@]}" install --upgrade pip
  group=()
  $dev && group=(--group "$here/pyproject.toml:dev" --group "$here/pyproject.toml:docs")
  "${pip[@]}" install --upgrade --upgrade-strategy eager "$here" "${group[@]}"
else
  # The versions the tests passed with, each file checked against its sha256 (hash-checking mode).
  lock="$here/requirements/lock.txt"
  $dev && lock="$here/requirements/dev-lock.txt"
  # The locked pip first (its line and hashes): a venv's bundled pip is older and slower.
  pin=$(mktemp)
  awk '/^pip==/ { found = 1 } found { print } found && !/\\$/ { exit }' "$lock" >"$pin"
  "${pip[@]}" install --requirement "$pin"
  rm -f "$pin"
  "${pip[@]}" install --requirement "$lock"
  # The documentation site's tools: the suite builds the site (tests/docs) as CI does.
  $dev && "${pip[@]}" install --require-hashes --requirement "$here/requirements/docs-lock.txt"
  # cronkit itself, built with the locked setuptools. A regular (not editable) install: `cronkit
  # run` starts on every cron tick, and an editable install's import hook costs it time.
  "${pip[@]}" install --upgrade --no-deps --no-build-isolation "$here"
fi

if [ "$(id -u)" = 0 ]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
mkdir -p "$bindir"
ln -sfn "$venv/bin/cronkit" "$bindir/cronkit"
echo "cronkit $("$venv/bin/cronkit" --version 2>/dev/null || true) installed: $bindir/cronkit -> $venv/bin/cronkit"
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "note: $bindir is not on your PATH; add it, or call $venv/bin/cronkit" ;;
esac
