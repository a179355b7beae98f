/** `soundee devices`: the input devices `soundee listen --device` can use, where the platform can list them. */
import type { Command } from 'commander';
import { listInputDevices } from '../../audio/devices.ts';

export { type InputDevice, listInputDevices, parseArecordList, parsePactlSources } from '../../audio/devices.ts';

export function devicesCommand(program: Command): void {
  program
    .command('devices')
    .description(
      'list the input devices `soundee listen --device` can record from (PulseAudio/PipeWire sources and ALSA hardware on Linux)',
    )
    .option('--json', 'print one JSON object: { devices, notes }')
    .action(async (o: { json?: boolean }) => {
      const { devices, notes } = await listInputDevices();
      if (o.json) {
        console.log(JSON.stringify({ devices, notes }));
        return;
      }
      for (const system of ['pulseaudio', 'alsa'] as const) {
        const list = devices.filter((d) => d.system === system);
        if (!list.length) continue;
        console.log(system === 'pulseaudio' ? 'PulseAudio/PipeWire sources (* = default):' : 'ALSA capture hardware:');
        const w = Math.max(...list.map((d) => d.name.length));
        for (const d of list)
          console.log(
            `  ${d.isDefault ? '*' : ' '} ${d.name.padEnd(w)}  ${d.description}${d.monitor ? ' (monitor: what a sink plays, not a microphone)' : ''}\n      ${d.listen}`,
          );
      }
      if (!devices.length) console.log('no input devices found');
      for (const n of notes) console.log(`note: ${n}`);
    });
}
