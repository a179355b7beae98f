#!/usr/bin/env bash
# Virtual microphone for Soundee's tests on machines without a sound card (CI containers, root).
#
# A private PulseAudio daemon (no dbus, no autospawn, state under one directory) with:
#   soundee_speaker            null sink, 16000 Hz mono s16le: whatever is played here...
#   soundee_mic                ...comes out of this source (remap of soundee_speaker.monitor), the default source
#   soundee_keepalive          null sink fed by a 20 ms module-loopback from soundee_mic; it keeps the null sink
#                              rendering in small blocks (without it recorders get 2 s bursts and ~2 s of latency)
# The null sink has its own clock, so the mic behaves like a real one: it delivers continuous digital
# silence when nothing plays, and `play` is paced in real time.
#
# Usage: scripts/virtual-mic.sh <command> [args]
#   start            start the daemon (idempotent; returns when it is ready)
#   run              same, but run the daemon in the foreground (for a supervisor that reaps it, e.g. the test helper)
#   wait [SECONDS]   wait until the daemon answers (default 10 s)
#   stop [--purge]   stop the daemon and any `play` still running (idempotent); --purge also removes the directory
#   restart          stop, then start
#   status           show state, sources and sinks; exit 0 running, 3 not running
#   env [--dotenv]   print the variables clients need (eval "$(scripts/virtual-mic.sh env)")
#   play FILE        play an audio file into the mic in real time; returns when it has been played
#   record SECONDS OUT.wav   record the mic (debugging aid)
#   doctor           check the required packages; exit 4 when something `start` needs is missing
#
# Environment: SOUNDEE_VMIC_DIR (default /tmp/soundee-virtual-mic) holds the socket, pid, config, log; one daemon
# per directory, so parallel test files can each use their own. SOUNDEE_VMIC_LOG_LEVEL (default notice).
# Exit codes: 0 ok, 1 failure, 2 usage, 3 not running, 4 a required package is missing.
set -euo pipefail

VMIC_DIR="${SOUNDEE_VMIC_DIR:-/tmp/soundee-virtual-mic}"
VMIC_DIR="${VMIC_DIR%/}"
RATE=16000
CHANNELS=1
FORMAT=s16le
SINK=soundee_speaker
SOURCE=soundee_mic
KEEPALIVE=soundee_keepalive
KEEPALIVE_MSEC=20
LOG_LEVEL="${SOUNDEE_VMIC_LOG_LEVEL:-notice}"

SOCKET="$VMIC_DIR/native"
RUNTIME="$VMIC_DIR/runtime"
PIDFILE="$RUNTIME/pid"
PA_SCRIPT="$VMIC_DIR/soundee.pa"
CLIENT_CONF="$VMIC_DIR/client.conf"
LOG="$VMIC_DIR/pulseaudio.log"
PLAYDIR="$VMIC_DIR/play"

PROG="virtual-mic"
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { local code="${2:-1}"; say "error: $1"; exit "$code"; }

# --- requirements ---------------------------------------------------------------------------------------------

# need CMD APT-PACKAGE [WHAT]: exit 4 with the apt package to install when CMD is missing.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  die "'$1' not found${3:+ ($3)}. Install it with: apt-get install -y $2" 4
}
need_core() {
  need pulseaudio pulseaudio "the PulseAudio daemon"
  need pactl pulseaudio-utils
  [[ -n "$(modules_dir)" ]] || die "PulseAudio modules (module-null-sink.so) not found. Install: apt-get install -y pulseaudio" 4
}
modules_dir() {
  local d
  for d in /usr/lib/pulse-*/modules /usr/lib/*/pulse-*/modules /usr/lib64/pulse-*/modules; do
    [[ -e "$d/module-null-sink.so" && -e "$d/module-remap-source.so" && -e "$d/module-loopback.so" ]] && { echo "$d"; return 0; }
  done
  return 0
}
have_all() { local c; for c in "$@"; do command -v "$c" >/dev/null 2>&1 || return 1; done; }
# (no `cmd | grep -q` under pipefail: grep exiting early can SIGPIPE the writer and fail the pipeline)
sox_has_pulse() {
  local help
  command -v sox >/dev/null 2>&1 || return 1
  help=$(sox --help 2>/dev/null || true)
  grep -q '^AUDIO DEVICE DRIVERS:.*pulseaudio' <<<"$help"
}
alsa_pulse_plugin() { compgen -G '/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so' >/dev/null || compgen -G '/usr/lib*/alsa-lib/libasound_module_pcm_pulse.so' >/dev/null; }
alsa_default_hook() { [[ -e /etc/alsa/conf.d/99-pulse.conf || -e /usr/share/alsa/alsa.conf.d/99-pulse.conf ]]; }

# One line per component: STATUS KEY APT-PACKAGE DESCRIPTION, where STATUS is ok, MISSING (needed by `start`) or
# missing (needed only by some recorders). Exit 4 when something `start` needs is missing.
cmd_doctor() {
  local rc=0 status missing_pkgs=()
  check() { # check KEY APT-PACKAGE REQUIRED(yes|no) DESCRIPTION TEST...
    local key="$1" pkg="$2" required="$3" label="$4"; shift 4
    if "$@" >/dev/null 2>&1; then status=ok; else
      if [[ "$required" == yes ]]; then status=MISSING; rc=4; else status=missing; fi
      [[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
    fi
    printf '%-8s %-16s %-19s %s\n' "$status" "$key" "$pkg" "$label"
  }
  check pulseaudio pulseaudio yes "PulseAudio daemon" command -v pulseaudio
  check pa-modules pulseaudio yes "modules null-sink, remap-source, loopback" test -n "$(modules_dir)"
  check pulseaudio-utils pulseaudio-utils yes "pactl, paplay, parec" have_all pactl paplay parec
  check sox sox no "sox, rec (recorders sox and rec)" have_all sox rec
  check sox-pulse libsox-fmt-pulse no "sox pulseaudio driver (sox -d, rec, sox -t pulseaudio)" sox_has_pulse
  check arecord alsa-utils no "arecord (recorder arecord)" command -v arecord
  check alsa-pulse libasound2-plugins no "ALSA pulse plugin (arecord -D pulse)" alsa_pulse_plugin
  check alsa-default pulseaudio no "ALSA default -> pulse when running (/etc/alsa/conf.d/99-pulse.conf)" alsa_default_hook
  check flock util-linux no "flock (serialises concurrent start/stop)" command -v flock
  if ((${#missing_pkgs[@]})); then echo "install what is missing: apt-get install -y ${missing_pkgs[*]}"; fi
  return "$rc"
}

# --- helpers ----------------------------------------------------------------------------------------------------

# The variables a client (pactl, paplay, sox, rec, arecord via the ALSA pulse plugin) needs.
client_env_pairs() {
  echo "PULSE_SERVER=unix:$SOCKET"
  echo "PULSE_CLIENTCONFIG=$CLIENT_CONF"
  # sox -d picks its driver by probing AUDIODEV *as a playback device*; a source name such as soundee_mic is not a
  # sink, so without this sox falls back to ALSA and fails. Pin the driver when sox has it.
  if sox_has_pulse; then echo "AUDIODRIVER=pulseaudio"; fi
}
export_client_env() {
  local kv
  while IFS= read -r kv; do export "${kv?}"; done < <(client_env_pairs)
}

pa_pid() { [[ -r "$PIDFILE" ]] && tr -dc '0-9' <"$PIDFILE"; return 0; }
# Alive, not a zombie, and really our daemon (the pid may have been reused).
pid_is_ours() {
  local pid="$1" state
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ "$state" != Z && "$state" != X ]] || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ "$cmdline" == *"$PA_SCRIPT"* ]]
}
proc_gone() { # gone or a zombie waiting to be reaped
  local state
  [[ -r "/proc/$1/stat" ]] || return 0
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
  [[ -z "$state" || "$state" == Z || "$state" == X ]]
}
answers() { [[ -S "$SOCKET" ]] && (export_client_env; timeout 5 pactl info >/dev/null 2>&1); }
is_running() { pid_is_ours "$(pa_pid)" && answers; }

wait_ready() {
  local secs="${1:-10}" deadline
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if answers && [[ "$(export_client_env; pactl list short sources 2>/dev/null || true)" =~ (^|$'\n')[0-9]+[[:space:]]$SOURCE[[:space:]] ]]; then
      flowing && return 0
    fi
    sleep 0.1
  done
  return 1
}

# A recorder on the mic gets its first 100 ms of (silent) audio promptly.
flowing() {
  local n
  n=$( (export_client_env; timeout 3 parec --raw --latency-msec=20 --rate="$RATE" --channels="$CHANNELS" --format="$FORMAT" \
    --device="$SOURCE" --client-name=soundee-virtual-mic-probe 2>/dev/null | head -c 3200 | wc -c) || true)
  [[ "${n:-0}" -ge 3200 ]]
}

log_tail() { [[ -r "$LOG" ]] && { say "last lines of $LOG:"; tail -n 15 "$LOG" >&2; }; return 0; }

prepare() {
  ((${#SOCKET} < 100)) || die "SOUNDEE_VMIC_DIR is too long for a unix socket path: $VMIC_DIR" 2
  mkdir -p "$VMIC_DIR" "$RUNTIME" "$VMIC_DIR/state" "$VMIC_DIR/home/.config/pulse" "$PLAYDIR"
  chmod 700 "$RUNTIME" "$VMIC_DIR/state" "$VMIC_DIR/home"
  rm -f "$SOCKET" "$PIDFILE"
  cat >"$PA_SCRIPT" <<EOF
# Generated by scripts/virtual-mic.sh; loaded with pulseaudio -n -F (no system default.pa).
.fail
load-module module-native-protocol-unix socket=$SOCKET auth-anonymous=1 auth-cookie-enabled=0
load-module module-null-sink sink_name=$SINK rate=$RATE channels=$CHANNELS format=$FORMAT channel_map=mono sink_properties=device.description=Soundee-virtual-speaker
load-module module-remap-source master=$SINK.monitor source_name=$SOURCE rate=$RATE channels=$CHANNELS format=$FORMAT channel_map=mono master_channel_map=mono source_properties=device.description=Soundee-virtual-microphone
load-module module-null-sink sink_name=$KEEPALIVE rate=$RATE channels=$CHANNELS format=$FORMAT channel_map=mono sink_properties=device.description=Soundee-keepalive
load-module module-loopback source=$SOURCE sink=$KEEPALIVE latency_msec=$KEEPALIVE_MSEC source_dont_move=true sink_dont_move=true remix=false
# The null sink computed its first sleep (2 s, nobody had asked for less yet) before the loopback was attached;
# a suspend/resume cycle restarts its timer at the keepalive's latency, so the first recorder does not wait ~2 s.
suspend-sink $SINK 1
suspend-sink $SINK 0
set-default-sink $SINK
set-default-source $SOURCE
EOF
  # The daemon reads this (its XDG_CONFIG_HOME) instead of /etc/pulse/daemon.conf, so host settings do not leak in.
  cat >"$VMIC_DIR/home/.config/pulse/daemon.conf" <<EOF
# Generated by scripts/virtual-mic.sh
default-sample-format = $FORMAT
default-sample-rate = $RATE
alternate-sample-rate = $RATE
default-sample-channels = $CHANNELS
default-channel-map = mono
exit-idle-time = -1
realtime-scheduling = no
high-priority = no
flat-volumes = no
EOF
  cat >"$CLIENT_CONF" <<EOF
# Generated by scripts/virtual-mic.sh: clients talk to the virtual-mic daemon only, and never autospawn one.
autospawn = no
default-server = unix:$SOCKET
EOF
}

# The daemon runs with a scrubbed environment: its own HOME/config/runtime/state, no X11 and an unreachable dbus
# (so it never autolaunches a dbus-daemon that would outlive it), no realtime/rtkit.
daemon_cmd() {
  local daemonize="$1"
  DAEMON=(env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" LANG=C.UTF-8
    HOME="$VMIC_DIR/home" XDG_CONFIG_HOME="$VMIC_DIR/home/.config" XDG_RUNTIME_DIR="$RUNTIME"
    PULSE_RUNTIME_PATH="$RUNTIME" PULSE_STATE_PATH="$VMIC_DIR/state"
    DBUS_SESSION_BUS_ADDRESS="unix:path=$VMIC_DIR/no-dbus" DBUS_SYSTEM_BUS_ADDRESS="unix:path=$VMIC_DIR/no-dbus"
    pulseaudio -n -F "$PA_SCRIPT" --daemonize="$daemonize" --use-pid-file=yes --system=no
    --exit-idle-time=-1 --realtime=no --high-priority=no --no-cpu-limit=yes --fail=yes
    --log-level="$LOG_LEVEL" --log-target="file:$LOG" --log-time=yes)
}

with_lock() { # run "$@" holding $VMIC_DIR/.lock (fd 9), so concurrent starts/stops do not race
  mkdir -p "$VMIC_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$VMIC_DIR/.lock"
    flock -w 30 9 || die "timed out waiting for the lock $VMIC_DIR/.lock"
  fi
  "$@"
}

# --- commands ---------------------------------------------------------------------------------------------------

# Returns 0 when a daemon is already running (and says so), 1 when the caller should start one.
already_running() {
  local pid
  pid=$(pa_pid)
  if pid_is_ours "$pid"; then
    if wait_ready 5; then say "already running (pid $pid, server unix:$SOCKET)"; return 0; fi
    say "daemon pid $pid does not answer; restarting it"
    kill_daemon
  fi
  return 1
}

start_locked() {
  need_core
  already_running && return 0
  prepare
  daemon_cmd yes
  : >"$LOG"
  # With --daemonize=yes the parent returns once the daemon has loaded soundee.pa (or failed to).
  if ! "${DAEMON[@]}"; then log_tail; die "pulseaudio failed to start"; fi
  if ! wait_ready 10; then log_tail; kill_daemon; die "pulseaudio started but does not answer on $SOCKET"; fi
  report_started "$(pa_pid)"
}

report_started() {
  say "started (pid $1): source $SOURCE (default), sink $SINK, $RATE Hz mono $FORMAT, server unix:$SOCKET"
  sox_has_pulse || say "warning: sox has no pulseaudio driver, sox -d/rec will use ALSA. Install: apt-get install -y libsox-fmt-pulse"
  alsa_pulse_plugin || say "warning: ALSA pulse plugin missing, arecord cannot record. Install: apt-get install -y libasound2-plugins"
  say "clients need: eval \"\$($0 env)\""
}

cmd_start() { with_lock start_locked; }

# Foreground: exec the daemon so the caller owns (and reaps) it. Readiness: `wait`.
cmd_run() {
  need_core
  mkdir -p "$VMIC_DIR"
  if command -v flock >/dev/null 2>&1; then exec 9>"$VMIC_DIR/.lock"; flock -w 30 9 || die "timed out waiting for the lock"; fi
  if already_running; then exit 0; fi
  prepare
  daemon_cmd no
  : >"$LOG"
  say "running in the foreground: source $SOURCE, sink $SINK, server unix:$SOCKET"
  exec 9>&- # release the lock; do not leak the fd into the daemon
  exec "${DAEMON[@]}"
}

kill_pid_and_wait() { # kill_pid_and_wait PID: TERM, wait up to 5 s, then KILL
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do proc_gone "$pid" && return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do proc_gone "$pid" && return 0; sleep 0.1; done
  say "warning: pid $pid did not exit"
  return 1
}

kill_players() {
  local f pid
  for f in "$PLAYDIR"/*.pid; do
    [[ -e "$f" ]] || continue
    pid=$(tr -dc '0-9' <"$f")
    rm -f "$f" # first: its `play` sees the pid file gone and reports the interruption
    if [[ -n "$pid" && -r "/proc/$pid/cmdline" && "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)" == *"--device=$SINK"* ]]; then
      kill_pid_and_wait "$pid" || true
    fi
  done
}

kill_daemon() {
  local pid
  pid=$(pa_pid)
  if pid_is_ours "$pid"; then kill_pid_and_wait "$pid" || true; fi
  rm -f "$SOCKET" "$PIDFILE"
}

stop_locked() {
  local purge="${1:-}" pid
  pid=$(pa_pid)
  kill_players
  if pid_is_ours "$pid"; then
    kill_daemon
    say "stopped (pid $pid)"
  else
    rm -f "$SOCKET" "$PIDFILE"
    say "not running"
  fi
  if [[ "$purge" == --purge ]]; then rm -rf "$VMIC_DIR"; fi
}

cmd_stop() {
  [[ $# -le 1 && "${1:---purge}" == --purge ]] || die "usage: stop [--purge]" 2
  [[ -d "$VMIC_DIR" ]] || { say "not running"; return 0; }
  with_lock stop_locked "${1:-}"
}

cmd_status() {
  local pid
  pid=$(pa_pid)
  if ! pid_is_ours "$pid"; then echo "virtual mic: not running (dir $VMIC_DIR)"; return 3; fi
  if ! answers; then echo "virtual mic: pid $pid present but not answering on $SOCKET"; return 1; fi
  export_client_env
  echo "virtual mic: running (pid $pid), server unix:$SOCKET"
  pactl info | grep -E '^(Server Version|Default Sink|Default Source)'
  echo "sources:"; pactl list short sources | sed 's/^/  /'
  echo "sinks:"; pactl list short sinks | sed 's/^/  /'
  echo "playing:"; pactl list short sink-inputs | sed 's/^/  /'
  echo "recording:"; pactl list short source-outputs | sed 's/^/  /'
}

cmd_env() {
  local kv
  case "${1:-}" in
    --dotenv) client_env_pairs ;;
    "") while IFS= read -r kv; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done < <(client_env_pairs) ;;
    *) die "usage: env [--dotenv]" 2 ;;
  esac
}

cmd_play() {
  [[ $# -eq 1 ]] || die "usage: play FILE" 2
  local file="$1" src pid rc
  [[ -r "$file" ]] || die "cannot read $file"
  need paplay pulseaudio-utils
  is_running || die "not running; start it with: $0 start" 3
  export_client_env
  src="$file"
  case "${file,,}" in
    *.wav | *.flac | *.ogg | *.oga | *.aiff | *.aif | *.au) ;;
    *) # paplay reads what libsndfile reads; convert anything else (mp3, ...) with sox first
      need sox sox
      src="$PLAYDIR/convert.$$.wav"
      sox -q "$file" -r "$RATE" -c "$CHANNELS" -b 16 -e signed-integer "$src" || die "sox cannot read $file (for mp3: apt-get install -y libsox-fmt-mp3)"
      ;;
  esac
  mkdir -p "$PLAYDIR"
  # paplay is paced by the null sink's clock and exits after draining, i.e. when the audio has been "heard".
  paplay --device="$SINK" --client-name=soundee-virtual-mic --stream-name="$(basename "$file")" "$src" &
  pid=$!
  echo "$pid" >"$PLAYDIR/$pid.pid"
  trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
  rc=0
  wait "$pid" || rc=$?
  [[ "$src" == "$file" ]] || rm -f "$src"
  # `stop` removes the pid file of a player it kills; paplay itself exits 0 on SIGTERM.
  [[ -e "$PLAYDIR/$pid.pid" ]] || die "playback of $file was interrupted (virtual mic stopped)"
  rm -f "$PLAYDIR/$pid.pid"
  ((rc == 0)) || die "paplay exited with code $rc while playing $file"
}

cmd_record() {
  [[ $# -eq 2 ]] || die "usage: record SECONDS OUT.wav" 2
  need sox sox
  sox_has_pulse || die "sox has no pulseaudio driver. Install: apt-get install -y libsox-fmt-pulse" 4
  is_running || die "not running; start it with: $0 start" 3
  export_client_env
  sox -q -t pulseaudio -r "$RATE" -c "$CHANNELS" -b 16 -e signed-integer "$SOURCE" "$2" trim 0 "$1"
}

cmd_wait() {
  local secs="${1:-10}"
  [[ "$secs" =~ ^[0-9]+$ ]] || die "usage: wait [SECONDS]" 2
  wait_ready "$secs" || { log_tail; die "not ready after ${secs}s (server unix:$SOCKET)" 3; }
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    start) [[ $# -eq 0 ]] || die "usage: start" 2; cmd_start ;;
    run) [[ $# -eq 0 ]] || die "usage: run" 2; cmd_run ;;
    wait) cmd_wait "$@" ;;
    stop) cmd_stop "$@" ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    env) cmd_env "$@" ;;
    play) cmd_play "$@" ;;
    record) cmd_record "$@" ;;
    doctor) cmd_doctor ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
