/**
 * The resampling rule as an operator: mono chunks at `fromHz` in, chunks at `toHz` out, through one
 * `StreamResampler` per subscription, flushed when the source completes (so the last window of a
 * stream is not lost to the filter's delay).
 */
import { Observable, type OperatorFunction, identity } from 'rxjs';
import { StreamResampler } from '../audio/resample.ts';
import type { Resampler } from '../config.ts';

/**
 * Resamples a PCM stream (identity when the rates are equal). The converter is created when the
 * stream is subscribed; chunks that arrive meanwhile wait for it, in order, so a hot source (an
 * ingest socket) loses nothing.
 */
export function resampleTo(fromHz: number, toHz: number, kind?: Resampler): OperatorFunction<Float32Array, Float32Array> {
  if (fromHz === toHz) return identity;
  return (source) =>
    new Observable<Float32Array>((sub) => {
      let rs: StreamResampler | undefined;
      let waiting: Float32Array[] = [];
      let completed = false;
      let closed = false;
      const finish = (r: StreamResampler) => {
        const tail = r.flush();
        if (tail.length) sub.next(tail);
        sub.complete();
      };
      const push = (r: StreamResampler, chunk: Float32Array) => {
        const out = r.push(chunk);
        if (out.length) sub.next(out);
      };
      StreamResampler.create(fromHz, toHz, kind).then(
        (r) => {
          if (closed) return r.destroy();
          rs = r;
          try {
            for (const c of waiting) push(r, c);
            waiting = [];
            if (completed) finish(r);
          } catch (e) {
            sub.error(e);
          }
        },
        (e: unknown) => sub.error(e),
      );
      const s = source.subscribe({
        next: (chunk) => {
          if (!rs) return void waiting.push(chunk);
          try {
            push(rs, chunk);
          } catch (e) {
            sub.error(e);
          }
        },
        error: (e: unknown) => sub.error(e),
        complete: () => {
          completed = true;
          if (rs) finish(rs);
        },
      });
      return () => {
        closed = true;
        s.unsubscribe();
        rs?.destroy();
      };
    });
}
