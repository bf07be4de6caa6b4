/**
 * `pnpm bench`: the command-line entry. Progress and backend lines go to stderr, the summary table to
 * stdout. Exit status: 0 when every method ran, 1 when a method failed (its error is in the reports),
 * 2 when the run could not start or finish (bad option, no backend, unreadable input).
 */
import { parseArgs, usage } from "./args.js";
import { renderConsole } from "./report/console.js";
import { runBench } from "./run.js";

export async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage()}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  try {
    const { results, files } = await runBench(options, argv);
    process.stdout.write(`\n${renderConsole(results)}\n`);
    process.stderr.write(`wrote ${files.join(", ")}\n`);
    const failed = results.methods.filter((m) => m.error !== null);
    for (const m of failed) process.stderr.write(`${m.label} failed: ${m.error ?? ""}\n`);
    return failed.length > 0 ? 1 : 0;
  } catch (e) {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
