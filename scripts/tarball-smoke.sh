#!/usr/bin/env bash
# What a user gets from the registry, checked before it is there: packs every package (scripts/pack.sh),
# checks that no tarball ships tests, lints each (publint, @arethetypeswrong/cli with the ESM-only profile), installs the tarballs with
# plain npm into an empty project outside the workspace (no source condition, no pnpm), and runs the
# README's plain-Node quickstart there. Fails on any banner, warning or stderr output.
# Usage: bash scripts/tarball-smoke.sh   (root script: `pnpm check:tarballs`; CI runs it)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/pack.sh "$tmp/tarballs" >/dev/null
for t in "$tmp"/tarballs/*.tgz; do
  name="$(basename "$t")"
  # `files` ships no tests: no *.test.*, __tests__/ or testing/ helpers in any tarball.
  if tar tzf "$t" | grep -E '\.test\.|/__tests__/|/testing/' >"$tmp/tests.txt"; then cat "$tmp/tests.txt"; echo "$name ships test files (above): exclude them in package.json files and tsconfig.build.json"; exit 1; fi
  pnpm exec publint run "$t" --strict --level suggestion >"$tmp/publint.txt" 2>&1 || { cat "$tmp/publint.txt"; echo "publint: $name has problems (above)"; exit 1; }
  grep -q "All good" "$tmp/publint.txt" || { cat "$tmp/publint.txt"; echo "publint: $name is not clean (above)"; exit 1; }
  pnpm exec attw "$t" --profile esm-only --quiet || { pnpm exec attw "$t" --profile esm-only --format table || true; echo "attw: $name has problems (above)"; exit 1; }
  echo "publint + attw: $name clean"
done

app="$tmp/app"
mkdir -p "$app"
cp "$tmp"/tarballs/*.tgz "$app/"
# The README's plain-Node quickstart: the ```js block that starts with "// quickstart.mjs".
node -e '
  const md = require("fs").readFileSync(process.argv[1], "utf8");
  const m = md.match(/```js\n(\/\/ quickstart\.mjs[^\n]*\n[\s\S]*?)```/);
  if (!m) { console.error("README.md has no ```js block starting with // quickstart.mjs"); process.exit(1); }
  require("fs").writeFileSync(process.argv[2], m[1]);
' README.md "$app/quickstart.mjs"
cd "$app"
echo '{ "name": "peftjs-tarball-smoke", "private": true, "type": "module" }' >package.json
# Plain npm, the registry only (the tarballs are local files), as the README's install line.
npm i ./*.tgz @tensorflow/tfjs-core @tensorflow/tfjs-backend-cpu --no-fund --no-audit --loglevel=error >"$tmp/npm.txt" 2>&1 || { cat "$tmp/npm.txt"; echo "npm i of the tarballs failed"; exit 1; }
node quickstart.mjs >"$tmp/out.txt" 2>"$tmp/err.txt" || { cat "$tmp/out.txt" "$tmp/err.txt"; echo "quickstart.mjs failed with plain node"; exit 1; }
cat "$tmp/out.txt"
if [ -s "$tmp/err.txt" ]; then cat "$tmp/err.txt"; echo "quickstart.mjs wrote to stderr (a warning?)"; exit 1; fi
if grep -qiE "looks like you are running TensorFlow|install our node backend|warn" "$tmp/out.txt"; then echo "quickstart.mjs printed a banner or a warning"; exit 1; fi
grep -qE "^loss [0-9.]+ → [0-9.]+; adapter written to my-adapter/$" "$tmp/out.txt" || { echo "quickstart.mjs did not print its loss line"; exit 1; }
[ -s my-adapter/adapter_config.json ] && [ -s my-adapter/adapter_model.safetensors ] || { echo "quickstart.mjs wrote no adapter"; exit 1; }
echo "tarballs: installed with npm in an empty project; the README quickstart ran with plain node, quietly"
