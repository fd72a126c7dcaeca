/**
 * The entry of both bundles: dist/bundle.js, which bin/run.js runs (scripts/build.mjs), and the
 * release's single file (scripts/release.mjs). Every command, listed for oclif's explicit discovery,
 * and the hook. Run directly (the release), it runs the CLI; imported, by bin/run.js or by oclif to
 * read COMMANDS, it only exports them.
 */
import * as fs from 'node:fs';
import {fileURLToPath} from 'node:url';
import {Config} from '@oclif/core/config';
import {execute} from '@oclif/core/execute';
import Complete from './commands/__complete.js';
import Delete from './commands/delete.js';
import Doctor from './commands/doctor.js';
import Place from './commands/place.js';
import RunbookRun from './commands/runbook/run.js';
import SandboxDown from './commands/sandbox/down.js';
import SandboxServe from './commands/sandbox/serve.js';
import SandboxUp from './commands/sandbox/up.js';
import Scale from './commands/scale.js';
import Span from './commands/span.js';
import Status from './commands/status.js';
import Watch from './commands/watch.js';

export const COMMANDS = {__complete: Complete, delete: Delete, doctor: Doctor, place: Place, 'runbook:run': RunbookRun, 'sandbox:down': SandboxDown, 'sandbox:serve': SandboxServe, 'sandbox:up': SandboxUp, scale: Scale, span: Span, status: Status, watch: Watch};
export {default as commandNotFound} from './cli/command-not-found.js';

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Runs the CLI on these words; oclif finds the package.json above this file (the package's, the release's). */
export async function run(argv: string[]): Promise<void> {
  await execute({args: argv, dir: import.meta.url});
}

/** kubectl's completion: straight to the command, not through oclif's run(), which would show help for a word like --help. */
export async function complete(words: string[]): Promise<void> {
  const config = await Config.load(import.meta.url);
  await config.runCommand('__complete', words);
}

// Not awaited: oclif imports this very file to read COMMANDS, which must not wait for the run.
if (isMain() && process.argv[2] === '__complete') void complete(process.argv.slice(3));
else if (isMain()) void run(process.argv.slice(2));
