"""PyTorch reference for `npm run bench`: the same networks as src/model/architectures.ts, timed at
the batch sizes the Node side asks for, so that both run side by side under the same machine load.

Protocol (one JSON object per line): prints {"ready": true, "torch": version, "blas": library,
"threads": n}, then
for each request line {"arch": "seed-cnn"|"resnet", "batch": B, "iters": N, "warmup": W} prints
{"times": [ms, ...]} (one wall-clock time per forward pass, softmax output copied out). Exits at EOF.

Usage: python3 bench/torch_inference.py [--threads 2]
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn


def seed_cnn(num_classes: int = 8) -> nn.Module:
    """Conv50-Conv75-MaxPool-Conv125-MaxPool-Dense500-Dense250-Dense8, 3x3 'same' convs, ReLU."""
    return nn.Sequential(
        nn.Conv2d(3, 50, 3, padding=1), nn.ReLU(),
        nn.Conv2d(50, 75, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(75, 125, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(125 * 8 * 8, 500), nn.ReLU(), nn.Dropout(0.4),
        nn.Linear(500, 250), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(250, num_classes), nn.Softmax(dim=1),
    )


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, identity: bool):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None if identity else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + (x if self.short is None else self.short(x)))


class ResNet8(nn.Module):
    """The `resnet` architecture: 3x3 stem, three one-block stages (16/32/64, strides 1/2/2), BN, GAP."""

    def __init__(self, num_classes: int = 8, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(Block(cin, w, 1 if i == 0 else 2, i == 0 and w == widths[0]))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(cin, num_classes), nn.Softmax(dim=1))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def blas_library() -> str:
    """The BLAS shared library this process loaded (read from /proc/self/maps after a matmul): Debian's
    torch links the generic libblas.so.3, which is OpenBLAS only when libopenblas0-pthread (or
    -openmp) is installed; the reference BLAS makes torch ~3x slower, a baseline that flatters
    everything beside it."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and line.split()[-1].startswith("/")}
    except OSError:
        return "unknown"
    real = sorted({os.path.realpath(p) for p in libs if "lapack" not in p})
    openblas = [p for p in real if "openblas" in os.path.basename(p)]
    return os.path.basename(openblas[0]) if openblas else (", ".join(real) or "none loaded")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    models = {"seed-cnn": seed_cnn().eval(), "resnet": ResNet8().eval()}
    inputs = {}
    print(json.dumps({"ready": True, "torch": torch.__version__, "blas": blas_library(), "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        model = models[req["arch"]]
        b = int(req["batch"])
        x = inputs.setdefault(b, torch.rand(b, 3, 32, 32))
        times = []
        with torch.inference_mode():
            for i in range(int(req.get("warmup", 1)) + int(req["iters"])):
                t = time.perf_counter()
                model(x).numpy().copy()
                if i >= int(req.get("warmup", 1)):
                    times.append((time.perf_counter() - t) * 1000)
        print(json.dumps({"times": times}), flush=True)


if __name__ == "__main__":
    main()
