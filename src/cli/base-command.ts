// The narrow entry points, not '@oclif/core' itself: its index loads all of oclif, which --help pays for.
import {setMaxListeners} from 'node:events';
import {Command} from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';
import type {Interfaces} from '@oclif/core';
import {ConvergeTimeoutError, InputError, InterruptedError, StopError} from '../errors.js';
import type {OutputFormat} from '../ui/output.js';
import {parseDuration} from './duration.js';

/** Exit codes, as the README documents them. */
export const EXIT = {ok: 0, failed: 1, usage: 2, timedOut: 3, interrupted: 130} as const;

/** A duration flag: 90s, 5m, 1h30m; 0 for no limit. */
export const duration = Flags.custom<number>({
  parse: async (input) => {
    try {
      return parseDuration(input);
    } catch (err) {
      throw new InputError((err as Error).message);
    }
  },
});

/** For the commands that make remote workers: how long one may take to start before it is given up on. */
export const joinTimeout = duration({
  description: 'How long a remote worker may take to start (scheduled, its images pulled, the head reached) before it is deleted, with its placeholder, and its worker group is not sent to that cluster again until its template changes; 0 never gives up on one.',
  defaultHelp: async () => '5m',
  helpGroup: 'TIMING',
});

/** For the commands that make remote workers: the claim they mount in place of a home one. */
export const claim = Flags.string({
  description: 'HOME=REMOTE: remote workers mount the PersistentVolumeClaim REMOTE (which must exist in each other cluster, with the same data) where the worker group mounts HOME. Repeatable. Without it, a worker group that mounts a claim stays at home. [default: the fleet file\'s claims]',
  multiple: true,
  helpGroup: 'FLEET',
});

/** --claim HOME=REMOTE values as a map; a malformed one is bad input. */
export function parseClaims(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const [home, remote, ...rest] = value.split('=');
    if (!home || !remote || rest.length > 0) throw new InputError(`--claim ${value} is not HOME=REMOTE`, 'name the home claim and the claim remote workers mount instead, e.g. --claim datasets=datasets-replica');
    out[home] = remote;
  }
  return out;
}

/** For the commands that make placeholders: an image an air-gapped cluster can pull. */
export const placeholderImage = Flags.string({
  description: 'The image of the placeholders made at home, for a registry your clusters can pull from. [default: the fleet file\'s placeholderImage, else registry.k8s.io/pause:3.10]',
  helpGroup: 'FLEET',
});

/**
 * The flags every command shares. This module must stay light: it is loaded for --help, so it
 * imports neither @kubernetes/client-node nor ink; commands load those inside run().
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    // A flag with a short form goes first in its group: oclif's help misaligns the group otherwise.
    namespace: Flags.string({char: 'n', description: 'The namespace of the Ray app.', helpGroup: 'FLEET'}),
    kubeconfig: Flags.string({
      description: 'Kubeconfig file(s), several joined with ":". [default: $KUBECONFIG, else ~/.kube/config]',
      helpGroup: 'FLEET',
    }),
    context: Flags.string({
      description: 'A kubeconfig context in the fleet. Repeat for each cluster, most preferred first. [default: $SUPERSKYRAY_CONTEXTS, else the fleet file]',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'FLEET',
    }),
    fleet: Flags.string({
      description: 'A fleet file listing the contexts. [default: $SUPERSKYRAY_FLEET, else ~/.config/kubectl-superskyray/fleet.yaml]',
      helpGroup: 'FLEET',
    }),
    output: Flags.option({
      char: 'o',
      options: ['table', 'wide', 'json', 'yaml'] as const,
      default: 'table' as const,
      description: 'Output format.',
      helpGroup: 'OUTPUT',
    })(),
    verbose: Flags.boolean({char: 'v', description: 'Say more, and show stack traces on errors.', helpGroup: 'OUTPUT'}),
    timeout: duration({
      description: 'How long to wait for the whole command, e.g. 90s or 5m; 0 waits forever.',
      default: 300_000,
      defaultHelp: async () => '5m',
      helpGroup: 'TIMING',
    }),
    'request-timeout': duration({
      description: 'How long to wait for one API request; 0 waits forever.',
      default: 30_000,
      defaultHelp: async () => '30s',
      helpGroup: 'TIMING',
    }),
  };

  protected flags!: Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
  protected args!: Interfaces.InferredArgs<T['args']>;

  public override async init(): Promise<void> {
    await super.init();
    const {args, flags, argv} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as unknown as typeof BaseCommand).baseFlags,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as typeof this.flags;
    this.args = args as typeof this.args;
    this.positionals = argv as string[];
  }

  /** Every argument that is not a flag or a flag's value, for commands that take several. */
  protected positionals: string[] = [];

  protected get outputFormat(): OutputFormat {
    return this.flags.output;
  }

  private stop?: {controller: AbortController; end: () => void};

  /**
   * The run's signal. It aborts with a ConvergeTimeoutError when --timeout runs out (unless
   * `deadline` is false: watch runs until stopped), and with an InterruptedError at the first
   * Ctrl-C or SIGTERM, so that the work in flight stops and the Lease is let go; a second one exits
   * at once with 130. Every layer sees from the reason that the run was stopped, not that a cluster
   * failed.
   */
  protected runSignal(options: {deadline?: boolean} = {}): AbortSignal {
    if (this.stop) return this.stop.controller.signal;
    const controller = new AbortController();
    // Every request in flight and every watch stream of the run listens to it: up to 8 requests and
    // 5 watches per cluster. Node's leak warning at 10 would fire for any fleet of two clusters;
    // past this bound (a fleet of about 70) it still fires, as a leak should.
    setMaxListeners(1000, controller.signal);
    const timeoutMs = options.deadline === false ? 0 : this.flags.timeout;
    const timer = timeoutMs > 0
      ? setTimeout(() => controller.abort(new ConvergeTimeoutError(`${this.id?.replaceAll(':', ' ') ?? 'the command'} did not finish within --timeout ${formatDuration(timeoutMs)}`)), timeoutMs)
      : undefined;
    timer?.unref();
    const onSignal = () => {
      if (controller.signal.aborted) process.exit(EXIT.interrupted);
      controller.abort(new InterruptedError());
    };
    // Kept for the whole run, not once: ink's exit handler re-raises a signal that no other listener
    // handles, which would kill the process mid-pass, with a Lease still held.
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    this.stop = {
      controller,
      end: () => {
        clearTimeout(timer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
    };
    return controller.signal;
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    this.stop?.end();
    return super.finally(err);
  }

  /**
   * Opens the fleet the flags and environment name; `named` (a runbook's contexts) comes after
   * --context and before the environment. Loads the Kubernetes client only now.
   */
  protected async openFleet(named?: string[]) {
    const [{Fleet}, {userAgent}] = await Promise.all([import('../kube/fleet.js'), import('../kube/identity.js')]);
    const {'placeholder-image': image, 'join-timeout': join, claim} = this.flags as {'placeholder-image'?: string; 'join-timeout'?: number; claim?: string[]};
    return Fleet.open({
      ...(claim ? {claims: parseClaims(claim)} : {}),
      ...(image ? {placeholderImage: image} : {}),
      ...(join !== undefined ? {joinTimeoutMs: join} : {}),
      contexts: this.flags.context ?? named,
      fleetFile: this.flags.fleet,
      kubeconfig: this.flags.kubeconfig,
      env: process.env,
      requestTimeoutMs: this.flags['request-timeout'],
      userAgent: userAgent(this.config.version),
    });
  }

  /** -n, else the namespace the fleet's contexts set (as kubectl takes the context's), else "default". */
  protected namespaceIn(fleet: {namespace: string | undefined}): string {
    return this.flags.namespace ?? fleet.namespace ?? 'default';
  }

  /** Prints a result as -o asks: as data (json, yaml), or as text for people (table, wide). */
  protected async output<R>(result: R, views: {document: (r: R) => unknown; text: (r: R, wide: boolean) => string}): Promise<void> {
    const format = this.outputFormat;
    if (format === 'json' || format === 'yaml') {
      const {renderDocument} = await import('../ui/output.js');
      this.print(renderDocument(views.document(result), format));
    } else {
      this.print(views.text(result, format === 'wide'));
    }
  }

  /** Results go to stdout; progress and warnings go to stderr, so -o json stays parseable. */
  protected print(text: string): void {
    process.stdout.write(text);
  }

  protected say(text: string): void {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /**
   * Every failure becomes one line on stderr and an exit code; a stack trace only with -v. A run
   * that was stopped (--timeout, Ctrl-C) exits as stopped, whatever the step in flight threw.
   */
  protected override async catch(err: Error & {exitCode?: number}): Promise<void> {
    const signal = this.stop?.controller.signal;
    const stop = signal?.aborted && signal.reason instanceof StopError ? (signal.reason as StopError) : undefined;
    reportFailure(stop && !(err instanceof StopError) ? stopWith(stop, err) : err, this.id ?? '', this.argv);
  }
}

/** The stop, saying what the step in flight was doing when it came. */
function stopWith(stop: StopError, err: Error): StopError {
  const kind = stop instanceof ConvergeTimeoutError ? ConvergeTimeoutError : InterruptedError;
  return new kind(`${stop.message}: ${oneLine(err.message)}`);
}

/** 90000 -> "1m30s", as the flag would be written. */
export function formatDuration(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${sec || (!h && !m) ? `${sec}s` : ''}`;
}

/** One line on stderr and the exit code for a command's failure; the stack trace only with -v. */
export function reportFailure(err: Error & {exitCode?: number}, commandId: string, argv: string[]): void {
  const oclif = (err as {oclif?: {exit?: number}}).oclif;
  if ((err as {code?: string}).code === 'EEXIT' && oclif?.exit !== undefined) {
    process.exitCode = oclif.exit;
    return;
  }
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  const {code, message} = describeFailure(err, commandId);
  process.stderr.write(`error: ${message}\n`);
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = code;
}

function withFix(message: string, fix: string | undefined): string {
  return fix ? `${message}; ${fix}` : message;
}

/** oclif wraps a flag's own parse error as "Parsing --flag \n\t<error>\nSee more help with --help". */
function oneLine(message: string): string {
  const wrapped = /^Parsing (--\S+)\s*\n\t([^\n]*)/.exec(message);
  if (wrapped) return `${wrapped[1]}: ${wrapped[2]}`;
  return message.split('\n').map((line) => line.trim()).find((line) => line !== '') ?? message;
}

/**
 * oclif's parse errors in one line that keeps what matters: its "The following error occurred:"
 * and "Missing 1 required arg:" put the substance on the lines after.
 */
function parseErrorLine(message: string): string {
  const flag = /Missing required flag (\S+)/.exec(message);
  if (flag) return `missing required flag --${flag[1]}`;
  const arg = /^Missing \d+ required args?:\n(\S+)(?:[ \t]+([^\n]+))?/.exec(message);
  if (arg) return `missing argument ${arg[1]!.toUpperCase()}${arg[2] ? ` (${arg[2].trim()})` : ''}`;
  return oneLine(message);
}

export function describeFailure(err: Error, commandId: string): {code: number; message: string} {
  const help = `(see "kubectl superskyray ${commandId.replaceAll(':', ' ')} --help")`;
  if (err instanceof InputError) {
    const message = oneLine(err.message);
    return {code: EXIT.usage, message: message === err.message ? withFix(message, err.fix) : `${message} ${help}`};
  }
  if (err instanceof ConvergeTimeoutError) return {code: EXIT.timedOut, message: err.message};
  if (err instanceof InterruptedError) return {code: EXIT.interrupted, message: err.message};
  // oclif's parse errors: bad flags, bad values, missing or extra arguments. A built-in flag type's
  // own refusal (an integer below its minimum) comes wrapped as "Parsing --flag"; a flag without its
  // value is a plain CLIError ("Flag --output expects ...").
  if ('parse' in err || /^(Parsing --\S+|Flag --\S+ expects)/.test(err.message)) return {code: EXIT.usage, message: `${parseErrorLine(err.message)} ${help}`};
  if (err.name === 'KubeError') return {code: EXIT.failed, message: withFix(err.message, (err as {fix?: string}).fix)};
  return {code: EXIT.failed, message: err.message};
}
