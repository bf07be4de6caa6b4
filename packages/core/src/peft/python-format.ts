/**
 * Python's number formatting where PEFT's printed lines use it, so peftjs prints the same text
 * (`print_trainable_parameters`: `f"{n:,d}"` and `f"{p:.4f}"`).
 */

/** `f"{n:,d}"`: an integer with "," between groups of three digits. */
export function formatThousands(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`formatThousands: expected a safe integer, got ${n}.`);
  const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return n < 0 ? `-${digits}` : digits;
}

/**
 * `f"{x:.4f}"`. Python rounds the exact binary value half-to-even; `toFixed` rounds exact ties up. A double is
 * exactly halfway between two 4-decimal numbers only when 32·x is an integer (x·10⁴ = k + ½ needs a
 * denominator of 2⁵ at most), so that case is handled with integers and every other goes to `toFixed`, which
 * rounds the exact binary value correctly.
 */
export function formatFixed4(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  const n32 = x * 32; // exact: a power of two
  if (Number.isSafeInteger(n32) && Math.abs(n32) < 2 ** 40) {
    // |x|·10⁴ = |n32|·625/2: a tie exactly when |n32|·625 is odd.
    const twice = Math.abs(n32) * 625;
    if (twice % 2 === 1) {
      const down = (twice - 1) / 2;
      const units = down % 2 === 0 ? down : down + 1; // half to even
      const s = (units / 10_000).toFixed(4);
      return x < 0 ? `-${s}` : s;
    }
  }
  return x.toFixed(4);
}
