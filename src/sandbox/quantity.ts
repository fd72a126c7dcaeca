/**
 * Resource quantities as apimachinery's resource.Quantity holds them: an exact value and the format
 * it was written in, which decides how the server prints it back. The quota messages and
 * ResourceQuota status the sandbox writes print quantities, and a client compares that text with
 * what a real server says ("1536Mi", not "1.5Gi"; "1500m", not "1.5").
 */

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** The value in units of 10^-9: exact for every quantity the API accepts. */
  nanos: bigint;
  format: QuantityFormat;
}

/** What the API server answers for text that is not a quantity (the decoder's words). */
export const QUANTITY_SYNTAX = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const PATTERN = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|([numkMGTPE]))?$/;
const BINARY = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
const DECIMAL: Record<string, number> = {n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18};
const NANO = 10n ** 9n;

/** A quantity from its text, or undefined for text that is not one. Finer than 1n rounds up, as the server rounds. */
export function parseQuantity(text: string | number): Quantity | undefined {
  const match = PATTERN.exec(String(text).trim());
  if (!match) return undefined;
  const [, sign, number = '0', binary, exponent, decimal = ''] = match;
  const [whole = '', fraction = ''] = number.split('.');
  let numerator = BigInt((whole || '0') + fraction);
  let power10 = 9 - fraction.length;
  if (binary) numerator <<= BigInt(10 * BINARY.indexOf(binary));
  if (exponent !== undefined) power10 += Number(exponent);
  if (!binary && exponent === undefined) power10 += DECIMAL[decimal] ?? 0;
  let nanos = numerator * 10n ** BigInt(Math.max(0, power10));
  if (power10 < 0) {
    const divisor = 10n ** BigInt(-power10);
    nanos = numerator / divisor + (numerator % divisor === 0n ? 0n : 1n);
  }
  const format: QuantityFormat = binary ? 'BinarySI' : exponent !== undefined ? 'DecimalExponent' : 'DecimalSI';
  return {nanos: sign === '-' ? -nanos : nanos, format};
}

export const zero = (): Quantity => ({nanos: 0n, format: 'DecimalSI'});

/** Quantity.Add: the sum keeps the first one's format, unless that one is zero. */
export function add(a: Quantity, b: Quantity): Quantity {
  return {nanos: a.nanos + b.nanos, format: a.nanos === 0n ? b.format : a.format};
}

export const compare = (a: Quantity, b: Quantity): number => (a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : 0);

/** Quantity.String(): the canonical text, in the quantity's own format. */
export function formatQuantity(q: Quantity): string {
  if (q.nanos === 0n) return '0';
  const sign = q.nanos < 0n ? '-' : '';
  const abs = q.nanos < 0n ? -q.nanos : q.nanos;
  // Binary only for whole values of at least 1024: anything else would be rounded, or read oddly.
  if (q.format === 'BinarySI' && abs >= 1024n * NANO && abs % NANO === 0n) {
    let value = abs / NANO;
    let power = 0;
    while (power < BINARY.length - 1 && value % 1024n === 0n) {
      value /= 1024n;
      power++;
    }
    return `${sign}${value}${BINARY[power]}`;
  }
  // The mantissa without trailing zeros, its exponent brought down to a multiple of 3.
  let mantissa = abs;
  let exponent = -9;
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent++;
  }
  const over = ((exponent % 3) + 3) % 3;
  mantissa *= 10n ** BigInt(over);
  exponent -= over;
  if (q.format === 'DecimalExponent') return `${sign}${mantissa}${exponent === 0 ? '' : `e${exponent}`}`;
  const suffix = Object.entries(DECIMAL).find(([, e]) => e === exponent)?.[0];
  return `${sign}${mantissa}${suffix ?? `e${exponent}`}`;
}

/** A resource list (cpu: "500m", memory: "1Gi") read into quantities; text that is not one is left out. */
export function parseList(list: Record<string, unknown>): Record<string, Quantity> {
  const out: Record<string, Quantity> = {};
  for (const [name, value] of Object.entries(list)) {
    const q = typeof value === 'string' || typeof value === 'number' ? parseQuantity(value) : undefined;
    if (q) out[name] = q;
  }
  return out;
}

/** The printed form of a resource list, as the server writes one back. */
export function formatList(list: Record<string, Quantity>): Record<string, string> {
  return Object.fromEntries(Object.entries(list).map(([k, q]) => [k, formatQuantity(q)]));
}

/** Semantic equality of two resource lists: the same names, each of the same value (absent and empty are equal). */
export function sameList(a: Record<string, Quantity>, b: Record<string, Quantity>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] !== undefined && b[k] !== undefined && a[k].nanos === b[k].nanos);
}
