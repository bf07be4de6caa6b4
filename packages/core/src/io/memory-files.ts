/**
 * Files in memory, by name: what a browser has instead of a folder. `readFileList` turns picked or dropped
 * `File` objects into bytes; the `…FromFiles` / `fromFiles` loaders of core and models take the result (or
 * any map of name → bytes/text, like `peftModel.adapterFiles()` returns).
 */

/** What a `File` offers that peftjs needs (a `Blob` with a name; `webkitRelativePath` when a folder was picked). */
export interface NamedBlob {
  readonly name: string;
  readonly webkitRelativePath?: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** Files by relative path (`"adapter_config.json"`, `"other/adapter_model.safetensors"`): bytes, or text for JSON. */
export type FileMap = ReadonlyMap<string, Uint8Array | string> | Readonly<Record<string, Uint8Array | string>>;

/**
 * Reads `File` objects (an `<input type="file">`'s `files`, a drop's `dataTransfer.files`) into a map of
 * name → bytes. A file picked with its folder (`webkitdirectory`) is named by its path below that folder, so
 * a picked adapter folder keeps its `name/adapter_config.json` subfolders. Two files with one name are an error.
 */
export async function readFileList(files: Iterable<NamedBlob> | ArrayLike<NamedBlob>): Promise<Map<string, Uint8Array>> {
  const list = Array.from(files as ArrayLike<NamedBlob>);
  const out = new Map<string, Uint8Array>();
  for (const file of list) {
    const name = relativeName(file);
    if (out.has(name)) throw new Error(`readFileList: two files are named "${name}"; pick the files of one folder.`);
    out.set(name, new Uint8Array(await file.arrayBuffer()));
  }
  return out;
}

/** `webkitRelativePath` without its first segment (the picked folder's own name), else the file's name. */
function relativeName(file: NamedBlob): string {
  const rel = file.webkitRelativePath ?? "";
  const parts = rel.split("/").filter((p) => p !== "");
  return parts.length > 1 ? parts.slice(1).join("/") : file.name;
}

/** The entries of a FileMap, whichever form it has. */
export function fileMapEntries(files: FileMap): [string, Uint8Array | string][] {
  return files instanceof Map ? [...(files as ReadonlyMap<string, Uint8Array | string>)] : Object.entries(files as Record<string, Uint8Array | string>);
}

/** `name` from `files` (exact relative path), or undefined. */
export function fileMapGet(files: FileMap, name: string): Uint8Array | string | undefined {
  return files instanceof Map ? (files as ReadonlyMap<string, Uint8Array | string>).get(name) : Object.hasOwn(files, name) ? (files as Record<string, Uint8Array | string>)[name] : undefined;
}

/** A file as bytes (text is UTF-8 encoded). */
export function fileBytes(content: Uint8Array | string): Uint8Array {
  return typeof content === "string" ? new TextEncoder().encode(content) : content;
}

/** A file as text (bytes are decoded as UTF-8; invalid UTF-8 is an error naming the file). */
export function fileText(content: Uint8Array | string, name: string): string {
  if (typeof content === "string") return content;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(content);
  } catch {
    throw new Error(`"${name}" is not UTF-8 text.`);
  }
}
