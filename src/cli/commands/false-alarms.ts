/** `soundee false-alarms`: event starts per hour on recordings that hold none of the model's classes. */
import type { Command } from 'commander';
import { falseAlarmsOnFiles, listWavFiles } from '../../training/false-alarms.ts';
import { openEngine } from '../../engine/engine.ts';
import { type ModelCliOptions, engineOptionsOf, modelOptions } from '../common.ts';
import { type EventCliOptions, eventOptions, eventSettingsFor } from '../event-options.ts';
import { progressBar } from '../progress.ts';

export function falseAlarmsCommand(program: Command): void {
  modelOptions(
    eventOptions(
      program
        .command('false-alarms')
        .description(
          "replay recordings that hold none of the model's classes (music, effects, a room's noise) exactly as `soundee replay` does and count the sound events they raise: false alarms per hour, per class and per file",
        )
        .argument('<paths...>', 'WAV files or folders of them (searched recursively)')
        .option('--json', 'print one JSON object'),
    ),
  ).action(async (paths: string[], o: ModelCliOptions & EventCliOptions & { json?: boolean }) => {
    const files = await listWavFiles(paths);
    const engine = await openEngine(await engineOptionsOf(o));
    const cls = engine.model;
    const bar = progressBar('replaying', files.length);
    try {
      const { options } = eventSettingsFor(o, cls);
      const r = await falseAlarmsOnFiles(cls, files, options, (d) => bar.update(d));
      bar.stop();
      if (o.json) console.log(JSON.stringify({ model: o.model, ...r }));
      else {
        console.log(
          `${cls.name}: ${r.perHour.toFixed(2)} false alarms per hour — ${r.starts} event starts in ${r.hours.toFixed(2)} h of ${r.streams} recordings`,
        );
        const by = Object.entries(r.byClass).filter(([, n]) => n);
        console.log(`by class: ${by.length ? by.map(([c, n]) => `${c} ${n}`).join(', ') : 'none'}`);
        for (const s of r.streamsWithEvents)
          console.log(
            `  ${s.stream} (${(s.seconds / 60).toFixed(1)} min): ${Object.entries(s.byClass)
              .map(([c, n]) => `${c} ${n}`)
              .join(', ')}`,
          );
      }
    } finally {
      bar.stop();
      engine.dispose();
    }
  });
}
