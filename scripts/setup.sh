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
# onnxruntime-node (the onnx backend) is an optional dependency that ships its CPU library; its
# install script would download CUDA parts from a host that may be unreachable, so it is skipped
# (ONNXRUNTIME_NODE_INSTALL=skip; npm 11 does not run it anyway: package.json's allowScripts).
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
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
if node -e "require('onnxruntime-node')" 2>/dev/null; then
  echo "setup: onnxruntime-node installed: the onnx backend is available" >&2
else
  echo "setup: onnxruntime-node is not installed or does not load here: inference runs on TensorFlow.js (wasm)" >&2
fi
