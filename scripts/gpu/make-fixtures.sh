#!/usr/bin/env bash
# Runs on the GPU host (Python with torch, transformers, peft, safetensors): every fixture script of the
# repo, each into its own folder, packed as $OUT/fixtures.tgz. Unpack here with scripts/gpu/unpack-fixtures.sh.
set -u
work=$(mktemp -d)
python3 -c 'import torch, transformers, peft, safetensors; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "safetensors", safetensors.__version__)'
run() { # name script
  echo "=== $1: $2"
  mkdir -p "$work/$1"
  if PYTHONUNBUFFERED=1 timeout 240 python3 "$2" "$work/$1" > "$work/$1.log" 2>&1; then echo "ok"; else echo "FAILED ($?)"; fi
  tail -n 15 "$work/$1.log"
}
[ -f packages/core/scripts/make_safetensors_fixture.py ] && run core-safetensors packages/core/scripts/make_safetensors_fixture.py
[ -f packages/core/scripts/make_peft_fixtures.py ] && run core-peft packages/core/scripts/make_peft_fixtures.py
[ -f packages/models/scripts/make_fixtures.py ] && run models packages/models/scripts/make_fixtures.py
[ -f packages/lora/scripts/make_fixtures.py ] && run lora packages/lora/scripts/make_fixtures.py
cp "$work"/*.log "$OUT"/ 2>/dev/null
tar czf "$OUT/fixtures.tgz" -C "$work" --exclude='*.log' .
du -sh "$work"/* | sed 's/^/size /'
