// Chat templates rendered by @huggingface/jinja against what transformers 5.17 renders for the same template and
// conversation (fixture: scripts/make_chat_template_fixtures.py, transformers' render_jinja_template).
import { mkdtemp, readFile, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadTokenizer, loadTokenizerFromFiles } from "../src/index.js";
import type { ChatMessage } from "../src/index.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

interface Fixture {
  special_tokens: Record<string, string>;
  templates: Record<string, string>;
  conversations: ChatMessage[][];
  cases: { template: string; conversation: number; add_generation_prompt: boolean; expected: string }[];
}

async function fixture(): Promise<Fixture> {
  return JSON.parse(await readFile(join(FIXTURES, "chat_templates/cases.json"), "utf8")) as Fixture;
}

async function tokenizerFiles(config: Record<string, unknown>, template?: string): Promise<Map<string, string>> {
  const files = new Map<string, string>([
    ["tokenizer.json", await readFile(join(FIXTURES, "tokenizer/tokenizer.json"), "utf8")],
    ["tokenizer_config.json", JSON.stringify(config)],
  ]);
  if (template !== undefined) files.set("chat_template.jinja", template);
  return files;
}

describe("chat templates", () => {
  it("render every fixture conversation as transformers does (tokenizer_config.json chat_template)", async () => {
    const f = await fixture();
    expect(f.cases.length).toBeGreaterThanOrEqual(20);
    for (const c of f.cases) {
      const tok = loadTokenizerFromFiles(await tokenizerFiles({ ...f.special_tokens, chat_template: f.templates[c.template] }));
      const messages = f.conversations[c.conversation];
      if (messages === undefined) throw new Error("fixture conversation missing");
      expect(tok.applyChatTemplate(messages, { addGenerationPrompt: c.add_generation_prompt }), `${c.template} #${c.conversation} gen=${c.add_generation_prompt}`).toBe(c.expected);
    }
  });

  it("reads transformers 5's chat_template.jinja from a folder, before tokenizer_config.json's, and a named list", async () => {
    const f = await fixture();
    const dir = await mkdtemp(join(tmpdir(), "peftjs-chat-"));
    await copyFile(join(FIXTURES, "tokenizer/tokenizer.json"), join(dir, "tokenizer.json"));
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ ...f.special_tokens, chat_template: f.templates["phi3"] }));
    await writeFile(join(dir, "chat_template.jinja"), f.templates["chatml"] ?? "");
    const tok = await loadTokenizer(dir);
    const expected = f.cases.find((c) => c.template === "chatml" && c.conversation === 0 && c.add_generation_prompt)?.expected;
    expect(tok.applyChatTemplate(f.conversations[0] ?? [], { addGenerationPrompt: true })).toBe(expected);
    const listed = loadTokenizerFromFiles(await tokenizerFiles({ ...f.special_tokens, chat_template: [{ name: "tool_use", template: "x" }, { name: "default", template: f.templates["llama3"] }] }));
    expect(listed.chatTemplate).toBe(f.templates["llama3"]);
  });

  it("encodes the rendered text without adding special tokens again", async () => {
    const f = await fixture();
    const tok = loadTokenizerFromFiles(await tokenizerFiles({ ...f.special_tokens, chat_template: f.templates["chatml"] }));
    const text = tok.applyChatTemplate(f.conversations[0] ?? []);
    expect(tok.encodeChat(f.conversations[0] ?? [])).toEqual(tok.encode(text, { addSpecialTokens: false }));
  });

  it("says how to fix a missing template, a bad message and a template that raises", async () => {
    const f = await fixture();
    const none = loadTokenizerFromFiles(await tokenizerFiles({}));
    expect(() => none.applyChatTemplate([{ role: "user", content: "hi" }])).toThrow(/no chat template.*options\.chatTemplate/);
    const gemma = loadTokenizerFromFiles(await tokenizerFiles({ ...f.special_tokens, chat_template: f.templates["gemma"] }));
    expect(() => gemma.applyChatTemplate([{ role: "user", content: 3 } as unknown as ChatMessage])).toThrow(/string role and a string content/);
    expect(() => gemma.applyChatTemplate([{ role: "assistant", content: "first" }])).toThrow(/alternate/);
  });
});
