import {spawn} from 'node:child_process';
import {Command} from '@oclif/core/command';

/** Set on the detached run that lists the groups for the next Tab. */
const REFRESH = 'SUPERSKYRAY_COMPLETE_REFRESH';

/**
 * What kubectl's shell completion runs, through the kubectl_complete-superskyray launcher. Hidden: it
 * is for shells, not people.
 */
export default class Complete extends Command {
  static override hidden = true;
  static override strict = false;
  static override summary = 'Answer kubectl\'s shell completion for "kubectl superskyray".';

  async run(): Promise<void> {
    const words = this.argv;
    if (process.env[REFRESH] === '1') return this.refreshGroups(words);
    const {complete} = await import('../cli/complete.js');
    const commands = this.config.commands.map((c) => ({
      id: c.id,
      summary: c.summary,
      flags: Object.values(c.flags).map((f) => ({
        name: f.name,
        char: f.char,
        type: f.type,
        options: f.type === 'option' ? f.options : undefined,
        multiple: f.type === 'option' ? f.multiple : false,
        summary: f.summary ?? f.description,
      })),
      fileArgument: Object.values(c.args).some((a) => a.name === 'file'),
      // A command that takes any number of words (watch) takes several groups.
      ...(c.args.group ? {groupArgument: c.strict === false ? ('many' as const) : ('one' as const)} : {}),
    }));
    const topics = Object.fromEntries(this.config.topics.map((t) => [t.name, t.description ?? '']));
    process.stdout.write(`${(await complete(words, commands, () => this.contexts(words), topics, () => this.groups(words))).join('\n')}\n`);
  }

  /** The groups of the fleet the words name, as last listed; an old listing is redone in the background. */
  private async groups(words: string[]) {
    const {fleetWords, namesFile, namesToOffer} = await import('../cli/group-names.js');
    const given = fleetWords(words.slice(0, -1));
    // Whatever ran this completion (bin/complete.js, or the release's file and its __complete word) runs the refresh.
    const runner = process.argv.slice(1, process.argv.length - words.length);
    return namesToOffer(namesFile(given, process.env), given.namespace, () =>
      spawn(process.execPath, [...runner, ...words], {detached: true, stdio: 'ignore', env: {...process.env, [REFRESH]: '1'}}).unref(),
    );
  }

  /** Lists the fleet's groups and writes them for the next Tab. Detached from the shell: it prints nothing. */
  private async refreshGroups(words: string[]): Promise<void> {
    const [{Fleet}, {userAgent}, {groupNames}, {fleetWords, namesFile, writeNames}] = await Promise.all([
      import('../kube/fleet.js'),
      import('../kube/identity.js'),
      import('../reconcile/fleet-groups.js'),
      import('../cli/group-names.js'),
    ]);
    const given = fleetWords(words.slice(0, -1));
    const file = namesFile(given, process.env);
    try {
      const fleet = Fleet.open({
        ...(given.contexts.length > 0 ? {contexts: given.contexts} : {}),
        fleetFile: given.fleet,
        kubeconfig: given.kubeconfig,
        env: process.env,
        requestTimeoutMs: 5000,
        userAgent: userAgent(this.config.version),
      });
      const found = await groupNames(fleet, AbortSignal.timeout(20_000));
      let namespace: string | undefined;
      try {
        namespace = fleet.namespace;
      } catch {
        // Contexts that set different namespaces: a command needs -n, and completion offers "default".
      }
      writeNames(file, found, namespace ?? 'default');
    } catch {
      // No fleet, or none answered: nothing to offer, and the next Tab tries again.
    }
  }

  /** The contexts of the kubeconfig the words name (or $KUBECONFIG). */
  private async contexts(words: string[]): Promise<string[]> {
    const at = words.findIndex((w) => w === '--kubeconfig' || w.startsWith('--kubeconfig='));
    const flag = at < 0 ? undefined : words[at]!.includes('=') ? words[at]!.split('=')[1] : words[at + 1];
    const {contextNames, kubeconfigFiles} = await import('../kube/kubeconfig-files.js');
    return contextNames(kubeconfigFiles(flag, process.env));
  }
}
