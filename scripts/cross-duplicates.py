#!/usr/bin/env python3
"""Finds recordings shared between two clip folders (e.g. an extra training set and the ambient set).

usage: python3 scripts/cross-duplicates.py [--any-class] EXTRA_DIR PRIMARY_DIR [THRESHOLD]   (needs python3-numpy)

Both folders hold manifest.csv (clip,class,...,group) and 16-bit mono WAV clips. For every clip of
EXTRA_DIR and every clip of the same class in PRIMARY_DIR, the peak of the normalised
cross-correlation over all lags is computed: the same recording cut at other offsets peaks near the
overlap share (0.5–1.0); different recordings of a texture stay well under 0.3. Prints the group pairs
above THRESHOLD (default 0.4), highest first; exit 1 when there are any.

--any-class compares every EXTRA clip with every PRIMARY clip whatever their classes (a background
recording that is a copy of a target one is as much a leak as a same-class copy). Clips longer than
1 s (the background recipe's 8-s stretches) are compared second by second. To keep that affordable
(every piece against every clip) it compares the signals averaged down to 4 kHz: a copy of a
recording still peaks near its overlap share there.
"""
import collections, csv, sys, wave
import numpy as np

DECIMATE = 1  # 4 with --any-class (see above)

def pieces(path):
    """The clip's 1-s pieces (at least one, zero-padded), each normalised."""
    with wave.open(path) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    n = max(1, len(x) // 16000)
    x = np.pad(x[: n * 16000], (0, max(0, n * 16000 - len(x)))).reshape(n, 16000 // DECIMATE, DECIMATE).mean(axis=2)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)

def load(path):
    return pieces(path)[0]

args = [a for a in sys.argv[1:] if a != '--any-class']
any_class = len(args) != len(sys.argv) - 1
extra_dir, primary_dir = args[0].rstrip('/') + '/', args[1].rstrip('/') + '/'
threshold = float(args[2]) if len(args) > 2 else 0.4
if any_class:
    DECIMATE = 4
NFFT = 32768 // DECIMATE
extra = list(csv.DictReader(open(extra_dir + 'manifest.csv')))
primary = list(csv.DictReader(open(primary_dir + 'manifest.csv')))
best = collections.defaultdict(float)
for cls in [None] if any_class else sorted({x['class'] for x in extra}):
    ex = [x for x in extra if any_class or x['class'] == cls]
    pr = [x for x in primary if any_class or x['class'] == cls]
    if not pr:
        continue
    pf = np.fft.rfft(np.stack([load(primary_dir + x['clip']) for x in pr]), n=NFFT)
    for x in ex:
        for piece in pieces(extra_dir + x['clip']):
            cc = np.fft.irfft(np.fft.rfft(piece, n=NFFT)[None, :] * np.conj(pf), n=NFFT)
            peaks = np.abs(cc).max(axis=1)
            j = int(peaks.argmax())
            key = (x['group'], pr[j]['group'])
            best[key] = max(best[key], float(peaks[j]))
hits = [(v, k) for k, v in best.items() if v > threshold]
for v, (a, b) in sorted(hits, reverse=True):
    print(f'{v:.3f}  {a}  ~  {b}')
print(f'{len(hits)} shared recording pair(s) above {threshold}', file=sys.stderr)
sys.exit(1 if hits else 0)
