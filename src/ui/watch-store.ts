/**
 * The state of the watch TUI, as plain data, and the pure reducer that folds watch's reports into
 * it. The TUI (watch-tui.tsx) only draws this state; nothing here fetches or imports ink or React,
 * so it is unit-tested without a terminal.
 */
import type {ClusterProblem, ClusterState, FleetStatus} from '../reconcile/fleet-status.js';
import type {GroupMode, GroupStatus, WorkerCounts} from '../reconcile/group-status.js';
import type {WatchReport} from '../reconcile/watch.js';
import type {CapacitySummary} from '../placement/capacity.js';
import {stuckLine} from './span.js';
import {watchLines} from './watch-lines.js';

/** How many log lines the TUI keeps; it shows the last ones that fit. */
export const LOG_LIMIT = 200;

export type LogLevel = 'info' | 'warn' | 'error';

export interface LogLine {
  /** HH:MM:SS (UTC, as watch's timestamps), then the line as the plain output prints it. */
  text: string;
  level: LogLevel;
}

export interface ClusterRow {
  context: string;
  /** What watch's own watches say: Ready once one (re)listed, Degraded when one failed. */
  watch?: {state: 'Ready' | 'Degraded'; reason?: string; at: string};
  /** The last look at the fleet (every few seconds): its state, problems and capacity. */
  look?: {state: ClusterState; problems: ClusterProblem[]; capacity?: CapacitySummary; at: string};
}

export interface GroupAction {
  at: string;
  text: string;
  level: LogLevel;
}

export interface GroupRow {
  /** watch's key: namespace/kind/name. */
  key: string;
  /** Known from the group's last status; until then, from where watch saw its Ray object. */
  home?: string;
  mode?: GroupMode;
  relocatingTo?: string;
  lastAction?: GroupAction;
  /** The Pending workers the last pass found fitting no cluster, to log only the new ones. */
  stuck: string[];
  lastPass?: {at: string; ms: number; trigger: string};
  /** Where the group runs, after its last pass. */
  status?: GroupStatus;
}

export interface WatchTuiState {
  /** Fleet order: the contexts the fleet was opened with, then any reported that were not. */
  clusters: ClusterRow[];
  /** In the order watch found them. */
  groups: GroupRow[];
  /** Oldest first, at most LOG_LIMIT. */
  log: LogLine[];
  /** Observe only: watch makes no pass while true. */
  paused: boolean;
  /** q was pressed: the pass in flight finishes, then the TUI closes. */
  stopping: boolean;
  /** The index of the selected group (0 when there are none). */
  selected: number;
  /** Whether the selected group's detail is shown. */
  detail: boolean;
  /** The time of the last report, for the header. */
  at?: string;
}

export function initialWatchState(contexts: string[] = []): WatchTuiState {
  return {clusters: contexts.map((context) => ({context})), groups: [], log: [], paused: false, stopping: false, selected: 0, detail: false};
}

/** HH:MM:SS of an ISO timestamp; anything else as it is. */
export function clock(at: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(at) ? at.slice(11, 19) : at;
}

function appendLog(log: LogLine[], lines: LogLine[]): LogLine[] {
  if (lines.length === 0) return log;
  const next = [...log, ...lines];
  return next.length > LOG_LIMIT ? next.slice(next.length - LOG_LIMIT) : next;
}

/** watch's plain lines, with the long timestamp cut to the time of day. */
function logLinesOf(r: WatchReport): LogLine[] {
  const level: LogLevel = r.type === 'error' ? 'error' : r.type === 'cluster' && r.state !== 'Ready' ? 'warn' : 'info';
  return watchLines(r, 'text').map((line) => ({
    text: line.startsWith(`${r.at} `) ? `${clock(r.at)} ${line.slice(r.at.length + 1)}` : line,
    level: line.includes(': warning: ') ? 'warn' : level,
  }));
}

function withCluster(clusters: ClusterRow[], context: string, change: (row: ClusterRow) => ClusterRow): ClusterRow[] {
  const index = clusters.findIndex((c) => c.context === context);
  if (index < 0) return [...clusters, change({context})];
  return clusters.map((c, i) => (i === index ? change(c) : c));
}

function withGroup(groups: GroupRow[], key: string, change: (row: GroupRow) => GroupRow): GroupRow[] {
  const index = groups.findIndex((g) => g.key === key);
  if (index < 0) return [...groups, change({key, stuck: []})];
  return groups.map((g, i) => (i === index ? change(g) : g));
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** One short phrase for what a pass did, or undefined when it changed nothing. */
function passAction(r: Extract<WatchReport, {type: 'pass'}>): string | undefined {
  const {moves, steps} = r.result;
  if (moves.length > 0) {
    const targets = [...new Set(moves.map((m) => m.to))];
    const what = moves.length === 1 ? moves[0]!.pending : plural(moves.length, 'worker');
    return `spanned ${what} to ${targets.join(', ')}`;
  }
  const last = steps.at(-1);
  if (!last) return undefined;
  const more = steps.length > 1 ? ` (+${steps.length - 1} more)` : '';
  return `${last.action} ${last.object} in ${last.context}${more}`;
}

function reducePass(state: WatchTuiState, r: Extract<WatchReport, {type: 'pass'}>): WatchTuiState {
  const previous = state.groups.find((g) => g.key === r.group);
  const before = new Set(previous?.stuck ?? []);
  const newlyStuck = r.result.stuck.filter((s) => !before.has(s.pending));
  const action = passAction(r);
  let lastAction = previous?.lastAction;
  if (action) lastAction = {at: r.at, text: action, level: 'info'};
  else if (newlyStuck.length > 0) lastAction = {at: r.at, text: `${plural(r.result.stuck.length, 'Pending worker')} fit no cluster`, level: 'warn'};
  // An error or a wait is over once a pass went through.
  else if (lastAction && lastAction.level !== 'info') lastAction = {at: r.at, text: 'pass ok, nothing to change', level: 'info'};
  const stuckLines: LogLine[] = newlyStuck.map((s) => ({text: `${clock(r.at)} ${r.group}: ${stuckLine(s, 'fits no cluster')}`, level: 'warn'}));
  return {
    ...state,
    groups: withGroup(state.groups, r.group, (g) => ({
      ...g,
      home: g.status?.home ?? r.result.home,
      ...(lastAction ? {lastAction} : {}),
      stuck: r.result.stuck.map((s) => s.pending),
      lastPass: {at: r.at, ms: r.ms, trigger: r.trigger},
    })),
    log: appendLog(state.log, [...logLinesOf(r), ...stuckLines]),
  };
}

function reduceFleet(clusters: ClusterRow[], fleet: FleetStatus, at: string): ClusterRow[] {
  let next = clusters;
  for (const c of fleet.clusters) {
    next = withCluster(next, c.context, (row) => ({...row, look: {state: c.state, problems: c.problems, ...(c.capacity ? {capacity: c.capacity} : {}), at}}));
  }
  return next;
}

/** Keeps the selection on a group, and the detail closed when there is none. */
function clampSelection(state: WatchTuiState): WatchTuiState {
  const selected = Math.max(0, Math.min(state.selected, state.groups.length - 1));
  const detail = state.detail && state.groups.length > 0;
  return selected === state.selected && detail === state.detail ? state : {...state, selected, detail};
}

/** Folds one report of watch into the state. Pure: returns a new state, never changes the old one. */
export function reduceWatch(state: WatchTuiState, r: WatchReport): WatchTuiState {
  const base = {...state, at: r.at};
  switch (r.type) {
    case 'cluster':
      return {
        ...base,
        clusters: withCluster(state.clusters, r.context, (row) => ({...row, watch: {state: r.state, ...(r.reason ? {reason: r.reason} : {}), at: r.at}})),
        log: appendLog(state.log, logLinesOf(r)),
      };
    case 'groups': {
      let groups = state.groups.filter((g) => r.groups.some((w) => w.key === g.key));
      for (const w of r.groups) groups = withGroup(groups, w.key, (g) => ({...g, ...(g.home || w.contexts.length !== 1 ? {} : {home: w.contexts[0]})}));
      // Keep the watched order, whatever order rows were made in.
      groups = r.groups.map((w) => groups.find((g) => g.key === w.key)!);
      const key = state.groups[state.selected]?.key;
      const kept = key === undefined ? -1 : groups.findIndex((g) => g.key === key);
      return clampSelection({...base, groups, selected: kept >= 0 ? kept : state.selected, log: appendLog(state.log, logLinesOf(r))});
    }
    case 'pass':
      return clampSelection(reducePass(base, r));
    case 'wait':
    case 'error': {
      const lines = logLinesOf(r);
      if (!r.group) return {...base, log: appendLog(state.log, lines)};
      const lastAction: GroupAction = {at: r.at, text: r.type === 'error' ? `error: ${r.message}` : r.message, level: r.type === 'error' ? 'error' : 'warn'};
      return clampSelection({...base, groups: withGroup(state.groups, r.group, (g) => ({...g, lastAction})), log: appendLog(state.log, lines)});
    }
    case 'status':
      return clampSelection({
        ...base,
        groups: withGroup(state.groups, r.group, (g) => {
          const {relocatingTo: _old, ...rest} = g;
          return {...rest, home: r.status.home, mode: r.status.mode, ...(r.status.relocatingTo ? {relocatingTo: r.status.relocatingTo} : {}), status: r.status};
        }),
      });
    case 'fleet':
      return {...base, clusters: reduceFleet(state.clusters, r.fleet, r.at)};
    case 'collected':
      return {...base, log: appendLog(state.log, logLinesOf(r))};
  }
}

/** p: observe only, or reconcile again; logged, so that the log tells why nothing happened. */
export function togglePaused(state: WatchTuiState, at: string): WatchTuiState {
  const paused = !state.paused;
  const text = paused ? 'paused: observing only, no changes are made until p is pressed again' : 'resumed: reconciling';
  return {...state, paused, log: appendLog(state.log, [{text: `${clock(at)} ${text}`, level: paused ? 'warn' : 'info'}])};
}

/** Up and down: the selection moves and stops at either end. */
export function moveSelection(state: WatchTuiState, delta: number): WatchTuiState {
  return clampSelection({...state, selected: state.selected + delta});
}

export function showDetail(state: WatchTuiState, detail: boolean): WatchTuiState {
  return clampSelection({...state, detail});
}

export function markStopping(state: WatchTuiState): WatchTuiState {
  return state.stopping ? state : {...state, stopping: true};
}

const SEVERITY: Record<ClusterState, number> = {Ready: 0, Degraded: 1, Unauthorized: 2, Unreachable: 3};

/** A cluster's state for display: the worse of what its watches and the last look say, and why. */
export function clusterHealth(row: ClusterRow): {state: ClusterState | 'Unknown'; reason?: string} {
  const {watch, look} = row;
  if (!watch && !look) return {state: 'Unknown'};
  const lookReason = look?.problems[0]?.message;
  if (look && (!watch || SEVERITY[look.state] >= SEVERITY[watch.state])) return {state: look.state, ...(lookReason ? {reason: lookReason} : {})};
  return {state: watch!.state, ...(watch!.reason ? {reason: watch!.reason} : {})};
}

/** One group's workers in one cluster, summed over its worker groups; undefined: not applicable. */
export interface WorkerCell {
  /** False when the cluster did not answer: the counts are unknown, never zero. */
  known: boolean;
  local?: number;
  placeholders?: number;
  remote?: number;
  pending?: number;
}

/** Per context, the group's workers there, from its last status; none before its first status. */
export function workerCells(group: GroupRow): Map<string, WorkerCell> {
  const cells = new Map<string, WorkerCell>();
  for (const cluster of group.status?.clusters ?? []) {
    if (!cluster.workers) {
      cells.set(cluster.context, {known: false});
      continue;
    }
    const workers = cluster.workers;
    const sum = (pick: (w: WorkerCounts) => number | undefined) =>
      workers.reduce<number | undefined>((total, w) => (pick(w) === undefined ? total : (total ?? 0) + pick(w)!), undefined);
    const cell: WorkerCell = {known: true};
    const local = sum((w) => w.local);
    const placeholders = sum((w) => w.placeholders);
    const remote = sum((w) => w.remote);
    const pending = sum((w) => w.pending);
    if (local !== undefined) cell.local = local;
    if (placeholders !== undefined) cell.placeholders = placeholders;
    if (remote !== undefined) cell.remote = remote;
    if (pending !== undefined) cell.pending = pending;
    if (cluster.workers.length === 0 && cluster.home) Object.assign(cell, {local: 0, placeholders: 0, pending: 0});
    if (cluster.workers.length === 0 && !cluster.home) cell.remote = 0;
    cells.set(cluster.context, cell);
  }
  return cells;
}

type Listener = () => void;

/**
 * The state behind the TUI, for React's useSyncExternalStore: reports and keys go in, a new
 * snapshot comes out, and every subscriber is told.
 */
export class WatchStore {
  private state: WatchTuiState;
  private readonly listeners = new Set<Listener>();

  constructor(initial: WatchTuiState = initialWatchState()) {
    this.state = initial;
  }

  readonly getSnapshot = (): WatchTuiState => this.state;

  readonly subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** Applies a change; subscribers hear of it only when the state is a new one. */
  readonly update = (change: (state: WatchTuiState) => WatchTuiState): void => {
    const next = change(this.state);
    if (next === this.state) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener();
  };

  readonly report = (r: WatchReport): void => this.update((s) => reduceWatch(s, r));

  readonly togglePaused = (at: string = new Date().toISOString()): void => this.update((s) => togglePaused(s, at));

  readonly isPaused = (): boolean => this.state.paused;
}
