#!/usr/bin/env bash
# One-step set-up on a fresh Debian/Ubuntu machine: the system packages Soundee and its tests use,
# then the npm packages (npm ci). Safe to run again; installs only what is missing.
#   sox, libsox-fmt-all       recording (soundee listen) and the dataset script
#   pulseaudio, pulseaudio-utils, alsa-utils, libasound2-plugins
#                             the virtual microphone the listen tests record from
#   chromium                  the dashboard test (headless, driven by playwright-core)
#   mosquitto, mosquitto-clients, openssl
#                             the MQTT broker the MQTT tests start on a free port (mosquitto_sub to watch it,
#                             openssl for the certificates of its TLS listener)
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(sox libsox-fmt-all pulseaudio pulseaudio-utils alsa-utils libasound2-plugins chromium mosquitto mosquitto-clients openssl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  else
    SUDO=
  fi
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v node >/dev/null || { echo "setup: Node.js 20 is required (https://nodejs.org)" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 20)) || { echo "setup: Node.js >= 20 required, found $(node -v)" >&2; exit 1; }
npm ci --no-audit --no-fund
