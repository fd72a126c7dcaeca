/**
 * `runbook run`: each step is one of the tool's own services (place, scale, span, status, watch) or a
 * plain read or write the runbook spells out. The fleet is opened at the first step that needs it,
 * once; a background watch lives until the run ends.
 */
import {ConvergeTimeoutError, InputError} from '../errors.js';
import type {Fleet} from '../kube/fleet.js';
import {resourceForKind, resourceForName} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';
import {pause} from '../kube/retry.js';
import {withTimeLimit} from '../kube/time-limit.js';
import {conditionMisses} from '../runbook/conditions.js';
import type {GroupCondition, Step} from '../runbook/format.js';
import {readGroupManifest} from '../kuberay/manifest.js';
import {fleetStatus, type FleetStatus} from './fleet-status.js';
import {parseGroupRef} from './group.js';
import {observeGroupStatus, type GroupStatus} from './group-status.js';
import {placeGroup, type PlaceResult} from './place.js';
import {checkScaleInput, scaleGroup, type ScaleResult} from './scale.js';
import {spanGroup, type SpanResult} from './span.js';
import {watchFleet, type WatchReport} from './watch.js';

/** What a step did, for its line and, for status, its table. */
export type StepResult =
  | {kind: 'place'; result: PlaceResult}
  | {kind: 'scale'; result: ScaleResult}
  | {kind: 'span'; result: SpanResult}
  | {kind: 'status'; result: GroupStatus}
  | {kind: 'fleet-status'; result: FleetStatus}
  | {kind: 'wait' | 'assert'; condition: GroupCondition; ms: number}
  | {kind: 'apply'; context: string; objects: string[]}
  | {kind: 'patch'; context: string; object: string}
  | {kind: 'sleep'; ms: number}
  | {kind: 'watch'; groups: string[]};

/** A step that ran and did not do what it should: the run stops here with exit 1. */
export class StepFailedError extends Error {
  override readonly name = 'StepFailedError';
}

export interface RunbookSessionOptions {
  openFleet: () => Promise<Fleet>;
  /** --timeout for the whole run, and Ctrl-C. */
  signal?: AbortSignal;
  /** What a background watch reports (shown with -v). */
  onWatch?: (report: WatchReport) => void;
  /** How long to sleep between looks in a wait. */
  pollMs?: number;
}

/** The group references of a step, for checking them before anything runs. */
function groupsOf(step: Step): string[] {
  switch (step.kind) {
    case 'scale':
    case 'span':
      return [step.group];
    case 'status':
      return step.group ? [step.group] : [];
    case 'wait':
    case 'assert':
      return [step.condition.group];
    case 'watch':
      return step.groups;
    default:
      return [];
  }
}

/** The contexts a step names, which must be in the fleet. */
export function contextsOf(step: Step): string[] {
  switch (step.kind) {
    case 'apply':
    case 'patch':
      return [step.context];
    case 'span':
      return step.to ? [step.to] : [];
    case 'wait':
    case 'assert':
      return Object.keys(step.condition.clusters ?? {});
    default:
      return [];
  }
}

/**
 * What the steps will hand to the tool's services, checked as those services check it (group
 * references, scale arguments, the manifests place reads), so that a mistake in the last step
 * stops the run before the first changes anything.
 */
export function checkRunbook(steps: Step[]): void {
  for (const step of steps) {
    const where = `step ${step.index} (${step.title})`;
    try {
      for (const group of groupsOf(step)) parseGroupRef(group);
      if (step.kind === 'scale') checkScaleInput({group: step.group, replicas: step.replicas, serve: step.serve});
      if (step.kind === 'place') readGroupManifest(step.text, step.file, {namespace: step.namespace});
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`${where}: ${err.message}`, err.fix);
      throw err;
    }
  }
}

export class RunbookSession {
  private fleet?: Promise<Fleet>;
  private readonly watches: Array<{stop: AbortController; done: Promise<unknown>; step: Step}> = [];
  private watchFailure?: string;

  constructor(private readonly options: RunbookSessionOptions) {}

  private open(): Promise<Fleet> {
    this.fleet ??= this.options.openFleet();
    return this.fleet;
  }

  private get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  /** Runs a step's work under the run's signal, bounded by the step's own timeout. */
  private bounded<T>(step: Step & {timeoutMs: number}, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const reason = () => new ConvergeTimeoutError(`${step.kind} did not settle within the step's timeout of ${step.timeoutMs / 1000}s`);
    return withTimeLimit(this.signal, step.timeoutMs, reason, work);
  }

  /**
   * Opens the fleet (when a step needs one) and checks that every context the steps name is in it,
   * before the first step runs.
   */
  async checkFleet(steps: Step[]): Promise<void> {
    if (steps.every((s) => s.kind === 'sleep')) return;
    const fleet = await this.open();
    const known = new Set(fleet.clusters.map((c) => c.context));
    for (const step of steps) {
      const missing = contextsOf(step).filter((c) => !known.has(c));
      if (missing.length > 0) {
        throw new InputError(`step ${step.index} (${step.title}) names context "${missing[0]}", which is not in the fleet (${[...known].join(', ')})`, 'add it to the fleet, or fix the runbook');
      }
    }
  }

  /** Runs one step; throws when it fails, a StepFailedError when it ran and the fleet did not agree. */
  async run(step: Step, say: (line: string) => void): Promise<StepResult> {
    if (this.watchFailure) throw new StepFailedError(this.watchFailure);
    this.signal?.throwIfAborted();
    const result = await this.runStep(step, say);
    // An interrupted sleep or wait returns early: it did not do what it says.
    this.signal?.throwIfAborted();
    if (this.watchFailure) throw new StepFailedError(this.watchFailure);
    return result;
  }

  private async runStep(step: Step, say: (line: string) => void): Promise<StepResult> {
    switch (step.kind) {
      case 'place': {
        const fleet = await this.open();
        const result = await this.bounded(step, (signal) => placeGroup(fleet, {
          source: step.file,
          text: step.text,
          namespace: step.namespace,
          relocate: step.skipCapacityRelocate === undefined ? undefined : step.skipCapacityRelocate ? 'never' : 'if-fits',
          mesh: step.mesh,
          dryRun: false,
          forceConflicts: false,
          signal,
        }));
        return {kind: 'place', result};
      }
      case 'scale': {
        const fleet = await this.open();
        const result = await this.bounded(step, (signal) => scaleGroup(fleet, {
          group: step.group,
          namespace: step.namespace,
          replicas: step.replicas,
          workerGroup: step.workerGroup,
          serve: step.serve,
          skipCapacityRelocate: step.skipCapacityRelocate,
          copySecrets: step.copySecrets,
          dryRun: false,
          wait: step.wait,
          signal,
          progress: say,
        }));
        return {kind: 'scale', result};
      }
      case 'span': {
        const fleet = await this.open();
        const result = await this.bounded(step, (signal) => spanGroup(fleet, {
          group: step.group,
          namespace: step.namespace,
          to: step.to,
          copySecrets: step.copySecrets,
          dryRun: false,
          signal,
          onWait: (holder) => say(`waiting for ${holder} to finish with the group`),
        }));
        return {kind: 'span', result};
      }
      case 'status': {
        const fleet = await this.open();
        if (step.group) return {kind: 'status', result: await observeGroupStatus(fleet, step.group, step.namespace, this.signal)};
        return {kind: 'fleet-status', result: await fleetStatus(fleet, this.signal)};
      }
      case 'assert': {
        const started = Date.now();
        const misses = await this.misses(step.condition);
        if (misses.length > 0) throw new StepFailedError(misses.join('; '));
        return {kind: 'assert', condition: step.condition, ms: Date.now() - started};
      }
      case 'wait': {
        const started = Date.now();
        let misses = await this.misses(step.condition);
        while (misses.length > 0) {
          if (Date.now() - started >= step.timeoutMs) throw new StepFailedError(`not so after ${step.timeoutMs / 1000}s: ${misses.join('; ')}`);
          if (this.watchFailure) throw new StepFailedError(this.watchFailure);
          say(misses.join('; '));
          await pause(this.options.pollMs ?? 500, this.signal);
          misses = await this.misses(step.condition);
        }
        return {kind: 'wait', condition: step.condition, ms: Date.now() - started};
      }
      case 'apply': {
        const client = (await this.open()).cluster(step.context);
        const applied: string[] = [];
        for (const object of step.objects) {
          const type = resourceForKind(object.kind);
          const name = object.metadata?.name ?? '';
          // readRunbook checked the kinds.
          if (!type) throw new Error(`apply does not know kind ${object.kind ?? ''}`);
          const namespace = type.namespaced ? (object.metadata?.namespace ?? step.namespace) : undefined;
          const body: KubeObject = {...object, metadata: {...object.metadata, ...(namespace ? {namespace} : {})}};
          await client.patch(type, name, namespace, body, 'apply', {signal: this.signal});
          applied.push(`${type.kind.toLowerCase()}/${name}`);
        }
        return {kind: 'apply', context: step.context, objects: applied};
      }
      case 'patch': {
        const client = (await this.open()).cluster(step.context);
        const [kind, name] = step.object.split('/') as [string, string];
        const type = resourceForName(kind);
        if (!type) throw new Error(`patch does not know kind ${kind}`);
        await client.patch(type, name, type.namespaced ? step.namespace : undefined, step.patch, step.patchType, {signal: this.signal});
        return {kind: 'patch', context: step.context, object: step.object};
      }
      case 'sleep':
        await pause(step.ms, this.signal);
        return {kind: 'sleep', ms: step.ms};
      case 'watch': {
        const fleet = await this.open();
        const stop = new AbortController();
        let ready!: () => void;
        const watching = new Promise<void>((resolve) => (ready = resolve));
        const done = watchFleet(fleet, {
          groups: step.groups,
          namespace: step.namespace,
          once: false,
          copySecrets: step.copySecrets,
          signal: stop.signal,
          report: (report) => {
            // Started once it knows its groups: from then on, every event it sees is acted on.
            if (report.type === 'groups') ready();
            this.options.onWatch?.(report);
          },
        }).then(
          () => ready(),
          (err: unknown) => {
            this.watchFailure = `the watch of step ${step.index} stopped: ${(err as Error).message}`;
            ready();
          },
        );
        this.watches.push({stop, done, step});
        await watching;
        if (this.watchFailure) throw new StepFailedError(this.watchFailure);
        return {kind: 'watch', groups: step.groups};
      }
    }
  }

  /**
   * What differs from the condition now. A cluster that does not answer is one more difference to
   * wait out; a group that is not there (bad input) fails the step at once.
   */
  private async misses(condition: GroupCondition): Promise<string[]> {
    try {
      const status = await observeGroupStatus(await this.open(), condition.group, condition.namespace, this.signal);
      return conditionMisses(condition, status);
    } catch (err) {
      if (this.signal?.aborted || err instanceof InputError) throw err;
      return [(err as Error).message];
    }
  }

  /** Stops the background watches after their pass in flight. */
  async close(): Promise<void> {
    for (const w of this.watches) w.stop.abort();
    await Promise.all(this.watches.map((w) => w.done));
  }
}
