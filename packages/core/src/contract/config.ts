/** Config fields core reads from every method's config (types only). */

/** Fields every method config has (camelCase here; snake_case in adapter_config.json). */
export interface BasePeftConfig {
  /** The on-disk `peft_type`, e.g. "LORA". */
  readonly peftType: string;
  /** "CAUSAL_LM", "SEQ_CLS", … or null. */
  readonly taskType: string | null;
  readonly baseModelNameOrPath: string | null;
  readonly inferenceMode: boolean;
  /** Extra modules trained and saved in full (PEFT `modules_to_save`), matched like targets (exact or `.suffix`). */
  readonly modulesToSave: readonly string[] | null;
}

/** Module selection with PEFT's semantics; see `matchTargets` in core. */
export interface TargetSelection {
  /** List: exact path or `.suffix` match; string: full-match regular expression; "all-linear". */
  readonly targetModules: readonly string[] | string | null;
  readonly excludeModules: readonly string[] | string | null;
  readonly layersToTransform: readonly number[] | number | null;
  readonly layersPattern: readonly string[] | string | null;
}
