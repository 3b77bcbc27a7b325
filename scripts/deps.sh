#!/bin/sh
# Installs the Debian packages lotto needs, only those missing.
# As root through apt-get, otherwise through sudo; without apt, prints the list.
# slurmctld slurmd slurm-client munge: the one-node Slurm cluster of tests/test_slurm.sh.
# `deps.sh fuzz` adds what `make fuzz` needs: clang and libFuzzer.
PKGS="liblua5.4-dev libopenblas-dev libcjson-dev libcmocka-dev gnuplot-nox libreadline-dev zlib1g-dev cmake pkg-config \
slurmctld slurmd slurm-client munge python3-numpy python3-scipy"
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang libfuzzer-14-dev"
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "lotto: apt is not available here. Install these (or your system's equivalents):"
  echo "  Lua 5.4 (headers), OpenBLAS, cJSON, CMocka, gnuplot, readline, zlib, cmake, pkg-config"
  echo "  NumPy and SciPy for Python 3 (make data converts the Planetoid graphs with them)"
  echo "  (and for the Slurm test and backend: Slurm's slurmctld, slurmd, client commands and munge)"
  [ "${1:-}" = fuzz ] && echo "  and for make fuzz: clang with libFuzzer"
  echo "  Debian names: $PKGS"
  exit 0
fi
missing=""
for p in $PKGS; do
  s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
  case "$s" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
echo "lotto: installing missing packages:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "lotto: not root and no sudo; please install:$missing" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet: update first, then install.
$SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends $missing || exit 1
