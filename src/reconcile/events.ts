import type {ClusterClient} from '../kube/client.js';
import {RESOURCES} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';

const COMPONENT = 'kubectl-superskyray';
/** The API rejects longer Event messages. */
const MAX_MESSAGE = 1024;

/**
 * Records a significant step as a Kubernetes Event on the Ray object, so that `kubectl describe`
 * tells the story. A failure to record is not a failure of the step: it is reported, not thrown.
 */
export async function recordEvent(client: ClusterClient, about: KubeObject, reason: string, message: string, signal?: AbortSignal): Promise<string | undefined> {
  const now = new Date().toISOString();
  const meta = about.metadata ?? {};
  try {
    await client.create(
      RESOURCES.events,
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {generateName: `${meta.name}.`, namespace: meta.namespace},
        involvedObject: {apiVersion: about.apiVersion, kind: about.kind, name: meta.name, namespace: meta.namespace, uid: meta.uid},
        reason,
        message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
        type: 'Normal',
        source: {component: COMPONENT},
        reportingComponent: COMPONENT,
        reportingInstance: COMPONENT,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
      {signal},
    );
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
