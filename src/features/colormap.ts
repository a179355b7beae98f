/**
 * 256-entry RGB lookup tables for the colormaps (matplotlib's perceptually uniform maps, via d3-scale-chromatic).
 */
import { interpolateInferno, interpolateMagma, interpolatePlasma, interpolateViridis } from 'd3-scale-chromatic';
import type { Colormap } from '../config.ts';

const luts = new Map<Colormap, Uint8Array>();

function parseHex(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`unexpected colour ${hex}`);
  return [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16)];
}

/** The colormap as 256 RGB triples (768 bytes): entry i is the colour of level i/255. */
export function colormapLut(name: Colormap): Uint8Array {
  let lut = luts.get(name);
  if (lut) return lut;
  lut = new Uint8Array(256 * 3);
  const f =
    name === 'viridis'
      ? interpolateViridis
      : name === 'magma'
        ? interpolateMagma
        : name === 'inferno'
          ? interpolateInferno
          : name === 'plasma'
            ? interpolatePlasma
            : (t: number) => {
                const v = Math.round(t * 255)
                  .toString(16)
                  .padStart(2, '0');
                return `#${v}${v}${v}`;
              };
  for (let i = 0; i < 256; i++) lut.set(parseHex(f(i / 255)), 3 * i);
  luts.set(name, lut);
  return lut;
}
