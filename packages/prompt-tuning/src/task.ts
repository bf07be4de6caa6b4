/**
 * The task a prompt method adapts the model for (PEFT picks `PeftModelForCausalLM` or
 * `PeftModelForSequenceClassification` by `task_type`; their forwards differ in labels and token types).
 */
import type { PreTrainedModelLike } from "@peftjs/core";
import { configError } from "./config.js";

/**
 * `taskType` as given, or from the model's head when null: `lm_head` → CAUSAL_LM, `classifier` / `score` →
 * SEQ_CLS. The applied config records it, so PEFT loads the adapter into the right PeftModel class.
 */
export function resolveTaskType(taskType: string | null, model: PreTrainedModelLike, method: string): "CAUSAL_LM" | "SEQ_CLS" {
  if (taskType === "CAUSAL_LM" || taskType === "SEQ_CLS") return taskType;
  if (taskType !== null) configError(method, `taskType "${taskType}" is not supported by prompt methods here; use "CAUSAL_LM" or "SEQ_CLS".`);
  const head = model.outputEmbeddingsPath;
  if (head === "lm_head") return "CAUSAL_LM";
  if (head === "classifier" || head === "score") return "SEQ_CLS";
  configError(method, 'taskType is not set and the model\'s head does not say it; pass taskType: "CAUSAL_LM" or "SEQ_CLS".');
}

/**
 * The applied config's task type, and for SEQ_CLS the classification head in `modulesToSave` (PEFT's
 * `PeftModelForSequenceClassification` trains and saves the new head; core adds it when the given config
 * already said SEQ_CLS).
 */
export function withTask<C extends { taskType: string | null; modulesToSave: readonly string[] | null }>(config: C, model: PreTrainedModelLike, method: string): C {
  const taskType = resolveTaskType(config.taskType, model, method);
  const modulesToSave = taskType === "SEQ_CLS" ? [...new Set([...(config.modulesToSave ?? []), "classifier", "score"])] : config.modulesToSave;
  return { ...config, taskType, modulesToSave };
}
