/**
 * The ink TUI of `watch`: groups, clusters with capacity bars, a log of recent actions, and the
 * selected group's detail. WatchView draws a WatchTuiState and nothing else; WatchApp adds the keys;
 * startWatchTui mounts it for the command. This module loads ink and React, so only the TUI path of
 * `watch` imports it, and only dynamically.
 */
import {Box, render, Text, useInput, useStdin, useStdout} from 'ink';
import {useEffect, useState, useSyncExternalStore} from 'react';
import type {ResourceUse} from '../placement/capacity.js';
import type {GroupStatus} from '../reconcile/group-status.js';
import type {WatchReport} from '../reconcile/watch.js';
import {formatAmount} from './units.js';
import {
  clock,
  clusterHealth,
  initialWatchState,
  markStopping,
  moveSelection,
  showDetail,
  WatchStore,
  workerCells,
  type GroupRow,
  type LogLevel,
  type WatchTuiState,
  type WorkerCell,
} from './watch-store.js';

type Color = 'green' | 'yellow' | 'red' | 'cyan' | 'gray';

/** A run of text in one style; a line is a list of them. */
interface Segment {
  text: string;
  color?: Color;
  bold?: boolean;
  inverse?: boolean;
  dim?: boolean;
}
type Line = Segment[];

const GAP = '  ';
const NONE = '-';
const UNKNOWN = '?';
/** Not looked at yet: the group's first status comes after its first pass. */
const NOT_YET = '…';

const LEVEL_COLOR: Record<LogLevel, Color | undefined> = {info: undefined, warn: 'yellow', error: 'red'};
const STATE_COLOR: Record<string, Color> = {Ready: 'green', Degraded: 'yellow', Unauthorized: 'red', Unreachable: 'red', Unknown: 'gray'};

const seg = (text: string, style: Omit<Segment, 'text'> = {}): Segment => ({text, ...style});
const textOf = (line: Line) => line.map((s) => s.text).join('');

/** Cuts a line to the width, with … where it was cut. */
function truncate(line: Line, width: number): Line {
  if (textOf(line).length <= width) return line;
  const out: Line = [];
  let room = Math.max(0, width - 1);
  for (const s of line) {
    if (room <= 0) break;
    out.push({...s, text: s.text.slice(0, room)});
    room -= Math.min(room, s.text.length);
  }
  out.push(seg('…'));
  return out;
}

/** Words wrapped to the width; the lines after the first start with the indent. */
function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  const lead = /^\s*/.exec(text)![0];
  let current = '';
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const candidate = current === '' ? `${lines.length === 0 ? lead : ''}${word}` : `${current} ${word}`;
    const limit = lines.length === 0 ? width : width - indent.length;
    if (candidate.length > limit && current !== '') {
      lines.push(current);
      current = word;
    } else {
      current = candidate;
    }
  }
  if (current !== '') lines.push(current);
  return lines.map((l, i) => (i === 0 ? l : `${indent}${l}`));
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function table(headers: string[], rows: Line[][]): Line[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => textOf(row[i] ?? []).length)));
  const line = (cells: Line[], header: boolean): Line =>
    cells.flatMap((cell, i) => {
      const pad = i === cells.length - 1 ? '' : ' '.repeat((widths[i] ?? 0) - textOf(cell).length) + GAP;
      const styled = header ? cell.map((s) => ({...s, bold: true})) : cell;
      return pad ? [...styled, seg(pad)] : styled;
    });
  return [line(headers.map((h) => [seg(h)]), true), ...rows.map((row) => line(row, false))];
}

/** `[#####-----] 5/8`, coloured by how full it is; `-` where the cluster has none of it. */
export function capacityBar(resource: string, use: ResourceUse | undefined, bar = 10): Segment {
  if (!use) return seg(UNKNOWN, {color: 'gray'});
  if (use.allocatable === 0 && use.requested === 0) return seg(NONE);
  const share = use.allocatable > 0 ? Math.min(1, use.requested / use.allocatable) : 1;
  let fill = Math.round(share * bar);
  if (use.requested > 0 && fill === 0) fill = 1;
  const color: Color = share >= 0.9 ? 'red' : share >= 0.7 ? 'yellow' : 'green';
  return seg(`[${'#'.repeat(fill)}${'-'.repeat(bar - fill)}] ${formatAmount(resource, use.requested)}/${formatAmount(resource, use.allocatable)}`, {color});
}

function count(n: number | undefined): string {
  return n === undefined ? NONE : String(n);
}

/** local/placeholder/remote/Pending, as the help line says. */
function workerCell(cell: WorkerCell | undefined, looked: boolean): Segment {
  if (!looked) return seg(NOT_YET, {color: 'gray'});
  if (!cell) return seg(NONE);
  if (!cell.known) return seg(`${UNKNOWN}/${UNKNOWN}/${UNKNOWN}/${UNKNOWN}`, {color: 'gray'});
  const text = [cell.local, cell.placeholders, cell.remote, cell.pending].map(count).join('/');
  return seg(text, (cell.pending ?? 0) > 0 ? {color: 'yellow'} : {});
}

function modeText(group: GroupRow): string {
  if (!group.mode) return NOT_YET;
  return group.relocatingTo ? `${group.mode} to ${group.relocatingTo}` : group.mode;
}

function groupLines(state: WatchTuiState, rowsFit: number): Line[] {
  const contexts = state.clusters.map((c) => c.context);
  const title: Line = [seg('GROUPS', {bold: true}), seg('  workers per cluster: local/placeholder/remote/Pending', {color: 'gray'})];
  if (state.groups.length === 0) return [title, [seg('  no groups yet: watching for Ray apps the tool placed', {color: 'gray'})]];
  // A window of rows around the selection when they do not all fit.
  const shown = Math.max(1, Math.min(state.groups.length, rowsFit));
  const start = Math.max(0, Math.min(state.selected - Math.floor(shown / 2), state.groups.length - shown));
  const rows = state.groups.slice(start, start + shown).map((group, i): Line[] => {
    const selected = start + i === state.selected;
    const cells = workerCells(group);
    const action = group.lastAction ? seg(`${clock(group.lastAction.at)} ${group.lastAction.text}`, LEVEL_COLOR[group.lastAction.level] ? {color: LEVEL_COLOR[group.lastAction.level]!} : {}) : seg(NONE);
    return [
      [seg(`${selected ? '>' : ' '} ${group.key}`, selected ? {inverse: true, bold: true} : {})],
      [seg(group.home ?? NOT_YET)],
      [seg(modeText(group), group.mode === 'relocating' ? {color: 'yellow'} : group.mode === 'spanned' ? {color: 'cyan'} : {})],
      ...contexts.map((c) => [workerCell(cells.get(c), group.status !== undefined)]),
      [action],
    ];
  });
  const lines = [title, ...table(['  GROUP', 'HOME', 'MODE', ...contexts, 'LAST ACTION'], rows)];
  if (shown < state.groups.length) lines.push([seg(`  ${start + 1}-${start + shown} of ${state.groups.length} groups`, {color: 'gray'})]);
  return lines;
}

function clusterLines(state: WatchTuiState, width: number): Line[] {
  // Three bars and their amounts fit 80 columns only when short.
  const bar = width >= 100 ? 10 : 5;
  const health = state.clusters.map(clusterHealth);
  const rows = state.clusters.map((cluster, i): Line[] => {
    const capacity = cluster.look?.capacity;
    const resources = capacity?.resources ?? {};
    const {state: clusterState} = health[i]!;
    return [
      [seg(cluster.context)],
      [seg(clusterState, {color: STATE_COLOR[clusterState] ?? 'gray'})],
      [capacityBar('cpu', capacity ? resources.cpu : undefined, bar)],
      [capacityBar('memory', capacity ? resources.memory : undefined, bar)],
      [capacityBar('nvidia.com/gpu', capacity ? resources['nvidia.com/gpu'] : undefined, bar)],
      [seg(capacity ? String(capacity.pods.pending) : UNKNOWN)],
    ];
  });
  const [header, ...lines] = table(['CLUSTER', 'STATE', 'CPU', 'MEMORY', 'GPU', 'PENDING'], rows);
  // Why a cluster is not Ready goes under its row, where it has the whole width.
  return [
    header!,
    ...lines.flatMap((line, i) => {
      const {state: clusterState, reason} = health[i]!;
      return clusterState !== 'Ready' && reason ? [line, [seg(`  ${reason}`, {color: STATE_COLOR[clusterState] ?? 'gray'})]] : [line];
    }),
  ];
}

/** The selected group as the detail shows it: where its workers are, and why the Pending ones wait. */
function detailLines(group: GroupRow, width: number): Line[] {
  const title = seg(`DETAIL ${group.key}`, {bold: true});
  const status: GroupStatus | undefined = group.status;
  if (!status) return [[title], [seg('  no status yet: it is read after the group\'s next pass', {color: 'gray'})]];
  const lines: Line[] = [
    [title, seg(`  ${status.mode}${status.relocatingTo ? ` to ${status.relocatingTo}` : ''}, home ${status.home}, RayCluster ${status.rayCluster ?? 'none yet'}, mesh ${status.mesh}, relocate ${status.relocate}, autoscaling ${status.autoscaling ? 'on' : 'off'}`)],
    [seg(`  ${status.head ? `head ${status.head.name}: ${status.head.phase}${status.head.node ? ` on ${status.head.node}` : ''}` : `head: no head pod in ${status.home}`}`)],
  ];
  const replicas = new Map(status.workerGroups.map((g) => [g.name, g.replicas]));
  const rows: Line[][] = status.clusters.flatMap((cluster) => {
    const where = [seg(cluster.home ? `${cluster.context} (home)` : cluster.context)];
    const state = [seg(cluster.state, {color: STATE_COLOR[cluster.state] ?? 'gray'})];
    if (!cluster.workers) return [[where, state, [seg(UNKNOWN)], [seg(NONE)], [seg(UNKNOWN)], [seg(UNKNOWN)], [seg(UNKNOWN)], [seg(UNKNOWN)]]];
    return cluster.workers.map((w) => [
      where,
      state,
      [seg(w.workerGroup)],
      [seg(cluster.home ? count(replicas.get(w.workerGroup)) : NONE)],
      [seg(count(w.local))],
      [seg(count(w.placeholders))],
      [seg(count(w.remote))],
      [seg(count(w.pending), (w.pending ?? 0) > 0 ? {color: 'yellow'} : {})],
    ]);
  });
  lines.push(...table(['CONTEXT', 'STATE', 'WORKER-GROUP', 'DESIRED', 'LOCAL', 'PLACEHOLDER', 'REMOTE', 'PENDING'], rows).map((l) => [seg('  '), ...l]));
  for (const p of status.placeholders) {
    lines.push([seg(`  placeholder ${p.name} (${p.workerGroup}, ${p.ready ? 'ready' : 'not ready'}): twin in ${p.twinIn} ${p.twin}`, p.twin === 'Running' ? {} : {color: 'yellow'})]);
  }
  for (const p of status.pending) {
    const text = `  Pending ${p.name} (${p.workerGroup})${p.spanTo ? ` -> ${p.spanTo}` : ''}: ${p.reason}`;
    for (const l of wrap(text, width, '      ')) lines.push([seg(l, {color: 'yellow'})]);
  }
  for (const r of status.repairs) lines.push([seg(`  repair due: ${r.action} ${r.object} in ${r.context} (${r.why})`, {color: 'yellow'})]);
  for (const w of status.warnings) for (const l of wrap(`  warning: ${w}`, width, '    ')) lines.push([seg(l, {color: 'yellow'})]);
  return lines;
}

function headerLine(state: WatchTuiState, width: number): Line {
  const what = `superskyray watch  ${state.groups.length} group(s), ${state.clusters.length} cluster(s)  `;
  let mode: Segment = seg('reconciling', {color: 'green'});
  if (state.paused) mode = seg('PAUSED: observing only', {color: 'yellow', bold: true});
  if (state.stopping) mode = seg('stopping: the pass in flight finishes first', {color: 'yellow'});
  const time = state.at ? `updated ${clock(state.at)}` : '';
  const used = what.length + mode.text.length;
  return [seg(what, {bold: true}), mode, seg(`${' '.repeat(Math.max(1, width - used - time.length))}${time}`, {color: 'gray'})];
}

function helpLine(state: WatchTuiState, keys: boolean): Line {
  if (!keys) return [seg('keys need a terminal on stdin; Ctrl-C stops', {dim: true})];
  const parts = [
    'q quit',
    state.paused ? 'p resume reconciling' : 'p pause (observe only)',
    '↑↓/jk select',
    state.detail ? 'esc hide detail' : 'enter detail',
  ];
  return [seg(parts.join('  ·  '), {dim: true})];
}

export interface WatchViewProps {
  state: WatchTuiState;
  width: number;
  /** Rows to fill at most; the log gets what the rest leaves. */
  height?: number;
  /** False: the help line says keys do not work (stdin is not a terminal). */
  keys?: boolean;
  /** False: no colours (NO_COLOR). */
  color?: boolean;
}

/** Every line of the view, cut to the width and at most `height` of them. Pure. */
export function watchViewLines({state, width, height = 30, keys = true}: Omit<WatchViewProps, 'color'>): Line[] {
  const selected = state.groups[state.selected];
  const clusters = clusterLines(state, width);
  const fixed = 1 /* header */ + 1 /* blank */ + 1 /* blank */ + clusters.length + 1 /* blank */ + 1 /* log title */ + 1; /* help */
  // Groups get up to a third of the screen; the detail up to half of what is left; the log the rest.
  const groupRows = Math.max(1, Math.floor(height / 3) - 2);
  const groups = groupLines(state, groupRows);
  const left = height - fixed - groups.length;
  let detail: Line[] = [];
  if (state.detail && selected) {
    const all = detailLines(selected, width);
    const room = Math.max(2, Math.min(all.length, left - 3));
    detail = all.length > room ? [...all.slice(0, room - 1), [seg(`  … ${all.length - room + 1} more line(s); widen or heighten the terminal`, {color: 'gray'})]] : all;
    detail.push([]);
  }
  const logRoom = Math.max(1, left - detail.length);
  const log = state.log.slice(-logRoom).map((l): Line => [seg(l.text, LEVEL_COLOR[l.level] ? {color: LEVEL_COLOR[l.level]!} : {})]);
  const lines: Line[] = [
    headerLine(state, width),
    [],
    ...groups,
    [],
    ...clusters,
    [],
    ...detail,
    [seg('LOG', {bold: true})],
    ...(log.length > 0 ? log : [[seg('nothing yet', {color: 'gray'})]]),
    helpLine(state, keys),
  ];
  return lines.map((l) => truncate(l, width));
}

/** The whole TUI for one state: presentational, no keys, no I/O. */
export function WatchView(props: WatchViewProps) {
  const color = props.color ?? true;
  const lines = watchViewLines(props);
  return (
    <Box flexDirection="column" width={props.width}>
      {lines.map((line, i) => (
        <Text key={i} wrap="truncate">
          {line.length === 0
            ? ' '
            : line.map((s, j) => (
                <Text
                  key={j}
                  {...(color && s.color ? {color: s.color} : {})}
                  bold={color && s.bold === true}
                  inverse={color && s.inverse === true}
                  dimColor={color && s.dim === true}
                >
                  {s.text}
                </Text>
              ))}
        </Text>
      ))}
    </Box>
  );
}

export interface WatchAppProps {
  store: WatchStore;
  /** q or Ctrl-C: the command stops the watch; the TUI shows that it is stopping. */
  onQuit: () => void;
  /** Told after p toggled the store's paused flag. */
  onTogglePause?: (paused: boolean) => void;
  /** Override the terminal's size (tests). */
  width?: number;
  height?: number;
  color?: boolean;
}

/** WatchView over the store, with the keys: q quits, p pauses, ↑↓/jk select, enter/esc detail. */
export function WatchApp({store, onQuit, onTogglePause, width, height, color}: WatchAppProps) {
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const {stdout} = useStdout();
  const {isRawModeSupported} = useStdin();
  const [size, setSize] = useState({columns: stdout.columns || 100, rows: stdout.rows || 30});
  useEffect(() => {
    const onResize = () => setSize({columns: stdout.columns || 100, rows: stdout.rows || 30});
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);

  useInput(
    (input, key) => {
      if (input === 'q' || (key.ctrl && input === 'c')) {
        store.update(markStopping);
        onQuit();
      } else if (input === 'p') {
        store.togglePaused();
        onTogglePause?.(store.isPaused());
      } else if (key.upArrow || input === 'k') {
        store.update((s) => moveSelection(s, -1));
      } else if (key.downArrow || input === 'j') {
        store.update((s) => moveSelection(s, 1));
      } else if (key.return) {
        store.update((s) => showDetail(s, !s.detail));
      } else if (key.escape) {
        store.update((s) => showDetail(s, false));
      }
    },
    {isActive: isRawModeSupported === true},
  );

  // One row short of the terminal: ink redraws the whole screen, flickering, when the output fills it.
  return <WatchView state={state} width={width ?? size.columns} height={height ?? Math.max(10, size.rows - 1)} keys={isRawModeSupported === true} color={color ?? true} />;
}

export interface WatchTui {
  /** Give it watch's reports. */
  report: (r: WatchReport) => void;
  /** watch's `paused` option: true while p holds reconciling. */
  paused: () => boolean;
  /** Unmounts the TUI, leaving its last frame on the screen. */
  close: () => Promise<void>;
}

export interface StartWatchTuiOptions {
  /** The fleet's contexts, in fleet order: their rows show before anything is reported. */
  contexts: string[];
  /** q or Ctrl-C was pressed (again, if it is pressed twice). */
  onQuit: () => void;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** Default: colours unless NO_COLOR is set. */
  color?: boolean;
}

/** Mounts the TUI on the terminal; the command feeds it reports and closes it when watch ends. */
export function startWatchTui(options: StartWatchTuiOptions): WatchTui {
  const store = new WatchStore(initialWatchState(options.contexts));
  const color = options.color ?? !('NO_COLOR' in process.env);
  const instance = render(<WatchApp store={store} onQuit={options.onQuit} color={color} />, {
    stdout: options.stdout ?? process.stdout,
    stdin: options.stdin ?? process.stdin,
    // Raw mode swallows Ctrl-C; WatchApp treats it as q, so that the watch stops cleanly.
    exitOnCtrlC: false,
  });
  let closed = false;
  return {
    report: store.report,
    paused: store.isPaused,
    close: async () => {
      if (closed) return;
      closed = true;
      instance.unmount();
      await instance.waitUntilExit().catch(() => undefined);
    },
  };
}
