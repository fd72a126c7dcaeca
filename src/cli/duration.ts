const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000};

/**
 * A duration as kubectl takes it: Go-style "30s", "1m30s", "250ms", "1h", or a bare number of
 * seconds. "0" means no limit, as with kubectl's --request-timeout.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const part = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let total = 0;
  let at = 0;
  while (at < trimmed.length) {
    part.lastIndex = at;
    const match = part.exec(trimmed);
    if (!match) throw new Error(`"${text}" is not a duration; use forms like 30s, 5m or 1h30m`);
    total += Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000);
    at = part.lastIndex;
  }
  if (trimmed === '') throw new Error('the duration is empty; use forms like 30s, 5m or 1h30m');
  return Math.round(total);
}
