// `ig3dc passes`: every registered pass, its summary and options.

import { allPasses } from '../../../passes/index.ts';
import { writeOut } from '../run-command.ts';

export async function passesCommand(): Promise<void> {
  const lines: string[] = [];
  for (const p of allPasses()) {
    lines.push(`${p.name}\n    ${p.summary}`);
    for (const [k, spec] of Object.entries(p.options)) {
      const dflt = spec.default !== undefined ? ` (default ${Array.isArray(spec.default) ? `[${spec.default.join(',')}]` : String(spec.default)})` : '';
      const kind = spec.kind === 'enum' ? spec.values.join('|') : spec.kind;
      lines.push(`    ${k}=<${kind}>${dflt}: ${spec.doc}`);
    }
  }
  await writeOut(`${lines.join('\n')}\n`);
}
