#!/usr/bin/env node
// kubectl_complete-superskyray: kubectl (1.26+) runs it to complete "kubectl superskyray ...".
import {execute} from '@oclif/core/execute';

await execute({dir: import.meta.url, args: ['__complete', ...process.argv.slice(2)]});
