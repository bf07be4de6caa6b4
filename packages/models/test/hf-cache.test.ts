// A Hugging Face cache snapshot holds links into ../../blobs/: refused by default (links out of the folder),
// loaded with allowLinksOutside, for the model and its tokenizer alike.
import { copyFile, mkdir, mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadPretrained, loadTokenizer } from "../src/index.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

async function cacheLayout(): Promise<string> {
  const repo = await mkdtemp(join(tmpdir(), "peftjs-hfcache-"));
  const blobs = join(repo, "blobs");
  const snapshot = join(repo, "snapshots", "0123abc");
  await mkdir(blobs, { recursive: true });
  await mkdir(snapshot, { recursive: true });
  const files: [string, string][] = [
    ["gpt2/config.json", "config.json"],
    ["gpt2/model.safetensors", "model.safetensors"],
    ["tokenizer/tokenizer.json", "tokenizer.json"],
    ["tokenizer/tokenizer_config.json", "tokenizer_config.json"],
  ];
  for (const [i, [from, name]] of files.entries()) {
    await copyFile(join(FIXTURES, from), join(blobs, `blob${i}`));
    await symlink(join("..", "..", "blobs", `blob${i}`), join(snapshot, name));
  }
  return snapshot;
}

describe("Hugging Face cache snapshots", () => {
  it("are refused by default, naming allowLinksOutside, and load with it", async () => {
    const snapshot = await cacheLayout();
    await expect(loadPretrained(snapshot)).rejects.toThrow(/allowLinksOutside/);
    await expect(loadTokenizer(snapshot)).rejects.toThrow(/allowLinksOutside/);
    const viaCache = await loadPretrained(snapshot, { allowLinksOutside: true });
    const direct = await loadPretrained(join(FIXTURES, "gpt2"));
    const a = viaCache.stateDict();
    const b = direct.stateDict();
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, t] of a) expect(Array.from(t.dataSync()), k).toEqual(Array.from(b.get(k)!.dataSync()));
    const tok = await loadTokenizer(snapshot, { allowLinksOutside: true });
    expect(tok.encode("hello world").length).toBeGreaterThan(0);
  });
});
