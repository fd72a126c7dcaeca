/**
 * The chaos soak's check of "one writer per group at a time", from the API servers' audit logs. Like
 * the rest of the checker it shares no code with the tool: it knows only the documented contract
 * (docs/design.md §5).
 * - Each run of the tool names itself in its User-Agent: `kubectl-superskyray/<version> (<run>)`.
 * - A group's Lease is `superskyray-<kind>-<group>` in its home namespace. A run holds it from the
 *   moment its create, or its patch, of the Lease succeeded until it deletes it or another run takes
 *   it. A patch by the run that holds it is a renewal.
 * - Every object the tool writes for a group is the group's Ray object, or is named after it:
 *   `<group>-...`.
 *
 * A write by a run is wrong when it fell wholly inside another run's hold of the group's Lease, or when
 * no run held it at any moment of the write. A write in flight across a change of holder is not
 * judged: nothing in the log says on which side of it the write took effect.
 *
 * Pure: `writersOf` takes the audit events (one JSON object per line of an audit log) and returns
 * the violations.
 */

export interface AuditEvent {
  stage?: string;
  verb?: string;
  requestURI?: string;
  userAgent?: string;
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  objectRef?: {resource?: string; namespace?: string; name?: string; subresource?: string};
  responseStatus?: {code?: number};
}

export interface WriterViolation {
  invariant: 'two-writers';
  /** When the write was received (ms since the epoch). */
  at: number;
  what: string;
}

export interface WritersReport {
  violations: WriterViolation[];
  /** Per group: how many runs took its Lease, and how many of the tool's writes were judged. */
  groups: Array<{group: string; takes: number; runs: number; writes: number}>;
}

const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Microseconds since the epoch, from the audit log's RFC 3339 times (which carry six digits). */
export function micros(time: string): number {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(time);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}Z`) * 1000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6));
}

/** The run a request came from, or undefined when the tool did not make it. */
export function runOf(userAgent: string | undefined): string | undefined {
  return /^kubectl-superskyray\/\S+ \(([^)]+)\)/.exec(userAgent ?? '')?.[1];
}

interface Write {
  context: string;
  run: string;
  verb: string;
  what: string;
  from: number;
  to: number;
}

interface Hold {
  run: string;
  from: number;
  /** Until: Infinity while it lasts. */
  to: number;
}

/**
 * @param logs the audit events of each cluster, by context.
 * @param groups the groups to judge, each with the kind of its Ray object (for its Lease's name).
 * @param since only what was received from then on (ms since the epoch) is judged.
 */
export function writersOf(logs: Record<string, AuditEvent[]>, namespace: string, groups: Array<{name: string; kind: string}>, since = 0): WritersReport {
  const writes: Write[] = [];
  for (const [context, events] of Object.entries(logs)) {
    for (const e of events) {
      const run = runOf(e.userAgent);
      const code = e.responseStatus?.code ?? 0;
      if (!run || e.stage !== 'ResponseComplete' || !MUTATING.has(e.verb ?? '') || code < 200 || code >= 300) continue;
      if (/[?&]dryRun=/.test(e.requestURI ?? '') || e.objectRef?.namespace !== namespace) continue;
      const from = micros(e.requestReceivedTimestamp ?? '');
      const ref = e.objectRef;
      writes.push({context, run, verb: e.verb!, what: `${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}/${ref.name ?? ''}`, from, to: micros(e.stageTimestamp ?? '')});
    }
  }
  writes.sort((a, b) => a.from - b.from);

  // Objects are told apart by name prefix only: "a" and "a-b" would claim each other's.
  for (const g of groups) {
    const other = groups.find((h) => h !== g && h.name.startsWith(`${g.name}-`));
    if (other) throw new Error(`writersOf: group names "${g.name}" and "${other.name}" cannot be told apart by their objects' names`);
  }
  const report: WritersReport = {violations: [], groups: []};
  for (const group of groups) {
    const lease = `leases/superskyray-${group.kind.toLowerCase()}-${group.name}`;
    const holds: Hold[] = [];
    for (const w of writes) {
      if (w.what !== lease) continue;
      const current = holds.at(-1);
      const holding = current && current.to === Infinity ? current : undefined;
      // While a take or a release is at the server, either side may hold: a hold ends when the
      // request that ends it was answered, so that a write in that moment is in flight, not judged.
      if (w.verb === 'delete') {
        if (holding) holding.to = w.to;
      } else if (holding?.run !== w.run) {
        if (holding) holding.to = w.to;
        holds.push({run: w.run, from: w.to, to: Infinity});
      }
    }
    const ofGroup = (name: string) => name === group.name || name.startsWith(`${group.name}-`);
    // Holds are built from the whole log (a run may have taken the Lease before `since`); only the
    // writes from `since` are judged.
    const mine = writes.filter((w) => w.what !== lease && w.from >= since * 1000 && ofGroup(w.what.split('/').at(-1)!) && !w.what.startsWith('events/'));
    for (const w of mine) {
      const other = holds.find((h) => h.run !== w.run && h.from < w.from && w.to < h.to);
      const anyHolder = holds.some((h) => h.from < w.to && w.from < h.to);
      const why = other ? `while ${other.run} held the Lease` : !anyHolder ? 'while no run held the Lease' : undefined;
      if (why) {
        report.violations.push({invariant: 'two-writers', at: Math.floor(w.from / 1000), what: `${w.context}: ${w.run} made ${w.verb} ${w.what} of ${group.name} ${why}`});
      }
    }
    report.groups.push({group: group.name, takes: holds.length, runs: new Set(holds.map((h) => h.run)).size, writes: mine.length});
  }
  return report;
}
