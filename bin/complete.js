#!/usr/bin/env node
// kubectl_complete-superskyray: kubectl (1.26+) runs it to complete "kubectl superskyray ...".
import module from 'node:module';

// As in bin/run.js: Node 22.1+ keeps the compiled bundle between runs; older Node has no such function.
module.enableCompileCache?.();
const {complete} = await import('../dist/bundle.js');
await complete(process.argv.slice(2));
