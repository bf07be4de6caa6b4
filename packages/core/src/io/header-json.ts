/**
 * A strict JSON parser for safetensors headers: it refuses what the reference reader (safetensors 0.8, which
 * parses with serde_json) refuses and `JSON.parse` lets through, and keeps what the header validation needs
 * that `JSON.parse` throws away.
 *
 * - Nesting: serde_json's recursion limit is 128 levels (`remaining_depth`, decremented on entering every
 *   array or object, an error when it reaches 0), so at most 127 nested levels parse; the 128th is refused.
 *   This parser is iterative (no call stack per level), so hostile nesting cannot overflow the stack either.
 * - Strings: a `\uD800`–`\uDBFF` escape must be followed by a `\uDC00`–`\uDFFF` escape and a low surrogate
 *   may not stand alone (serde_json: "lone leading surrogate in hex escape"); control characters must be
 *   escaped. Raw (UTF-8 encoded) surrogates never reach here: the caller decodes with a fatal TextDecoder.
 * - Numbers: serde_json deserializes a number written with a fraction or an exponent (`4.0`, `1e0`) or `-0`
 *   as a float, and a float is not a `usize` ("invalid type: floating point"). The parser returns such numbers
 *   as {@link JsonFloat}, non-negative integers as `number` when exact (≤ 2^53 − 1) and as `bigint` beyond,
 *   negative integers as `number`.
 * - Duplicate keys: the parser keeps the last value (as JSON.parse and serde's HashMap do) and records every
 *   duplicated key of an object in {@link duplicateKeys}; the header validation decides which are errors
 *   (serde refuses a duplicate struct field, `dtype` / `shape` / `data_offsets` / `__metadata__`, and lets a
 *   duplicate map key through).
 *
 * Objects are created without a prototype, so a key such as `__proto__` is an ordinary key.
 */

/** A JSON number written as a float (fraction, exponent, or `-0`): serde_json refuses it where an integer is expected. */
export class JsonFloat {
  constructor(
    readonly value: number,
    readonly text: string,
  ) {}
}

export type HeaderJson = null | boolean | number | bigint | string | JsonFloat | HeaderJson[] | { [key: string]: HeaderJson };

/** serde_json's default recursion limit: a value nested this deep (counting the outermost level as 1) is refused. */
export const MAX_JSON_DEPTH = 128;

/** A syntax error at a character position of the header text. */
export class HeaderJsonError extends Error {
  override name = "HeaderJsonError";
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at character ${position}`);
  }
}

const duplicates = new WeakMap<object, Set<string>>();

/** The keys that appeared more than once in `object` (a value this parser returned); empty if none. */
export function duplicateKeys(object: object): ReadonlySet<string> {
  return duplicates.get(object) ?? EMPTY;
}
const EMPTY: ReadonlySet<string> = new Set();

interface Frame {
  readonly container: HeaderJson[] | Record<string, HeaderJson>;
  /** The key waiting for its value (objects only). */
  key: string | undefined;
  readonly seen: Set<string> | undefined;
}

/** Parses `text` (the whole header) strictly; see the module comment for what differs from JSON.parse. */
export function parseHeaderJson(text: string): HeaderJson {
  let i = 0;
  const n = text.length;
  const stack: Frame[] = [];

  const skipWhitespace = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const fail = (message: string, at = i): never => {
    throw new HeaderJsonError(message, at);
  };

  const readString = (): string => {
    // text[i] is the opening quote.
    const start = ++i;
    let out = "";
    let chunkStart = start;
    while (true) {
      if (i >= n) fail("unterminated string", start - 1);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(chunkStart, i);
        i++;
        return out;
      }
      if (c < 0x20) fail("control character (U+0000–U+001F) in a string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(chunkStart, i);
      const escape = text.charCodeAt(i + 1);
      switch (escape) {
        case 0x22: out += '"'; i += 2; break;
        case 0x5c: out += "\\"; i += 2; break;
        case 0x2f: out += "/"; i += 2; break;
        case 0x62: out += "\b"; i += 2; break;
        case 0x66: out += "\f"; i += 2; break;
        case 0x6e: out += "\n"; i += 2; break;
        case 0x72: out += "\r"; i += 2; break;
        case 0x74: out += "\t"; i += 2; break;
        case 0x75: {
          const unit = readHex(i + 2);
          i += 6;
          if (unit >= 0xdc00 && unit <= 0xdfff) fail("lone trailing surrogate in a \\u escape", i - 6);
          if (unit >= 0xd800 && unit <= 0xdbff) {
            if (text.charCodeAt(i) !== 0x5c || text.charCodeAt(i + 1) !== 0x75) fail("lone leading surrogate in a \\u escape", i - 6);
            const low = readHex(i + 2);
            if (low < 0xdc00 || low > 0xdfff) fail("lone leading surrogate in a \\u escape", i - 6);
            out += String.fromCharCode(unit, low);
            i += 6;
          } else {
            out += String.fromCharCode(unit);
          }
          break;
        }
        default:
          fail("invalid escape in a string");
      }
      chunkStart = i;
    }
  };

  const readHex = (at: number): number => {
    if (at + 4 > n) fail("truncated \\u escape", at);
    let value = 0;
    for (let k = at; k < at + 4; k++) {
      const c = text.charCodeAt(k);
      const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (digit < 0) fail("invalid hex digit in a \\u escape", k);
      value = value * 16 + digit;
    }
    return value;
  };

  const digitsFrom = (at: number): number => {
    let k = at;
    while (k < n && text.charCodeAt(k) >= 0x30 && text.charCodeAt(k) <= 0x39) k++;
    return k;
  };

  const readNumber = (): number | bigint | JsonFloat => {
    const start = i;
    let k = i;
    const negative = text.charCodeAt(k) === 0x2d;
    if (negative) k++;
    const intStart = k;
    if (text.charCodeAt(k) === 0x30) k++;
    else {
      const end = digitsFrom(k);
      if (end === k) fail("invalid number", start);
      k = end;
    }
    if (k < n && text.charCodeAt(k) >= 0x30 && text.charCodeAt(k) <= 0x39) fail("invalid number (leading zero)", start);
    const intEnd = k;
    let isFloat = false;
    if (text.charCodeAt(k) === 0x2e) {
      const end = digitsFrom(k + 1);
      if (end === k + 1) fail("invalid number (no digit after the decimal point)", start);
      k = end;
      isFloat = true;
    }
    if (text.charCodeAt(k) === 0x65 || text.charCodeAt(k) === 0x45) {
      k++;
      if (text.charCodeAt(k) === 0x2b || text.charCodeAt(k) === 0x2d) k++;
      const end = digitsFrom(k);
      if (end === k) fail("invalid number (no digit in the exponent)", start);
      k = end;
      isFloat = true;
    }
    i = k;
    const token = text.slice(start, k);
    // serde_json reads "-0" as the float -0.0.
    if (isFloat || (negative && intEnd - intStart === 1 && text.charCodeAt(intStart) === 0x30)) return new JsonFloat(Number(token), token);
    const value = Number(token);
    if (Number.isSafeInteger(value)) return value;
    // serde_json parses integers up to u64::MAX exactly and larger ones as floats.
    const big = BigInt(token);
    return big >= 0n && big <= 0xffff_ffff_ffff_ffffn ? big : new JsonFloat(value, token);
  };

  const literal = (word: string, value: HeaderJson): HeaderJson => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return fail("expected a value");
  };

  /** Attaches `value` to the innermost open container (or returns it as the root). */
  let root: HeaderJson | undefined;
  let haveRoot = false;
  const attach = (value: HeaderJson): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      root = value;
      haveRoot = true;
    } else if (Array.isArray(top.container)) {
      top.container.push(value);
    } else {
      const key = top.key as string;
      if (top.seen!.has(key)) {
        let set = duplicates.get(top.container);
        if (set === undefined) duplicates.set(top.container, (set = new Set()));
        set.add(key);
      } else {
        top.seen!.add(key);
      }
      Object.defineProperty(top.container, key, { value, enumerable: true, writable: true, configurable: true });
      top.key = undefined;
    }
  };
  const open = (container: HeaderJson[] | Record<string, HeaderJson>): void => {
    if (stack.length + 1 >= MAX_JSON_DEPTH) fail(`nested deeper than ${MAX_JSON_DEPTH - 1} levels (the reference reader's recursion limit)`);
    attach(container);
    stack.push({ container, key: undefined, seen: Array.isArray(container) ? undefined : new Set() });
  };

  // The grammar as a loop: parse a value; after a value, expect "," or the closer of the open container.
  skipWhitespace();
  valueLoop: while (true) {
    // Expecting a value (or, right after "[" / "{", possibly the closer: handled where those are opened).
    skipWhitespace();
    if (i >= n) fail("unexpected end of the header");
    const c = text.charCodeAt(i);
    if (c === 0x7b) {
      i++;
      open(Object.create(null) as Record<string, HeaderJson>);
      skipWhitespace();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        stack.pop();
      } else {
        readKey();
        continue valueLoop;
      }
    } else if (c === 0x5b) {
      i++;
      open([]);
      skipWhitespace();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        stack.pop();
      } else {
        continue valueLoop;
      }
    } else if (c === 0x22) {
      attach(readString());
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      attach(readNumber());
    } else if (c === 0x74) {
      attach(literal("true", true));
    } else if (c === 0x66) {
      attach(literal("false", false));
    } else if (c === 0x6e) {
      attach(literal("null", null));
    } else {
      fail("expected a value");
    }

    // After a complete value: close containers or move to the next element.
    while (true) {
      const top = stack[stack.length - 1];
      if (top === undefined) break valueLoop;
      skipWhitespace();
      const d = text.charCodeAt(i);
      const isArray = Array.isArray(top.container);
      if (d === 0x2c) {
        i++;
        skipWhitespace();
        if (isArray) {
          if (text.charCodeAt(i) === 0x5d) fail("trailing comma");
        } else {
          if (text.charCodeAt(i) === 0x7d) fail("trailing comma");
          readKey();
        }
        continue valueLoop;
      }
      if (d === (isArray ? 0x5d : 0x7d)) {
        i++;
        stack.pop();
        continue;
      }
      fail(i >= n ? "unexpected end of the header" : isArray ? 'expected "," or "]"' : 'expected "," or "}"');
    }
  }

  function readKey(): void {
    if (text.charCodeAt(i) !== 0x22) fail("expected a string key");
    const key = readString();
    skipWhitespace();
    if (text.charCodeAt(i) !== 0x3a) fail('expected ":" after a key');
    i++;
    stack[stack.length - 1]!.key = key;
  }

  skipWhitespace();
  if (i < n) fail("trailing characters after the header's JSON value");
  if (!haveRoot) fail("empty header");
  return root as HeaderJson;
}
