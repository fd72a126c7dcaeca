/** How a long-running command reports its steps: on stderr, so that stdout stays the result. */
export type Say = (line: string) => void;

interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

/** One step of a list run in order: what it does, and how its result reads. */
export interface ProgressStep<T> {
  title: string;
  run: (say: Say) => Promise<T>;
  /** One line about what it did. */
  summary: (result: T) => string;
  /** More to show after it (a status table), if any. */
  detail?: (result: T) => string | undefined;
}

/** The step that failed, and why: the steps after it did not run. */
export class StepError extends Error {
  override readonly name = 'StepError';
  constructor(
    readonly index: number,
    readonly title: string,
    override readonly cause: unknown,
  ) {
    const fix = (cause as {fix?: string}).fix;
    super(`step ${index} (${title}) failed: ${(cause as Error).message}${fix ? `; ${fix}` : ''}`);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function listrLogger(ListrLogger: typeof import('listr2').ListrLogger, ProcessOutput: typeof import('listr2').ProcessOutput, out: NodeJS.WriteStream) {
  // Both renderers draw on the stream given; listr2 falls back to its simple one when stdout is
  // not a terminal (-o json > file), which still must not write there.
  return {logger: new ListrLogger({processOutput: new ProcessOutput(out, out)})};
}

/**
 * Runs steps in order until one fails (then throws a StepError). On a terminal: a listr2 list with
 * the latest progress under the running step and each step's summary and detail kept under it.
 * Elsewhere: one line per step on `stream` when it ends, and its detail on `results` (stdout).
 */
export async function withSteps<T>(steps: Array<ProgressStep<T>>, stream: ProgressStream = process.stderr, results: {write(text: string): boolean} = process.stdout): Promise<T[]> {
  const done: T[] = [];
  const n = steps.length;
  const label = (i: number, title: string) => `[${i + 1}/${n}] ${title}`;
  if (!stream.isTTY || !stream.columns) {
    for (const [i, step] of steps.entries()) {
      const started = Date.now();
      let result: T;
      try {
        result = await step.run(() => undefined);
      } catch (err) {
        stream.write(`${label(i, step.title)}: FAILED after ${seconds(Date.now() - started)}: ${(err as Error).message}
`);
        throw new StepError(i + 1, step.title, err);
      }
      stream.write(`${label(i, step.title)}: ${step.summary(result)} (${seconds(Date.now() - started)})
`);
      const detail = step.detail?.(result);
      if (detail) results.write(detail.endsWith('\n') ? detail : `${detail}\n`);
      done.push(result);
    }
    return done;
  }
  const {Listr, ListrLogger, ProcessOutput} = await import('listr2');
  const out = stream as NodeJS.WriteStream;
  let failed: StepError | undefined;
  await new Listr(
    steps.map((step, i) => ({
      title: label(i, step.title),
      task: async (_ctx: unknown, task: {title: string; output: string}) => {
        const started = Date.now();
        let result: T;
        try {
          result = await step.run((line) => {
            task.output = line;
          });
        } catch (err) {
          failed = new StepError(i + 1, step.title, err);
          task.output = (err as Error).message;
          throw err;
        }
        task.title = `${label(i, step.title)}: ${step.summary(result)} (${seconds(Date.now() - started)})`;
        task.output = step.detail?.(result) ?? '';
        done.push(result);
      },
      rendererOptions: {persistentOutput: true, outputBar: Infinity},
    })),
    {
      exitOnError: true,
      registerSignalListeners: false,
      rendererOptions: listrLogger(ListrLogger, ProcessOutput, out),
      fallbackRendererOptions: listrLogger(ListrLogger, ProcessOutput, out),
    },
  )
    .run()
    .catch((err: unknown) => {
      throw failed ?? err;
    });
  return done;
}

/**
 * Runs `work`, showing its steps on `stream`: a listr2 task on a terminal (the latest step under its
 * title), and one plain line per step elsewhere, so that logs and CI output stay readable.
 */
export async function withProgress<T>(title: string, work: (say: Say) => Promise<T>, stream: ProgressStream = process.stderr): Promise<T> {
  // A terminal that reports no width (some CI runners, `script`) gets plain lines as well.
  if (!stream.isTTY || !stream.columns) {
    stream.write(`${title}\n`);
    return work((line) => stream.write(`  ${line}\n`));
  }
  const {Listr, ListrLogger, ProcessOutput} = await import('listr2');
  const out = stream as NodeJS.WriteStream;
  let result: T | undefined;
  await new Listr(
    [
      {
        title,
        task: async (_ctx, task) => {
          result = await work((line) => {
            task.output = line;
          });
        },
        rendererOptions: {persistentOutput: true, bottomBar: 4},
      },
    ],
    {
      exitOnError: true,
      registerSignalListeners: false,
      rendererOptions: listrLogger(ListrLogger, ProcessOutput, out),
      fallbackRendererOptions: listrLogger(ListrLogger, ProcessOutput, out),
    },
  ).run();
  return result as T;
}
