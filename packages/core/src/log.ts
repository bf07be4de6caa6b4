/**
 * The one place peftjs' packages send their messages. Nothing in peftjs calls `console.*` directly: each
 * API that has something to say takes a `logger` (or `verbose: true`) option, and falls back to the
 * default logger set here.
 *
 * Levels follow the usual order (debug < info < warn < error). The default logger writes warnings and
 * errors to the console and drops info and debug lines: a documented happy path prints nothing, and a
 * warning means something the user should act on. `verbose: true` (or `setDefaultLogger(consoleLogger("info"))`)
 * also shows the info lines (backend choice, layouts detected, notes about a checkpoint).
 */

/** Severity of a message, lowest first; `"silent"` as a threshold drops everything. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** A threshold: messages below it are dropped. */
export type LogThreshold = LogLevel | "silent";

/** What peftjs writes its messages to. Any object with these four methods works (pino, winston, console). */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The option every peftjs API that logs accepts. */
export interface LoggerOptions {
  /** Where messages go. Default: the default logger (`setDefaultLogger`), which shows warnings and errors only. */
  logger?: Logger;
  /** Also show info lines on the console (ignored when `logger` is given: that logger decides). */
  verbose?: boolean;
}

const RANK: Record<LogThreshold, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: Infinity };

/**
 * A logger writing to the console at or above `threshold` (default `"warn"`): debug and info go to
 * `console.info` (stdout is the user's), warn to `console.warn`, error to `console.error` (both stderr).
 */
export function consoleLogger(threshold: LogThreshold = "warn"): Logger {
  if (!(threshold in RANK)) throw new Error(`consoleLogger: unknown level ${JSON.stringify(threshold)}; use one of ${Object.keys(RANK).join(", ")}.`);
  const at = RANK[threshold];
  const drop = (): void => undefined;
  return {
    debug: at <= RANK.debug ? (m) => console.info(m) : drop,
    info: at <= RANK.info ? (m) => console.info(m) : drop,
    warn: at <= RANK.warn ? (m) => console.warn(m) : drop,
    error: at <= RANK.error ? (m) => console.error(m) : drop,
  };
}

/** Drops every message. */
export const silentLogger: Logger = Object.freeze(consoleLogger("silent"));

let defaultLogger: Logger = consoleLogger("warn");

/**
 * Sets the logger used when an API is given no `logger` option; a level is shorthand for `consoleLogger(level)`.
 * Returns the previous one (to restore it).
 */
export function setDefaultLogger(logger: Logger | LogThreshold): Logger {
  const previous = defaultLogger;
  defaultLogger = typeof logger === "string" ? consoleLogger(logger) : checkLogger(logger);
  return previous;
}

/** The logger used when an API is given no `logger` option. */
export function getDefaultLogger(): Logger {
  return defaultLogger;
}

/**
 * The logger an API should use for `options`: `options.logger`, else the console at `"info"` when
 * `verbose`, else the default logger (read at call time, so `setDefaultLogger` applies to later calls).
 */
export function resolveLogger(options: LoggerOptions | undefined): Logger {
  if (options?.logger !== undefined) return checkLogger(options.logger);
  if (options?.verbose === true) return verboseLogger(defaultLogger);
  return {
    debug: (m) => defaultLogger.debug(m),
    info: (m) => defaultLogger.info(m),
    warn: (m) => defaultLogger.warn(m),
    error: (m) => defaultLogger.error(m),
  };
}

// `verbose` shows info lines on the console; warnings and errors still go where the default logger sends them.
function verboseLogger(base: Logger): Logger {
  const loud = consoleLogger("info");
  return { debug: (m) => base.debug(m), info: (m) => loud.info(m), warn: (m) => base.warn(m), error: (m) => base.error(m) };
}

function checkLogger(logger: Logger): Logger {
  for (const k of ["debug", "info", "warn", "error"] as const) {
    if (typeof (logger as Partial<Logger> | null)?.[k] !== "function") {
      throw new Error(`logger: expected an object with debug, info, warn and error methods; "${k}" is missing. Use consoleLogger("info") or silentLogger.`);
    }
  }
  return logger;
}
