/**
 * The set of methods a program uses, as an explicit value: `createRegistry(lora, adapter)`. No method
 * registers itself on import, so a user installs and bundles only the method packages they use.
 */
import type { Method } from "../contract/method.js";
import { BASE_ADAPTER_NAME } from "../tuners/base-tuner-layer.js";

export { BASE_ADAPTER_NAME } from "../tuners/base-tuner-layer.js";

export interface MethodRegistry {
  /** The methods, in the order given. */
  readonly methods: readonly Method[];
  /** The method with this `name`, or undefined. */
  find(name: string): Method | undefined;
  /** The method with this on-disk `peft_type`; throws (listing the registered ones) when there is none. */
  byPeftType(peftType: string): Method;
  /** Every method's parameter prefix. */
  prefixes(): string[];
}

/** Method names: lowercase, unique ("lora", "prompt-tuning"). */
const NAME = /^[a-z][a-z0-9_-]*$/;

/** Validates every method and refuses duplicate names, peft types and prefixes (and prefixes that overlap). */
export function createRegistry(...methods: Method[]): MethodRegistry {
  const byName = new Map<string, Method>();
  const byType = new Map<string, Method>();
  for (const m of methods) {
    if (m === null || typeof m !== "object") throw new Error(`createRegistry: expected Method objects, got ${String(m)}.`);
    if ((m.specificationVersion as string) !== "v2") {
      const v = String(m.specificationVersion);
      const fix = v === "v1" ? "contract v1 was removed in @peftjs/core 0.2 (inject returns an Injection now); upgrade the method package" : "install matching versions";
      throw new Error(`createRegistry: method "${m.name}" implements contract ${v}, this @peftjs/core implements "v2"; ${fix}.`);
    }
    if (typeof m.name !== "string" || !NAME.test(m.name)) {
      throw new Error(`createRegistry: method name ${JSON.stringify(m.name)} is invalid; use lowercase letters, digits, "-" or "_" (e.g. "lora").`);
    }
    if (typeof m.peftType !== "string" || m.peftType === "") throw new Error(`createRegistry: method "${m.name}" has no peftType (the on-disk peft_type, e.g. "LORA").`);
    if (typeof m.prefix !== "string" || m.prefix === "" || m.prefix.includes(".")) {
      throw new Error(`createRegistry: method "${m.name}" has an invalid prefix ${JSON.stringify(m.prefix)}; a prefix is a non-empty name part without "." (e.g. "lora_").`);
    }
    const sameName = byName.get(m.name);
    if (sameName !== undefined) throw new Error(`createRegistry: two methods are named "${m.name}"; method names must be unique.`);
    const sameType = byType.get(m.peftType);
    if (sameType !== undefined) throw new Error(`createRegistry: methods "${sameType.name}" and "${m.name}" both have peftType "${m.peftType}"; a saved adapter could not say which one to load.`);
    for (const other of byName.values()) {
      if (other.prefix === m.prefix) throw new Error(`createRegistry: methods "${other.name}" and "${m.name}" both use the prefix "${m.prefix}"; prefixes must be unique.`);
      if (other.prefix.startsWith(m.prefix) || m.prefix.startsWith(other.prefix)) {
        throw new Error(`createRegistry: the prefixes "${other.prefix}" (${other.name}) and "${m.prefix}" (${m.name}) overlap; parameter names could not tell the methods apart.`);
      }
    }
    byName.set(m.name, m);
    byType.set(m.peftType, m);
  }
  const list = Object.freeze([...methods]);
  return Object.freeze({
    methods: list,
    find: (name: string) => byName.get(name),
    byPeftType(peftType: string): Method {
      const m = byType.get(peftType);
      if (m === undefined) {
        const known = [...byType.keys()];
        throw new Error(
          `No registered method has peft_type "${peftType}". Registered: ${known.length > 0 ? known.map((t) => `"${t}" (${byType.get(t)!.name})`).join(", ") : "none"}. Pass a registry that includes it: createRegistry(…).`,
        );
      }
      return m;
    },
    prefixes: () => list.map((m) => m.prefix),
  });
}


/**
 * Refuses adapter names that would break file keys or folders: empty, containing ".", "/" or "\\",
 * the reserved `"__base__"`, containing a method prefix (`"my_lora_1"` holds `"lora_"`) or equal to a prefix
 * without its trailing underscore (`"lora"`): PEFT warns about those because the adapter name and the
 * parameter prefix then cannot be told apart in state-dict keys.
 */
export function validateAdapterName(name: string, prefixes: Iterable<string>): void {
  if (typeof name !== "string" || name.trim() === "") throw new Error(`Invalid adapter name ${JSON.stringify(name)}: it must be a non-empty string.`);
  // It becomes a folder name on save: most file systems allow 255 bytes and no NUL; control characters are refused too.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new Error(`Invalid adapter name ${JSON.stringify(name)}: it may not contain NUL or other control characters (it becomes a folder name when saved).`);
  }
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > 255) {
    throw new Error(`Invalid adapter name "${name.slice(0, 40)}…" (${bytes} bytes): at most 255 bytes, the longest folder name most file systems allow (it becomes one when saved). Choose a shorter name.`);
  }
  if (/[./\\]/.test(name)) {
    throw new Error(`Invalid adapter name "${name}": it may not contain ".", "/" or "\\" (it becomes a parameter-name segment and a folder name). Try "${name.replace(/[./\\]/g, "_")}".`);
  }
  if (name === BASE_ADAPTER_NAME) throw new Error(`Invalid adapter name "${name}": it is reserved for "no adapter" in mixed-batch forwards.`);
  for (const prefix of prefixes) {
    const bare = prefix.replace(/_+$/, "");
    if (name.includes(prefix) || name === bare) {
      throw new Error(`Invalid adapter name "${name}": it collides with the method prefix "${prefix}", so saved keys could not be mapped back. Choose another name (e.g. "default", "task1").`);
    }
  }
}
