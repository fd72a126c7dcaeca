#!/usr/bin/env node
// The npm install's entry: dist/bundle.js (scripts/build.mjs), which loads the rest of the CLI in chunks
// as a command needs them.
import module from 'node:module';

// Node 22.1+ can keep the compiled bundle between runs, the larger part of start-up; before the
// bundle's import, so that it is cached too. Older Node has no such function.
module.enableCompileCache?.();
const {run} = await import('../dist/bundle.js');
await run(process.argv.slice(2));
