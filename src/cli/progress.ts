/** Progress bars on stderr (cli-progress); on a non-terminal stderr, a plain line every few seconds. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/** A bar titled `title` counting to `total`; `format` may use {value} {total} {eta_formatted} and payload keys. */
export function progressBar(title: string, total: number, extra = ''): Progress {
  const bar = new cliProgress.SingleBar(
    {
      format: `${title} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}${extra ? ` | ${extra}` : ''}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, {});
  return {
    update: (done, payload) => bar.update(done, payload ?? {}),
    stop: () => bar.stop(),
  };
}
