// `ig3dc passes`: every registered pass, its summary, options and rewrite rules.

import { allPasses } from '../../../passes/index.ts';
import { writeJson, writeOut } from '../run-command.ts';
import { loadPassModules } from './opt.ts';

export async function passesCommand(opts: { loadPass?: readonly string[]; rules?: boolean; json?: boolean } = {}): Promise<void> {
  await loadPassModules(opts.loadPass ?? []);
  if (opts.json === true) {
    const passes = allPasses().map((p) => ({
      name: p.name,
      summary: p.summary,
      options: p.options,
      ...(p.rules !== undefined ? { rules: p.rules.map((r) => ({ name: r.name, doc: r.doc })) } : {}),
    }));
    await writeJson({ passes });
    return;
  }
  const lines: string[] = [];
  for (const p of allPasses()) {
    lines.push(`${p.name}\n    ${p.summary}`);
    for (const [k, spec] of Object.entries(p.options)) {
      const dflt = spec.default !== undefined ? ` (default ${Array.isArray(spec.default) ? `[${spec.default.join(',')}]` : String(spec.default)})` : '';
      const kind = spec.kind === 'enum' ? spec.values.join('|') : spec.kind;
      const range = spec.kind === 'number' || spec.kind === 'int' ? rangeText(spec.min, spec.max) : '';
      lines.push(`    ${k}=<${kind}>${range}${dflt}: ${spec.doc}`);
    }
    if (opts.rules && p.rules !== undefined) for (const r of p.rules) lines.push(`    rule ${r.name}: ${r.doc}`);
  }
  await writeOut(`${lines.join('\n')}\n`);
}

function rangeText(min: number | undefined, max: number | undefined): string {
  if (min === undefined && max === undefined) return '';
  return ` in [${min ?? '-inf'}, ${max ?? 'inf'}]`;
}
