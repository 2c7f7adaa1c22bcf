#!/usr/bin/env bash
# Shared by ./run.sh and ./test.sh: make .venv with the package installed (and its test extras with --test).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

need_debian=()
if [ "${1:-}" = "--test" ]; then
  while read -r pkg; do
    [ -z "$pkg" ] || [ "${pkg#\#}" != "$pkg" ] && continue
    dpkg -s "$pkg" >/dev/null 2>&1 || need_debian+=("$pkg")
  done < scripts/debian-packages.txt
elif ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  need_debian+=(python3-venv)
fi
if [ "${#need_debian[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${need_debian[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debian[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_debian[*]} (install them with apt-get as root)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi
