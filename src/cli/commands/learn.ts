/**
 * `soundee learn`: teach a model a new sound from a few recordings, list a model's classes, remove a
 * learned class, (re)build the bank of negatives a model directory carries.
 */
import type { Command } from 'commander';
import { SoundeeError } from '../../config.ts';
import { initBackend } from '../../model/backend.ts';
import { DEFAULT_MODEL_DIR } from '../../paths.ts';
import { WEAK_RECALL } from '../../model/io.ts';
import { DEFAULT_LEARN } from '../../learn/learn.ts';
import { LEARN_DEFAULTS, buildBank, learnClass, listClasses, removeClass } from '../../learn/model-dir.ts';
import { type ModelCliOptions, backendOption, fail, info, parseNumber, readFeatureFile } from '../common.ts';

interface LearnCliOptions extends Pick<ModelCliOptions, 'model' | 'features' | 'backend'> {
  label?: string;
  out?: string;
  negative?: string[];
  list?: boolean;
  json?: boolean;
  remove?: string;
  bank?: string[];
  bankPerSource: number;
  augmentations: number;
  seed: number;
  force?: boolean;
}

function describeListing(l: Awaited<ReturnType<typeof listClasses>>): string {
  const lines = [`${l.name}: ${l.classes.length} classes`];
  for (const c of l.classes) {
    if (!c.custom) {
      lines.push(
        `  ${c.label}${c.heldOutRecall === undefined ? '' : `  (${Math.round(100 * c.heldOutRecall)} % of its windows recognised on packages it never trained on${c.heldOutRecall < WEAK_RECALL ? ': do not rely on it' : ''})`}`,
      );
      continue;
    }
    const x = c.custom;
    const neg = [
      x.negatives.files.length ? `${x.negatives.files.length} negative clips` : '',
      x.negatives.bank ? `${x.negatives.bank} bank windows` : '',
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(
      `  ${c.label}  (learned ${x.addedAt.slice(0, 19).replace('T', ' ')} from ${x.examples.files.length} examples, ${x.examples.windows} windows${neg ? `; against ${neg}` : ''}; event threshold ${x.events.threshold}${x.check.heldOutTakes?.of ? `; ${x.check.heldOutTakes.recognised} of ${x.check.heldOutTakes.of} takes recognised when left out` : ''})`,
    );
  }
  lines.push(
    l.bank
      ? `bank of negatives: ${l.bank.count} windows (${l.bank.sources.map((s) => `${s.source} ${s.windows}`).join(', ')})`
      : 'bank of negatives: none (soundee learn --bank DIR… builds one)',
  );
  return lines.join('\n');
}

export function learnCommand(program: Command): void {
  backendOption(
    program
      .command('learn')
      .description(
        'teach the model a new sound from a few recordings (3–20 clips): writes a new model directory with one more class; also --list, --remove, --bank',
      )
      .argument('[examples...]', 'example WAV files of the sound, or folders of them (one sound per clip; shorter than 1 s is padded)')
      .option('--label <name>', 'name of the new class')
      .option('--model <dir>', 'model directory to start from', DEFAULT_MODEL_DIR)
      .option('--out <dir>', 'directory to write the new model to (not the source)')
      .option('--negative <clip|dir...>', 'recordings of what must NOT trigger the new class (the room, the TV, a similar sound)')
      .option('--list', "list the model's classes: which are learned, from how many examples and negatives, when")
      .option('--json', 'with --list: one JSON object')
      .option('--remove <label>', 'write a copy of the model (--out) without this learned class')
      .option(
        '--bank <dir|file.sdset...>',
        "compute the model's bank of negatives from these folders of WAV files or dataset files (their train split) and write the model with it to --out (or into --model itself when --out is omitted)",
      )
      .option(
        '--bank-per-source <n>',
        `--bank: windows taken from each source at most (default ${LEARN_DEFAULTS.bankPerSource})`,
        parseNumber('--bank-per-source', { min: 1, integer: true }),
        LEARN_DEFAULTS.bankPerSource,
      )
      .option(
        '--augmentations <n>',
        `augmented copies of each example window (default ${DEFAULT_LEARN.augmentations})`,
        parseNumber('--augmentations', { min: 0, max: 256, integer: true }),
        DEFAULT_LEARN.augmentations,
      )
      .option('--seed <n>', 'seed of the augmentation', parseNumber('--seed', { integer: true }), DEFAULT_LEARN.seed)
      .option('--features <file>', "JSON file of feature settings; refused unless it matches the model's")
      .option('--force', 'replace --out when it already holds files'),
  ).action(async (examples: string[], o: LearnCliOptions) => {
    const modes = [o.list, o.remove !== undefined, o.bank !== undefined, o.label !== undefined].filter(Boolean).length;
    if (modes !== 1) fail('choose one of --label NAME (learn), --list, --remove LABEL or --bank DIR…', 2);
    try {
      if (o.list) {
        const l = await listClasses(o.model);
        console.log(o.json ? JSON.stringify(l) : describeListing(l));
        return;
      }
      await initBackend(o.backend);
      if (o.remove !== undefined) {
        if (!o.out) fail('--remove needs --out DIR (the source model is never changed)', 2);
        const classes = await removeClass(o.model, o.out, o.remove, { overwrite: o.force === true });
        info(`soundee: wrote ${o.out} without "${o.remove}" (${classes.length} classes: ${classes.join(', ')})`);
        return;
      }
      if (o.bank !== undefined) {
        const h = await buildBank(o.model, o.out ?? o.model, o.bank, { perSource: o.bankPerSource, overwrite: o.force === true });
        info(
          `soundee: bank of ${h.count} negative windows (${h.sources.map((s) => `${s.source}: ${s.windows}`).join(', ')}) written to ${o.out ?? o.model}`,
        );
        return;
      }
      if (!o.out) fail('--label needs --out DIR: the new model is written there (the source model is never changed)', 2);
      if (!examples.length)
        fail('give the example recordings: soundee learn --label NAME --out DIR clip1.wav clip2.wav … (or a folder)', 2);
      const expectFeatures = o.features ? await readFeatureFile(o.features) : undefined;
      const r = await learnClass({
        model: o.model,
        out: o.out,
        label: o.label!,
        examples,
        ...(o.negative ? { negatives: o.negative } : {}),
        settings: { augmentations: o.augmentations, seed: o.seed },
        ...(expectFeatures ? { expectFeatures } : {}),
        overwrite: o.force === true,
        onProgress: (stage) => info(`soundee: ${stage}…`),
      });
      if (r.padded.length) info(`soundee: shorter than one window, padded with silence: ${r.padded.join(', ')}`);
      if (r.bank === 'none')
        info(
          'soundee: the model has no bank of negatives: the new class was fitted against your --negative clips only (see soundee learn --bank)',
        );
      if (r.bank === 'stale')
        info(
          "soundee: the model's bank of negatives was computed for another network and was not used; rebuild it with soundee learn --bank",
        );
      const x = r.record;
      info(
        `soundee: learned "${r.label}" from ${x.examples.files.length} clips (${x.examples.windows} windows, ${x.fit.augmentations} augmented copies each) against ${x.negatives.windows} negative-clip windows and ${x.negatives.bank} bank windows in ${r.seconds.toFixed(1)} s`,
      );
      info(
        `soundee: on top for ${(100 * x.check.examplesOnTop).toFixed(0)} % of the examples' windows and ${(100 * x.check.bankOnTop).toFixed(1)} % of the bank's; wrote ${o.out} (${r.classes.length} classes)`,
      );
      const t = x.check.heldOutTakes;
      if (t?.of)
        info(
          `soundee: on clips it did not learn from (each left out in turn${t.of < x.examples.files.length ? `, ${t.of} of the ${x.examples.files.length}` : ''}): ${t.recognised} of ${t.of} recognised (${(100 * t.windowShare).toFixed(0)} % of their windows)${t.recognised < t.of ? '; record more examples, or examples closer to how the sound will be heard' : ''}`,
        );
    } catch (e) {
      if (e instanceof SoundeeError && e.code.startsWith('ERR_LEARN'))
        fail(`${e.message} [${e.code}]`, e.code === 'ERR_LEARN_LABEL' || e.code === 'ERR_LEARN_TOO_FEW' ? 2 : 1);
      throw e;
    }
  });
}
