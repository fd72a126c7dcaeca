// Preloaded with --import: records the URL of every ES module the process loads into the file
// named by RECORD_IMPORTS, so a test can tell what a command pulled in.
import {register} from 'node:module';

register('./import-recorder-hooks.mjs', import.meta.url);
