/**
 * PEFT configs hold Python regular expressions (`target_modules` as a string, `exclude_modules`,
 * `layers_pattern`, the keys of `rank_pattern` / `alpha_pattern`). This translates the few syntax forms that
 * differ in JavaScript and compiles them the way PEFT applies them (`re.fullmatch` / `re.match`).
 */

const cache = new Map<string, RegExp>();

/**
 * Python → JavaScript regex source: `(?P<name>` → `(?<name>`, `(?P=name)` → `\k<name>`, `\A` → `^`, `\Z` → `$`,
 * and leading global inline flags (`(?i)`, `(?s)`, `(?m)`) become JavaScript flags. Everything else is the same
 * in both for the patterns configs use.
 */
export function translatePythonRegex(pattern: string): { source: string; flags: string } {
  let rest = pattern;
  let flags = "";
  const inline = /^\(\?([aiLmsux]+)\)/.exec(rest);
  if (inline !== null) {
    for (const f of inline[1]!) if ("ims".includes(f) && !flags.includes(f)) flags += f;
    rest = rest.slice(inline[0].length);
  }
  let out = "";
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]!;
    if (c === "\\" && i + 1 < rest.length) {
      const next = rest[i + 1]!;
      out += next === "A" ? "^" : next === "Z" ? "$" : c + next;
      i++;
    } else if (rest.startsWith("(?P<", i)) {
      out += "(?<";
      i += 3;
    } else if (rest.startsWith("(?P=", i)) {
      const end = rest.indexOf(")", i);
      if (end < 0) throw new Error(`Invalid regular expression "${pattern}": unterminated "(?P=" group.`);
      out += `\\k<${rest.slice(i + 4, end)}>`;
      i = end;
    } else {
      out += c;
    }
  }
  return { source: out, flags };
}

/**
 * Compiles `template` with `{}` replaced by the translated pattern. `what` names the config field in errors.
 * Results are cached: matching runs once per module per pattern.
 */
function compile(pattern: string, template: (p: string) => string, what: string): RegExp {
  const key = `${template("\u0000")}\u0001${pattern}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const { source, flags } = translatePythonRegex(pattern);
  let re: RegExp;
  try {
    re = new RegExp(template(source), flags);
  } catch (error) {
    throw new Error(`Invalid regular expression in ${what}: "${pattern}" (${(error as Error).message}). Use a Python/JavaScript regex such as ".*\\.(q_proj|v_proj)".`);
  }
  cache.set(key, re);
  return re;
}

/** Python `re.fullmatch(pattern, text)`. */
export function pyFullMatch(pattern: string, text: string, what = "a pattern"): boolean {
  return compile(pattern, (p) => `^(?:${p})$`, what).test(text);
}

/**
 * Python `re.match(prefixSource + pattern + suffixSource, text)` (anchored at the start only); returns the
 * match. `prefixSource` / `suffixSource` are JavaScript regex sources written by us, not user input.
 */
export function pyMatch(prefixSource: string, pattern: string, suffixSource: string, text: string, what = "a pattern"): RegExpExecArray | null {
  return compile(pattern, (p) => `^${prefixSource}${p}${suffixSource}`, what).exec(text);
}
