import * as os from 'node:os';
import {randomBytes} from 'node:crypto';

/**
 * This run of the tool: <host>/<pid>/<random>. The random part tells a pid used again from the run
 * that had it. It names the run in every Lease it holds (kubectl-superskyray/<run>/<n>) and in the
 * User-Agent of every request, so that an API server's audit log ties each write to the holder of
 * its group's lease.
 */
export const RUN = `${os.hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;

/** The User-Agent of this run's requests: kubectl-superskyray/<version> (<run>). */
export function userAgent(version: string): string {
  return `kubectl-superskyray/${version} (${RUN})`;
}
