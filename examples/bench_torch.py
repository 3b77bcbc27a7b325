#!/usr/bin/env python3
"""bench_torch.py: the PyTorch half of bench_torch.lua. A worker: it loads the batches
lotto wrote (a safetensors file: <model>_x (K*B, C, H, W) and <model>_y (K, B) for the
models lotto asks for: lenet, conv, resnet20, vgg19), then runs training steps on
request, so that lotto's and PyTorch's steps alternate in one run. Protocol: the first
line it writes is "ready <torch version> <threads> <blas>" or "notorch <reason>"; then
for each request line "<model> <iters>" on stdin it replies "ok <wall> <cpu>" (seconds
of the iters steps: wall clock and process CPU time); "quit" ends it.

Thread settings come from the environment, set before torch is imported
(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS; bench_torch.lua sets them), and so does the
OpenBLAS kernel: the worker inherits lotto's OPENBLAS_CORETYPE when lotto set one.

  python3 examples/bench_torch.py BATCHES.safetensors THREADS
"""
import json
import struct
import sys
import time


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def read_safetensors(path, torch):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        if d["dtype"] != "F32":
            raise ValueError("%s: dtype %s, expected F32" % (name, d["dtype"]))
        a, b = d["data_offsets"]
        buf = bytearray(raw[8 + n + a : 8 + n + b])
        out[name] = torch.frombuffer(buf, dtype=torch.float32).reshape(d["shape"]).clone()
    return out


def models(torch):
    nn = torch.nn
    lenet = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)
    )
    # Conv-2 of Frankle & Carbin on 1x28x28 inputs, as lotto.models.conv2{input = {1, 28, 28}}
    conv = nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 14 * 14, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
    )

    class Block(nn.Module):  # lotto.models' basic block: projection shortcut (option B) on a change
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            )
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return torch.relu(self.body(x) + (x if self.short is None else self.short(x)))

    layers, cin = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for stage in range(3):
        cout = 16 << stage
        for b in range(3):
            layers.append(Block(cin, cout, 2 if b == 0 and stage > 0 else 1))
            cin = cout
    resnet20 = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    vgg19 = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))
    return {"lenet": lenet, "conv": conv, "resnet20": resnet20, "vgg19": vgg19}


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        say(__doc__.strip())
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    try:
        import torch
    except Exception as e:  # no torch, or a broken install
        say("notorch %s" % str(e).replace("\n", " "))
        return 0
    threads = int(argv[2])
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(1)
    data = read_safetensors(argv[1], torch)
    nets = {k: m for k, m in models(torch).items() if k + "_x" in data}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in nets.items()}
    loss_fn = torch.nn.CrossEntropyLoss()
    pos = {k: 0 for k in nets}

    def steps(kind, n):
        y = data[kind + "_y"].long()
        x = data[kind + "_x"]
        x = x.reshape(y.shape[0], y.shape[1], *x.shape[1:])
        m, opt = nets[kind], opts[kind]
        for _ in range(n):
            k = pos[kind] % x.shape[0]
            pos[kind] += 1
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(m(x[k]), y[k])
            loss.backward()
            opt.step()

    for kind in nets:  # warm-up: first-call allocations stay out of the figures
        steps(kind, 1 if kind == "vgg19" else 3)
    blas = "unknown"
    try:
        cfg = torch.__config__.show()
        info = cfg.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in cfg else "unknown"
        # Debian builds with BLAS_INFO=generic: libblas.so.3, which its alternatives point at OpenBLAS
        blas = {"open": "openblas", "mkl": "mkl", "generic": "libblas(generic)"}.get(info, info)
        blas += "+onednn" if "USE_MKLDNN=ON" in cfg or "MKLDNN" in cfg else ""
    except Exception:
        pass
    say("ready %s %d %s" % (torch.__version__, torch.get_num_threads(), blas))
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] not in nets or len(words) != 2:
            say("error bad request %r" % line.strip())
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        steps(words[0], int(words[1]))
        say("ok %.9f %.9f" % (time.perf_counter() - t0, time.process_time() - c0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
