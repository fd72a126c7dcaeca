import {execFile, spawn, type ChildProcess} from 'node:child_process';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RUN_JS = path.join(REPO, 'bin', 'run.js');

export interface CliResult {
  code: number;
  /** The signal that ended the process, if one did. */
  signal?: string;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command as a user would, in a child process, against the built CLI (npm test builds it
 * first). Asynchronous, so that test servers in this process keep answering.
 */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env}, timeout: 60_000},
      (error, stdout, stderr) => {
        // A missing program would otherwise read as a failing command with nothing on stderr.
        if (error?.code === 'ENOENT') {
          reject(new Error(`${file} is not on the PATH: the suite runs it (kubectl: install it, e.g. apt-get install kubernetes-client)`));
          return;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({code, ...(error?.signal ? {signal: error.signal} : {}), stdout, stderr});
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return run(process.execPath, [RUN_JS, ...args], env);
}

/** `watch --no-tui` as a child process, its lines collected as they come. */
export function startWatch(args: string[]): {child: ChildProcess; lines: string[]; exited: Promise<number | null>} {
  const child = spawn(process.execPath, [RUN_JS, 'watch', '--no-tui', ...args], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']});
  const lines: string[] = [];
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr!.on('data', (chunk: Buffer) => lines.push(`stderr: ${chunk.toString('utf8').trimEnd()}`));
  // On close, not exit: only then has everything the child wrote been read, its last words included.
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      if (buffer !== '') lines.push(buffer);
      resolve(code);
    }),
  );
  return {child, lines, exited};
}
