#!/usr/bin/env bash
# Builds every publishable package under packages/* (any package there that is not "private") and packs
# each to a tarball in OUTDIR (default: tarballs/), as `npm publish` would ship it: pnpm replaces
# `workspace:*` with the version and applies `publishConfig` (exports without the @peftjs/source condition).
# Usage: bash scripts/pack.sh [OUTDIR]   (root script: `pnpm tarballs`)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-tarballs}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out"/*.tgz
pnpm --filter './packages/*' run build >/dev/null
for dir in packages/*/; do
  [ -f "$dir/package.json" ] || continue
  if [ "$(node -p "require('./${dir}package.json').private === true")" = true ]; then continue; fi
  (cd "$dir" && pnpm pack --pack-destination "$out" >/dev/null)
done
ls -1 "$out"/*.tgz
