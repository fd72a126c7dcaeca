#!/usr/bin/env node
// kubectl_complete-superskyray: kubectl (1.26+) runs it to complete "kubectl superskyray ...".
// Straight to the command, not through oclif's run(): that would show help for a word like --help.
import {Config} from '@oclif/core/config';

const config = await Config.load(import.meta.url);
await config.runCommand('__complete', process.argv.slice(2));
