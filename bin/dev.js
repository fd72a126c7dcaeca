#!/usr/bin/env -S node --import tsx --no-warnings
// Runs the TypeScript sources directly, without a build: `node --import tsx bin/dev.js status ...`.
import {execute} from '@oclif/core/execute';

await execute({development: true, dir: import.meta.url});
