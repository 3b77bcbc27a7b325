#!/bin/sh
# test_fetch_data.sh: scripts/fetch_data.sh when every download is bad. The mirrors cannot
# be reached from a test, so npm and apt-get are stubs that fail and curl is a stub that
# records its URL and writes junk: nothing that failed its checksum may be left in the data
# directory (not even a stale copy from before), the script must fail, and every mirror
# it tries must be https. usage: sh tests/test_fetch_data.sh [ignored]
SRC=${LOTTO_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
command -v sha256sum >/dev/null 2>&1 || { echo "SKIP: sha256sum not available"; exit 77; }
T=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/fetch.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/data/mnist" "$T/data/fashion-mnist"
printf '#!/bin/sh\nexit 1\n' > "$T/bin/npm"
printf '#!/bin/sh\nexit 1\n' > "$T/bin/apt-get"
cat > "$T/bin/curl" <<EOF
#!/bin/sh
out=
while [ \$# -gt 0 ]; do
  case \$1 in
    -o) out=\$2; shift ;;
    *://*) echo "\$1" >> "$T/urls" ;;
  esac
  shift
done
[ -n "\$out" ] && echo "not the data set" > "\$out"
exit 0
EOF
chmod +x "$T/bin/npm" "$T/bin/apt-get" "$T/bin/curl"
echo "a stale, corrupt copy" > "$T/data/mnist/train-labels-idx1-ubyte"
echo "a stale, corrupt copy" > "$T/data/fashion-mnist/t10k-labels-idx1-ubyte.gz"

PATH="$T/bin:$PATH" LOTTO_DATA="$T/data" LOTTO_FASHION_DIR="$T/no-local-copy" LOTTO_PLANETOID_RAW="$T/no-planetoid" \
  sh "$SRC/scripts/fetch_data.sh" > "$T/out" 2>&1
rc=$?
fails=0
fail() { echo "FAIL: $*"; sed 's/^/    | /' "$T/out"; fails=$((fails + 1)); }

[ "$rc" -ne 0 ] || fail "exit status 0 although every file failed its checksum"
left=$(find "$T/data" -type f | sed "s|$T/data/||")
[ -z "$left" ] || fail "files left in the data directory: $(echo $left)"
[ -s "$T/urls" ] || fail "the curl fallback was not tried"
http=$(grep -v '^https://' "$T/urls" 2>/dev/null)
[ -z "$http" ] || fail "non-https mirrors: $(echo $http)"
grep -q "fails its checksum" "$T/out" || fail "no message names the failed files"
[ "$(grep -c '^https://' "$T/urls")" = 8 ] || fail "expected 8 https downloads, got: $(cat "$T/urls")"

# CIFAR=1: the CIFAR-10 archive (junk from the stub) fails its MD5, nothing is installed
: > "$T/urls"
PATH="$T/bin:$PATH" LOTTO_DATA="$T/data" LOTTO_FASHION_DIR="$T/no-local-copy" LOTTO_PLANETOID_RAW="$T/no-planetoid" CIFAR=1 \
  sh "$SRC/scripts/fetch_data.sh" > "$T/out" 2>&1
[ $? -ne 0 ] || fail "CIFAR=1: exit status 0 although the archive failed its checksum"
grep -q '^https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz$' "$T/urls" || fail "CIFAR=1: the archive was not fetched over https"
[ -z "$(find "$T/data" -type f)" ] || fail "CIFAR=1: files left in the data directory: $(find "$T/data" -type f)"
grep -q "cifar-10-binary.tar.gz fails its checksum" "$T/out" || fail "CIFAR=1: no message names the archive"

if [ "$fails" -eq 0 ]; then echo "test_fetch_data: 10 checks passed"; exit 0; fi
exit 1
