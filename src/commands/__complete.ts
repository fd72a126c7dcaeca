import {Command} from '@oclif/core/command';

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
    }));
    const topics = Object.fromEntries(this.config.topics.map((t) => [t.name, t.description ?? '']));
    process.stdout.write(`${(await complete(words, commands, () => this.contexts(words), topics)).join('\n')}\n`);
  }

  /** The contexts of the kubeconfig the words name (or $KUBECONFIG). */
  private async contexts(words: string[]): Promise<string[]> {
    const at = words.findIndex((w) => w === '--kubeconfig' || w.startsWith('--kubeconfig='));
    const flag = at < 0 ? undefined : words[at]!.includes('=') ? words[at]!.split('=')[1] : words[at + 1];
    const {contextNames, kubeconfigFiles} = await import('../kube/kubeconfig-files.js');
    return contextNames(kubeconfigFiles(flag, process.env));
  }
}
