#!/usr/bin/env bash
# Runs on the GPU host: loads what our JS code exported (in .xcheck/, made here by
#   node --conditions=@peftjs/source --import tsx packages/models/scripts/export-for-check.ts .xcheck/models
#   node --conditions=@peftjs/source --import tsx packages/lora/scripts/export-for-check.ts .xcheck/lora
# ) with transformers / PEFT and compares logits. Exit status: non-zero if any check fails.
set -u
status=0
echo "=== transformers loads @peftjs/models checkpoints"
python3 packages/models/scripts/check_export.py .xcheck/models || status=1
echo "=== PEFT loads @peftjs/lora adapters"
python3 packages/lora/scripts/check_export.py .xcheck/lora || status=1
exit $status
