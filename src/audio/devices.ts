/** The input devices a recorder can use (`soundee devices`, and `soundee listen`'s advice when none opens), where the platform can list them. */
import { execFile } from 'node:child_process';

/** An input device and how to listen on it. */
export interface InputDevice {
  /** Where the list came from. */
  system: 'pulseaudio' | 'alsa';
  /** What to pass to --device. */
  name: string;
  description: string;
  /** The system's default input (what `soundee listen` records without --device). */
  isDefault: boolean;
  /** A PulseAudio monitor source: what a sink plays, not a microphone. */
  monitor: boolean;
  /** The command line that listens on it. */
  listen: string;
}

/**
 * Parses `LC_ALL=C pactl list sources` (the long form: it has descriptions and marks monitors).
 * @param defaultSource the `Default Source:` of `pactl info`, if known.
 */
export function parsePactlSources(text: string, defaultSource?: string): InputDevice[] {
  const out: InputDevice[] = [];
  for (const block of text.split(/^Source #\d+\s*$/m).slice(1)) {
    const field = (k: string) => new RegExp(`^\\s*${k}:[ \\t]*(.*)$`, 'm').exec(block)?.[1]?.trim();
    const name = field('Name');
    if (!name) continue;
    const monitorOf = field('Monitor of Sink');
    const isDefault = name === defaultSource;
    out.push({
      system: 'pulseaudio',
      name,
      description: field('Description') ?? '',
      isDefault,
      monitor: monitorOf !== undefined && monitorOf !== 'n/a',
      // sox picks its driver by opening AUDIODEV for playback, which a source name fails: name the driver
      listen: isDefault ? 'soundee listen' : `AUDIODRIVER=pulseaudio soundee listen --device ${name}`,
    });
  }
  return out;
}

/** Parses `arecord -l` (ALSA capture hardware). `plughw` converts rate and format, which a bare `hw` device may refuse. */
export function parseArecordList(text: string): InputDevice[] {
  const out: InputDevice[] = [];
  for (const m of text.matchAll(/^card (\d+): (\S+) \[(.*?)\], device (\d+): .*?\[(.*?)\]\s*$/gm)) {
    const [, card, , cardName, device, deviceName] = m;
    const name = `plughw:${card},${device}`;
    out.push({
      system: 'alsa',
      name,
      description: `${cardName}: ${deviceName}`,
      isDefault: false,
      monitor: false,
      listen: `soundee listen --recorder arecord --device ${name}`,
    });
  }
  return out;
}

type Run = (cmd: string, args: string[]) => Promise<{ ok: boolean; stdout: string; stderr: string; missing: boolean }>;

const run: Run = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      resolve({
        ok: !err,
        stdout: String(stdout),
        stderr: String(stderr),
        missing: (err as NodeJS.ErrnoException | null)?.code === 'ENOENT',
      });
    });
  });

/**
 * Lists input devices: PulseAudio/PipeWire sources (pactl) and ALSA capture hardware (arecord -l) on
 * Linux; elsewhere explains how to name a device, since sox cannot list them there.
 * @returns the devices and notes for people (what could not be listed, and why).
 */
export async function listInputDevices(
  platform: NodeJS.Platform = process.platform,
  exec: Run = run,
): Promise<{ devices: InputDevice[]; notes: string[] }> {
  const devices: InputDevice[] = [];
  const notes: string[] = [];
  if (platform === 'darwin') {
    notes.push(
      'macOS: sox records from the default input (System Settings → Sound → Input); --device takes a Core Audio device name exactly as shown there. Soundee cannot list them (sox has no listing).',
    );
    return { devices, notes };
  }
  if (platform === 'win32') {
    notes.push(
      'Windows: sox records from the default recording device (Settings → System → Sound → Input); --device takes a device name as Windows shows it. Soundee cannot list them (sox has no listing).',
    );
    return { devices, notes };
  }
  const pa = await exec('pactl', ['list', 'sources']);
  if (pa.ok) {
    const infoOut = await exec('pactl', ['info']);
    const def = /^Default Source:\s*(.+)$/m.exec(infoOut.stdout)?.[1]?.trim();
    devices.push(...parsePactlSources(pa.stdout, def));
  } else
    notes.push(
      pa.missing
        ? 'PulseAudio/PipeWire: pactl is not installed (apt-get install pulseaudio-utils), so sound-server sources are not listed.'
        : `PulseAudio/PipeWire: no sound server answered (${pa.stderr.trim().split('\n')[0] || 'pactl failed'}).`,
    );
  const ar = await exec('arecord', ['-l']);
  if (ar.ok) {
    const hw = parseArecordList(ar.stdout);
    devices.push(...hw);
    if (!hw.length) notes.push('ALSA: no capture hardware (arecord -l lists no sound card).');
  } else
    notes.push(
      ar.missing
        ? 'ALSA: arecord is not installed (apt-get install alsa-utils), so capture hardware is not listed.'
        : `ALSA: arecord -l failed: ${ar.stderr.trim().split('\n')[0]}`,
    );
  return { devices, notes };
}
