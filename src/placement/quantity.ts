/**
 * Kubernetes resource quantities ("500m", "1.5Gi", "2e3") as exact integers: cpu in millicores,
 * everything else in whole units (bytes, GPUs, pods), rounded up as the API server rounds them.
 * Exact decimal arithmetic matters: 0.1 * 1000 in floating point is 100.00000000000001, which would
 * round up to 101m and make a pod that fits look as if it does not.
 */

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|([numkMGTPE]))?$/;

const BINARY_POWER: Record<string, bigint> = {Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n};
const DECIMAL_EXPONENT: Record<string, number> = {n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18};

/** The unit a resource is counted in: cpu in thousandths, the rest in ones. */
export function unitExponent(resource: string): number {
  return resource === 'cpu' ? 3 : 0;
}

/**
 * Parses a quantity into an integer count of the resource's unit (see unitExponent), rounding up.
 * Throws on text that is not a quantity.
 */
export function parseQuantity(value: string | number, resource = ''): number {
  const text = String(value).trim();
  const match = QUANTITY.exec(text);
  if (!match) throw new Error(`"${text}" is not a valid quantity`);
  const [, sign, number = '0', binary, exponent, decimal] = match;
  const [whole = '', fraction = ''] = number.split('.');
  let numerator = BigInt((whole || '0') + fraction);
  let power10 = unitExponent(resource) - fraction.length;
  if (binary) numerator <<= BINARY_POWER[binary] ?? 0n;
  if (exponent !== undefined) power10 += Number(exponent);
  if (decimal) power10 += DECIMAL_EXPONENT[decimal] ?? 0;
  let result: bigint;
  if (power10 >= 0) {
    result = numerator * 10n ** BigInt(power10);
  } else {
    const divisor = 10n ** BigInt(-power10);
    result = numerator / divisor + (numerator % divisor === 0n ? 0n : 1n);
  }
  const n = Number(result);
  return sign === '-' ? -n : n;
}

export type ResourceAmounts = Record<string, number>;

/** Parses a resource list ({cpu: "500m", memory: "1Gi"}) into unit counts. */
export function parseResources(list: Record<string, string | number> | undefined): ResourceAmounts {
  const out: ResourceAmounts = {};
  for (const [name, value] of Object.entries(list ?? {})) out[name] = parseQuantity(value, name);
  return out;
}

export function addInto(target: ResourceAmounts, source: ResourceAmounts): ResourceAmounts {
  for (const [name, value] of Object.entries(source)) target[name] = (target[name] ?? 0) + value;
  return target;
}

export function maxInto(target: ResourceAmounts, source: ResourceAmounts): ResourceAmounts {
  for (const [name, value] of Object.entries(source)) target[name] = Math.max(target[name] ?? 0, value);
  return target;
}
