#!/usr/bin/env bash
# Unpacks fixtures.tgz (from scripts/gpu/make-fixtures.sh) into the packages' test/fixtures folders.
set -euo pipefail
tgz=${1:?usage: unpack-fixtures.sh path/to/fixtures.tgz}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
tar xzf "$tgz" -C "$tmp"
copy() { [ -d "$tmp/$1" ] && mkdir -p "$root/$2" && cp -r "$tmp/$1/." "$root/$2/" && echo "unpacked $1 -> $2"; }
copy core-safetensors packages/core/test/fixtures/safetensors
copy core-peft packages/core/test/fixtures/peft
copy models packages/models/test/fixtures
copy lora packages/lora/test/fixtures
rm -rf "$tmp"
