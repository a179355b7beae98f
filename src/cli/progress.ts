/** Progress bars on stderr (cli-progress); on a non-terminal stderr, a plain line every few seconds. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A bar titled `title` counting to `total`; `extra` may use payload keys (`loss {loss}`), shown as '–'
 * until `update` gives them.
 */
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
  // cli-progress prints a payload token literally until the payload has it: start every token of `extra` as '–'
  const tokens = Object.fromEntries([...extra.matchAll(/\{(\w+)\}/g)].map((m) => [m[1]!, '–']));
  bar.start(total, 0, tokens);
  return {
    update: (done, payload) => bar.update(done, payload ?? {}),
    stop: () => bar.stop(),
  };
}
