/** The `soundee` command line. Commands live in ./commands; this file only wires them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { PACKAGE_ROOT } from '../paths.ts';
import { describeError } from './common.ts';
import { datasetCommand } from './commands/dataset.ts';
import { evaluateCommand, predictCommand } from './commands/evaluate.ts';
import { trainCommand } from './commands/train.ts';
import { cvCommand } from './commands/cv.ts';
import { falseAlarmsCommand } from './commands/false-alarms.ts';
import { replayCommand } from './commands/replay.ts';
import { serveCommand } from './commands/serve.ts';
import { listenCommand } from './commands/listen.ts';
import { devicesCommand } from './commands/devices.ts';
import { exportCommand } from './commands/export.ts';
import { learnCommand } from './commands/learn.ts';

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Builds the program (exported for in-process tests). */
export function buildProgram(): Command {
  const program = new Command('soundee')
    .description('Real-time streaming sound classifier: audio in (microphone, WAV file, remote PCM), labels and events out over WebSocket.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  replayCommand(program);
  serveCommand(program);
  listenCommand(program);
  devicesCommand(program);
  datasetCommand(program);
  trainCommand(program);
  cvCommand(program);
  evaluateCommand(program);
  predictCommand(program);
  falseAlarmsCommand(program);
  exportCommand(program);
  learnCommand(program);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program).slice(1)) c.exitOverride().showHelpAfterError();
  return program;
}

/**
 * Runs the CLI on `argv` (process.argv form) and returns the exit code.
 * Expected failures print one line; unexpected ones the message (stack with SOUNDEE_DEBUG=1).
 */
export async function main(argv: string[]): Promise<number> {
  // `soundee replay x.wav --json | head` closes stdout early: stop quietly, as other Unix tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  try {
    await buildProgram().parseAsync(argv);
    // a command may finish with a non-zero status without throwing (e.g. predict with some bad files)
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    process.stderr.write(`soundee: error: ${describeError(e)}\n`);
    return (e as { exitCode?: number }).exitCode ?? 1;
  }
}
