#!/usr/bin/env bash
# Rebuilds samples/: one short real recording per class, cut from the ambient set (three consecutive
# 1 s clips of one original recording, joined), from recordings whose group falls in the TEST split
# of `soundee dataset build` with the default seed, so the demo shows sounds the bundled model never
# trained on. Attribution is in samples/README.md.
#   usage: scripts/make-samples.sh [AMBIENT_DIR]   (default ../shared/datasets/ambient)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-../shared/datasets/ambient}
command -v sox >/dev/null || { echo "make-samples: needs sox (apt-get install sox)" >&2; exit 1; }
mkdir -p samples
pick() { # CLASS GROUP -> samples/CLASS.wav from the first three clips of GROUP (by offset)
  local cls=$1 group=$2
  mapfile -t clips < <(awk -F, -v g="$group" 'NR>1 && $6==g {print $5" "$1}' "$SRC/manifest.csv" | sort -n | head -3 | cut -d' ' -f2)
  ((${#clips[@]} == 3)) || { echo "make-samples: group $group has fewer than 3 clips" >&2; exit 1; }
  sox "${clips[@]/#/$SRC/}" -b 16 -r 16000 -c 1 "samples/$cls.wav"
  echo "samples/$cls.wav <- ${clips[*]}"
}
pick birds   "0ad-data:audio/ambient/dayscape/day_tropical_11.ogg"
pick engine  "btanks-data:usr/share/games/btanks/data/sounds/helicopter.ogg"
pick fire    "redeclipse-data:usr/share/games/redeclipse/data/sounds/ambience/fire.ogg"
pick insects "megaglest-data:usr/share/games/megaglest/tilesets/autumn/sounds/nightime.ogg"
pick rain    "megaglest-data:usr/share/games/megaglest/tilesets/birch_forest/sounds/rain.ogg"
pick speech  "ktuberling-data:usr/share/ktuberling/sounds/ga"
pick water   "0ad-data:audio/ambient/water/river_slow_21.ogg"
pick wind    "0ad-data:audio/ambient/weather/wind_11.ogg"
