#!/bin/sh
# test_planetoid_convert.sh: scripts/planetoid.py on a tiny crafted raw Planetoid set (pickled
# CSR matrices, one-hot arrays, an adjacency dict, an unsorted test.index with a gap), read back
# by lotto: node order, padding, de-duplication, split; and a truncated pickle refused by name.
# usage: sh tests/test_planetoid_convert.sh path/to/lotto
LOTTO=${1:?usage: test_planetoid_convert.sh path/to/lotto}
SRC=${LOTTO_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import numpy, scipy.sparse' 2>/dev/null; then
  echo "SKIP: $PY lacks numpy/scipy (make deps installs python3-numpy python3-scipy)"; exit 77
fi
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/planetoid.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# 7 nodes, 2 features, 2 classes: allx = nodes 0..3 (x, y = the first 2 labelled), tx rows
# belong to nodes 6 and 4 (test.index order), node 5 is missing from tx (padded, unlabelled).
# graph: a duplicate (0-1 twice, and 1-0), a self-loop (2-2), 5-6 reaching the padded node.
"$PY" - "$TMP/raw" <<'EOF' || { echo "FAIL: crafting the raw set"; exit 1; }
import os, pickle, sys
from collections import defaultdict
import numpy as np, scipy.sparse as sp
d = sys.argv[1]; os.makedirs(d)
def dump(part, obj):
    with open(os.path.join(d, "ind.tiny." + part), "wb") as f: pickle.dump(obj, f, protocol=2)
allx = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1], [0, 2]], np.float32))
ally = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
dump("x", allx[:2]); dump("y", ally[:2]); dump("allx", allx); dump("ally", ally)
dump("tx", sp.csr_matrix(np.array([[3, 0], [0, 4]], np.float32))); dump("ty", np.array([[0, 1], [1, 0]]))
g = defaultdict(list, {0: [1, 1], 1: [0, 2], 2: [2, 1], 3: [], 4: [6], 6: [4, 5]})
dump("graph", g)
open(os.path.join(d, "ind.tiny.test.index"), "w").write("6\n4\n")
EOF

"$PY" "$SRC/scripts/planetoid.py" "$TMP/raw" "$TMP/out" tiny >"$TMP/log" 2>&1 ||
  { fail "conversion failed"; cat "$TMP/log"; }
grep -q 'tiny: 7 nodes, 4 undirected edges, 2 features, 2 classes' "$TMP/log" || fail "summary line: $(cat "$TMP/log")"

cat >"$TMP/check.lua" <<'EOF'
local D = require 'lotto.data'
local g = assert(D.read_planetoid(arg[1]))
local function same(a, b) return require('lotto.json').encode(a) == require('lotto.json').encode(b) end
local want = {
  x = { { 1, 0 }, { 0, 1 }, { 1, 1 }, { 0, 2 }, { 0, 4 }, { 0, 0 }, { 3, 0 } }, -- tx[1] is node 4, tx[0] node 6
  y = { 0, 1, 1, 0, 0, -1, 1 },
  edges = { { 0, 1 }, { 1, 2 }, { 4, 6 }, { 5, 6 } },
  train = { 0, 1 }, val = { 2, 3 }, test = { 6, 4 },
}
local bad = 0
for k, v in pairs(want) do
  if not same(g[k]:totable(), v) then
    bad = bad + 1
    print(('FAIL: %s is %s, expected %s'):format(k, require('lotto.json').encode(g[k]:totable()),
      require('lotto.json').encode(v)))
  end
end
os.exit(bad == 0 and 0 or 1)
EOF
"$LOTTO" "$TMP/check.lua" "$TMP/out/tiny.safetensors" || fail "converted tiny set differs"

# a truncated pickle: exit status 1 and a message naming the file
head -c 40 "$TMP/raw/ind.tiny.graph" >"$TMP/g" && mv "$TMP/g" "$TMP/raw/ind.tiny.graph"
if "$PY" "$SRC/scripts/planetoid.py" "$TMP/raw" "$TMP/out2" tiny >"$TMP/log" 2>&1; then
  fail "a truncated ind.tiny.graph was accepted"
fi
grep -q 'ind.tiny.graph is not a valid Planetoid file' "$TMP/log" || fail "truncated pickle message: $(cat "$TMP/log")"
[ -e "$TMP/out2/tiny.safetensors" ] && fail "a failed conversion left an output file"
rm "$TMP/raw/ind.tiny.tx"
"$PY" "$SRC/scripts/planetoid.py" "$TMP/raw" "$TMP/out2" tiny >"$TMP/log" 2>&1
grep -q 'cannot read .*ind.tiny.tx' "$TMP/log" || fail "missing file message: $(cat "$TMP/log")"
"$PY" "$SRC/scripts/planetoid.py" --help | grep -q 'safetensors' || fail "--help"

[ $fails = 0 ] && echo "test_planetoid_convert: all passed"
[ $fails = 0 ]
