#!/usr/bin/python3
"""planetoid.py: converts the raw Planetoid release (ind.<name>.{x,y,tx,ty,allx,ally,graph,
test.index}) into one safetensors file per data set that lotto reads natively.

    /usr/bin/python3 scripts/planetoid.py RAW_DIR OUT_DIR [cora citeseer]

Each <OUT_DIR>/<name>.safetensors holds
  features  F32 (N, F)  node features in node order (row i is node i), not normalised
  labels    I32 (N)     class id, -1 for the padded (isolated, unlabelled) Citeseer test nodes
  edges     I32 (E, 2)  undirected edges u < v, de-duplicated, no self-loops, sorted
  train, val, test  I32 node indices of the standard public split
and metadata name, nodes, features, classes, edges. The pickles hold scipy CSR matrices,
so this needs NumPy and SciPy (Debian's python3-numpy, python3-scipy: `make deps`).
The node order and the padding follow Kipf & Welling's loader (gcn/utils.py).
"""
import json
import os
import pickle
import struct
import sys
import warnings

import numpy as np
import scipy.sparse as sp

TRAIN = {"cora": 140, "citeseer": 120}
# the pickles name scipy.sparse.csr.csr_matrix, a path newer SciPy warns about
warnings.filterwarnings("ignore", category=DeprecationWarning)


def fail(msg):
    sys.stderr.write("planetoid.py: %s\n" % msg)
    sys.exit(1)


def load(raw, name, part):
    path = os.path.join(raw, "ind.%s.%s" % (name, part))
    try:
        with open(path, "rb") as f:
            if part == "test.index":
                return [int(line) for line in f.read().decode("ascii").split()]
            return pickle.load(f, encoding="latin1")
    except OSError as e:
        fail("cannot read %s: %s" % (path, e.strerror))
    except Exception as e:  # a truncated or foreign pickle
        fail("%s is not a valid Planetoid file (%s)" % (path, e))


def dense(m):
    return np.asarray(m.todense() if sp.issparse(m) else m, dtype=np.float32)


def convert(raw, name):
    x, y, tx, ty, allx, ally, graph = (load(raw, name, p) for p in ("x", "y", "tx", "ty", "allx", "ally", "graph"))
    test_index = load(raw, name, "test.index")
    allx, tx, ally, ty = dense(allx), dense(tx), dense(ally), dense(ty)
    if tx.shape[0] != len(test_index) or ty.shape[0] != len(test_index):
        fail("ind.%s.tx/ty have %d/%d rows but test.index has %d" % (name, tx.shape[0], ty.shape[0], len(test_index)))
    lo, hi = min(test_index), max(test_index)
    if lo != allx.shape[0] or len(set(test_index)) != len(test_index):
        fail("ind.%s.test.index must hold distinct ids from %d (the allx rows) on" % (name, allx.shape[0]))
    # test row k is node test_index[k]; ids in lo..hi missing from test.index are isolated
    # Citeseer nodes without features or label, padded with zero rows (label -1) as Kipf's loader does
    n = allx.shape[0] + hi - lo + 1
    features = np.zeros((n, allx.shape[1]), np.float32)
    labels1h = np.zeros((n, ally.shape[1]), np.float32)
    features[:lo], labels1h[:lo] = allx, ally
    features[test_index], labels1h[test_index] = tx, ty
    n = features.shape[0]
    labels = np.where(labels1h.sum(1) > 0, labels1h.argmax(1), -1).astype(np.int32)

    edges = set()
    for u, nbrs in graph.items():
        for v in nbrs:
            if u == v:
                continue
            if not (0 <= u < n and 0 <= v < n):
                fail("ind.%s.graph: edge (%d, %d) outside the %d nodes" % (name, u, v, n))
            edges.add((min(u, v), max(u, v)))
    if len(graph) > n:
        fail("ind.%s.graph names %d nodes, features have %d" % (name, len(graph), n))
    edges = np.array(sorted(edges), dtype=np.int32).reshape(-1, 2)

    ntrain = TRAIN.get(name, y.shape[0])  # = rows of ind.<name>.x; other sets: that count
    nval = min(500, lo - ntrain)           # 500 on Cora and Citeseer; fewer on a tiny crafted set
    split = {
        "train": np.arange(0, ntrain, dtype=np.int32),
        "val": np.arange(ntrain, ntrain + nval, dtype=np.int32),
        "test": np.array(test_index, dtype=np.int32),
    }
    tensors = {"features": features, "labels": labels, "edges": edges}
    tensors.update(split)
    meta = {"name": name, "nodes": str(n), "features": str(features.shape[1]),
            "classes": str(labels1h.shape[1]), "edges": str(edges.shape[0]),
            "source": "Planetoid public split (kimiyoung/planetoid data/ind.%s.*)" % name}
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for key in sorted(tensors):
        a = np.ascontiguousarray(tensors[key])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    raw, out = argv[1], argv[2]
    os.makedirs(out, exist_ok=True)
    for name in argv[3:] or ["cora", "citeseer"]:
        tensors, meta = convert(raw, name)
        path = os.path.join(out, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        print("lotto: %s: %s nodes, %s undirected edges, %s features, %s classes -> %s"
              % (name, meta["nodes"], meta["edges"], meta["features"], meta["classes"], path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
