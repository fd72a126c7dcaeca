/** Amounts as people read them: cpu in cores (or millicores below one), memory in binary units. */

export function formatCpu(millicores: number): string {
  if (millicores === 0) return '0';
  if (millicores < 1000) return `${millicores}m`;
  return trimZeros((millicores / 1000).toFixed(millicores % 1000 === 0 ? 0 : 1));
}

const BINARY_UNITS = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${trimZeros(value.toFixed(value >= 100 || Number.isInteger(value) ? 0 : 1))}${BINARY_UNITS[unit]}`;
}

/** One resource's amount in its own kind of unit. */
export function formatAmount(resource: string, amount: number): string {
  if (resource === 'cpu') return formatCpu(amount);
  if (resource === 'memory' || resource === 'ephemeral-storage' || resource.startsWith('hugepages-')) return formatBytes(amount);
  return String(amount);
}

/** "requested/allocatable", with the share used when there is any allocatable at all. */
export function formatUse(resource: string, use: {requested: number; allocatable: number}): string {
  const pair = `${formatAmount(resource, use.requested)}/${formatAmount(resource, use.allocatable)}`;
  if (use.allocatable === 0) return pair;
  return `${pair} (${Math.round((100 * use.requested) / use.allocatable)}%)`;
}

/** cpu as a plain number of cores, for JSON and YAML output. */
export function toDocumentAmount(resource: string, amount: number): number {
  return resource === 'cpu' ? amount / 1000 : amount;
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** kubectl's short human duration: 45s, 3m20s, 2h10m, 5d. */
export function age(from: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 > 0 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60 > 0 ? `${m % 60}m` : ''}`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return `${d}d${h % 24 > 0 ? `${h % 24}h` : ''}`;
  return `${d}d`;
}
