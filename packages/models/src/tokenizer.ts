/**
 * Tokenizers from a local Hugging Face folder: `tokenizer.json` (+ `tokenizer_config.json` when present),
 * run by @huggingface/tokenizers (Tokenizers.js, the tokenizer of transformers.js: BPE, WordPiece,
 * Unigram, with the normalizers, pre-tokenizers, post-processors and decoders of the Rust library).
 * Chat templates (tokenizer_config.json's `chat_template`, or transformers 5's `chat_template.jinja`) are
 * rendered by @huggingface/jinja, the Jinja implementation transformers.js uses.
 */
import { Tokenizer as TokenizerImpl } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";
import { fileMapEntries, fileMapGet, fileText, nodeFileSystem, readTextFileSafely } from "@peftjs/core";
import type { FileMap } from "@peftjs/core";
import { parseJsonObject, readJsonFile } from "./checkpoint.js";
import type { JsonObject } from "./config.js";

/**
 * The part of Tokenizers.js's `Tokenizer` used here. Its published .d.ts files use extensionless relative
 * imports, which TypeScript's NodeNext resolution cannot follow (the class arrives untyped), so the
 * signatures (from its types/core/Tokenizer.d.ts, 0.2.0) are restated.
 */
interface TokenizersJs {
  encode(
    text: string,
    options: { text_pair?: string | null; add_special_tokens?: boolean; return_token_type_ids?: boolean | null },
  ): { ids: number[]; tokens: string[]; attention_mask: number[]; token_type_ids?: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  tokenize(text: string): string[];
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}
const HFTokenizer = TokenizerImpl as unknown as new (tokenizerJson: object, tokenizerConfig: object) => TokenizersJs;

export interface EncodeOptions {
  /** Add the post-processor's special tokens ([CLS] … [SEP], BOS …); default true. */
  addSpecialTokens?: boolean;
  /** Second segment for pair tasks (BERT's token type 1). */
  textPair?: string;
}

export interface BatchEncodeOptions extends EncodeOptions {
  /** Keep the first maxLength ids of each row (special tokens added at the end, like [SEP], may be cut). */
  maxLength?: number;
  /** Pad to the longest sequence ("longest", default), to `maxLength` ("max_length"), or not at all (false: rows may differ in length). */
  padding?: "longest" | "max_length" | false;
  /** Pad on the right (default, BERT / training) or the left (decoder-only generation). */
  paddingSide?: "right" | "left";
}

export interface BatchEncoding {
  inputIds: number[][];
  attentionMask: number[][];
  /** Present when the post-processor assigns segments (BERT). */
  tokenTypeIds?: number[][];
}

/** A loaded tokenizer: encode text to ids and back. */
/** One chat turn, as transformers' `apply_chat_template` takes it. */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the header of an assistant turn (transformers' `add_generation_prompt`). Default false. */
  addGenerationPrompt?: boolean;
  /** A template to use instead of the tokenizer's own. */
  chatTemplate?: string;
  /** Extra variables the template reads (e.g. `tools`, `enable_thinking`). */
  variables?: Record<string, unknown>;
}

export class PretrainedTokenizer {
  private readonly tokenizer: TokenizersJs;
  private readonly compiledTemplates = new Map<string, Template>();

  constructor(
    readonly tokenizerJson: JsonObject,
    /** tokenizer_config.json ({} when the folder has none). */
    readonly tokenizerConfig: JsonObject = {},
    /** The folder's `chat_template.jinja` (transformers 5 saves the template there), when it has one. */
    readonly chatTemplateFile: string | null = null,
  ) {
    this.tokenizer = new HFTokenizer(tokenizerJson, tokenizerConfig);
  }

  /**
   * The chat template: `chat_template.jinja` when the folder has one, else tokenizer_config.json's
   * `chat_template` (a string, or a list of `{name, template}` of which "default" is used), else null.
   */
  get chatTemplate(): string | null {
    if (this.chatTemplateFile !== null) return this.chatTemplateFile;
    const t = this.tokenizerConfig["chat_template"];
    if (typeof t === "string") return t;
    if (Array.isArray(t)) {
      const named = t.find((e): e is { name: string; template: string } => typeof e === "object" && e !== null && (e as { name?: unknown }).name === "default" && typeof (e as { template?: unknown }).template === "string");
      return named?.template ?? null;
    }
    return null;
  }

  /**
   * Renders a conversation with the chat template, as transformers' `apply_chat_template(…, tokenize=False)`
   * does: the template sees `messages`, `add_generation_prompt`, the special tokens of tokenizer_config.json
   * (`bos_token`, `eos_token`, `pad_token`, `unk_token`) and `options.variables`.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const source = options.chatTemplate ?? this.chatTemplate;
    if (source === null) {
      throw new Error(
        "applyChatTemplate: this tokenizer has no chat template (tokenizer_config.json has no chat_template and the folder no chat_template.jinja). Pass options.chatTemplate, or use a folder of a chat (instruct) model.",
      );
    }
    for (const [i, m] of messages.entries()) {
      if (typeof m.role !== "string" || typeof m.content !== "string") {
        throw new Error(`applyChatTemplate: message ${i} needs a string role and a string content, like { role: "user", content: "Hello" }.`);
      }
    }
    let template = this.compiledTemplates.get(source);
    if (template === undefined) {
      template = new Template(source);
      this.compiledTemplates.set(source, template);
    }
    const special: Record<string, string> = {};
    for (const role of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
      const v = this.tokenizerConfig[role];
      const content = typeof v === "string" ? v : typeof v === "object" && v !== null ? (v as { content?: unknown }).content : undefined;
      if (typeof content === "string") special[role] = content;
    }
    return template.render({ ...special, ...options.variables, messages: messages.map((m) => ({ ...m })), add_generation_prompt: options.addGenerationPrompt === true });
  }

  /** Token ids of the rendered conversation (no special tokens added: the template writes them), as `apply_chat_template(…, tokenize=True)`. */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }

  /** Token ids of `text`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.encodeFull(text, options).ids;
  }

  /** Ids, token strings, attention mask and (for pairs / BERT) token type ids. */
  encodeFull(text: string, options: EncodeOptions = {}): { ids: number[]; tokens: string[]; attentionMask: number[]; tokenTypeIds?: number[] } {
    const e = this.tokenizer.encode(text, {
      add_special_tokens: options.addSpecialTokens ?? true,
      text_pair: options.textPair ?? null,
      return_token_type_ids: true,
    });
    const out: { ids: number[]; tokens: string[]; attentionMask: number[]; tokenTypeIds?: number[] } = {
      ids: e.ids,
      tokens: e.tokens,
      attentionMask: e.attention_mask,
    };
    if (e.token_type_ids !== undefined) out.tokenTypeIds = e.token_type_ids;
    return out;
  }

  /** Encodes several texts, truncated and padded with `padTokenId` into rectangular arrays. */
  encodeBatch(texts: readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
    const { maxLength, padding = "longest", paddingSide = "right" } = options;
    if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength <= 0)) throw new Error(`encodeBatch: maxLength must be a positive integer, got ${maxLength}.`);
    if (padding === "max_length" && maxLength === undefined) throw new Error('encodeBatch: padding "max_length" needs maxLength.');
    const encoded = texts.map((t) => this.encodeFull(t, options));
    const cut = <T>(xs: T[]): T[] => (maxLength !== undefined && xs.length > maxLength ? xs.slice(0, maxLength) : xs);
    const rows = encoded.map((e) => ({ ids: cut(e.ids), types: e.tokenTypeIds === undefined ? undefined : cut(e.tokenTypeIds) }));
    const width = padding === "max_length" ? maxLength! : Math.max(0, ...rows.map((r) => r.ids.length));
    const pad = <T>(xs: T[], value: T): T[] => {
      if (padding === false || xs.length >= width) return xs;
      const fill = new Array<T>(width - xs.length).fill(value);
      return paddingSide === "left" ? [...fill, ...xs] : [...xs, ...fill];
    };
    const padId = padding === false ? 0 : this.requirePadTokenId();
    const out: BatchEncoding = {
      inputIds: rows.map((r) => pad(r.ids, padId)),
      attentionMask: rows.map((r) => pad(new Array<number>(r.ids.length).fill(1), 0)),
    };
    if (rows.every((r) => r.types !== undefined)) out.tokenTypeIds = rows.map((r) => pad(r.types!, 0));
    return out;
  }

  /** Text of `ids`; special tokens are left out unless `skipSpecialTokens` is false. */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    // Tokenizers.js refuses an empty list; the Rust library decodes it to "".
    if (ids.length === 0) return "";
    return this.tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  tokenize(text: string): string[] {
    return this.tokenizer.tokenize(text);
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /** Vocabulary size including added tokens. */
  get vocabSize(): number {
    return this.tokenizer.get_vocab(true).size;
  }

  get bosTokenId(): number | undefined {
    return this.specialTokenId("bos_token");
  }

  get eosTokenId(): number | undefined {
    return this.specialTokenId("eos_token");
  }

  get unkTokenId(): number | undefined {
    return this.specialTokenId("unk_token");
  }

  /** `pad_token` of tokenizer_config.json (GPT-2 style tokenizers have none; `encodeBatch` then pads with eos). */
  get padTokenId(): number | undefined {
    return this.specialTokenId("pad_token");
  }

  private requirePadTokenId(): number {
    const id = this.padTokenId ?? this.eosTokenId;
    if (id === undefined) throw new Error("encodeBatch: the tokenizer has neither pad_token nor eos_token in tokenizer_config.json; pass padding: false or add a pad token.");
    return id;
  }

  /** The id of a special token named in tokenizer_config.json (as a string or an AddedToken object). */
  private specialTokenId(role: string): number | undefined {
    const v = this.tokenizerConfig[role];
    const content = typeof v === "string" ? v : typeof v === "object" && v !== null ? (v as { content?: unknown }).content : undefined;
    return typeof content === "string" ? this.tokenToId(content) : undefined;
  }
}

/** `loadTokenizer` from files in memory (`tokenizer.json`, and `tokenizer_config.json` when there is one). */
export function loadTokenizerFromFiles(files: FileMap): PretrainedTokenizer {
  const tokenizerJson = fileMapGet(files, "tokenizer.json");
  if (tokenizerJson === undefined) {
    const names = fileMapEntries(files).map(([n]) => `"${n}"`);
    throw new Error(`loadTokenizer: tokenizer.json is not among the given files (${names.join(", ") || "no files"}).`);
  }
  const config = fileMapGet(files, "tokenizer_config.json");
  const template = fileMapGet(files, "chat_template.jinja");
  return new PretrainedTokenizer(
    parseJsonObject(tokenizerJson, "tokenizer.json", "loadTokenizer"),
    config === undefined ? {} : parseJsonObject(config, "tokenizer_config.json", "loadTokenizer"),
    template === undefined ? null : fileText(template, "chat_template.jinja"),
  );
}

/** Loads `tokenizer.json` (required) and `tokenizer_config.json` (optional) from a local folder. */
export async function loadTokenizer(dir: string, options: { allowLinksOutside?: boolean } = {}): Promise<PretrainedTokenizer> {
  const links = { allowLinksOutside: options.allowLinksOutside === true };
  const { fs, path } = await nodeFileSystem();
  const tokenizerJson = await readJsonFile(path.join(dir, "tokenizer.json"), "loadTokenizer", links);
  const configFile = path.join(dir, "tokenizer_config.json");
  let config: JsonObject = {};
  try {
    await fs.access(configFile);
    config = await readJsonFile(configFile, "loadTokenizer", links);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  // transformers 5 saves the chat template beside the config, as chat_template.jinja.
  const templateFile = path.join(dir, "chat_template.jinja");
  let template: string | null = null;
  try {
    await fs.access(templateFile);
    template = await readTextFileSafely(templateFile, links);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  return new PretrainedTokenizer(tokenizerJson, config, template);
}
