/** How a long-running command reports its steps: on stderr, so that stdout stays the result. */
export type Say = (line: string) => void;

interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
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
      // Both renderers draw on the stream given; listr2 falls back to its simple one when stdout is
      // not a terminal (-o json > file), which still must not write there.
      rendererOptions: {logger: new ListrLogger({processOutput: new ProcessOutput(out, out)})},
      fallbackRendererOptions: {logger: new ListrLogger({processOutput: new ProcessOutput(out, out)})},
    },
  ).run();
  return result as T;
}
