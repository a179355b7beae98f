#!/usr/bin/env python3
"""Finds recordings shared between two clip folders (e.g. an extra training set and the ambient set).

usage: python3 scripts/cross-duplicates.py EXTRA_DIR PRIMARY_DIR [THRESHOLD]   (needs python3-numpy)

Both folders hold manifest.csv (clip,class,...,group) and 16-bit mono WAV clips. For every clip of
EXTRA_DIR and every clip of the same class in PRIMARY_DIR, the peak of the normalised
cross-correlation over all lags is computed: the same recording cut at other offsets peaks near the
overlap share (0.5–1.0); different recordings of a texture stay well under 0.3. Prints the group pairs
above THRESHOLD (default 0.4), highest first; exit 1 when there are any.
"""
import collections, csv, sys, wave
import numpy as np

def load(path):
    with wave.open(path) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    x = np.pad(x[:16000], (0, max(0, 16000 - len(x))))
    return x / (np.linalg.norm(x) + 1e-9)

extra_dir, primary_dir = sys.argv[1].rstrip('/') + '/', sys.argv[2].rstrip('/') + '/'
threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.4
extra = list(csv.DictReader(open(extra_dir + 'manifest.csv')))
primary = list(csv.DictReader(open(primary_dir + 'manifest.csv')))
best = collections.defaultdict(float)
for cls in sorted({x['class'] for x in extra}):
    ex = [x for x in extra if x['class'] == cls]
    pr = [x for x in primary if x['class'] == cls]
    if not pr:
        continue
    pf = np.fft.rfft(np.stack([load(primary_dir + x['clip']) for x in pr]), n=32768)
    for x in ex:
        cc = np.fft.irfft(np.fft.rfft(load(extra_dir + x['clip']), n=32768)[None, :] * np.conj(pf), n=32768)
        peaks = np.abs(cc).max(axis=1)
        j = int(peaks.argmax())
        key = (x['group'], pr[j]['group'])
        best[key] = max(best[key], float(peaks[j]))
hits = [(v, k) for k, v in best.items() if v > threshold]
for v, (a, b) in sorted(hits, reverse=True):
    print(f'{v:.3f}  {a}  ~  {b}')
print(f'{len(hits)} shared recording pair(s) above {threshold}', file=sys.stderr)
sys.exit(1 if hits else 0)
