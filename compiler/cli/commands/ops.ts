// `ig3dc ops`: the supported ONNX operators (from the frontend's op table) and the IR ops.

import { allOps } from '../../../ir/op.ts';
import { onnxOpSpecs, type OnnxOpSpec } from '../../frontend/onnx-ops.ts';
import { OPSET_RANGE } from '../../frontend/decode.ts';
import { writeJson, writeOut } from '../run-command.ts';
import '../../../ir/ops/index.ts';

function inputsOf(spec: OnnxOpSpec): string {
  return spec.inputs.map((i) => `${i.name}${i.variadic ? '...' : ''}${i.optional ? '?' : ''}`).join(', ');
}

function attrsOf(spec: OnnxOpSpec): string {
  return spec.attrs
    .map((a) => {
      const d = a.default === undefined ? '' : `=${Array.isArray(a.default) ? `[${a.default.join(',')}]` : String(a.default)}`;
      const range = a.opsets ? ` (opset ${a.opsets[0]}-${a.opsets[1]})` : '';
      return `${a.name}${d}${range}`;
    })
    .join(', ');
}

/** The Markdown table of supported ONNX operators that the README carries. */
export function onnxOpsMarkdown(): string {
  const rows = [...onnxOpSpecs()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => `| ${s.name} | ${s.opsets[0]}-${s.opsets[1]} | ${inputsOf(s) || '-'} | ${attrsOf(s) || '-'} |`);
  return ['| ONNX op | opsets | inputs | attributes (defaults) |', '|---|---|---|---|', ...rows].join('\n');
}

export async function opsCommand(opts: { markdown?: boolean; json?: boolean }): Promise<void> {
  if (opts.json === true) {
    const onnx = [...onnxOpSpecs()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => ({ name: s.name, opsets: s.opsets, inputs: s.inputs, attrs: s.attrs }));
    await writeJson({ opsetRange: OPSET_RANGE, onnx, ir: allOps().map((d) => ({ name: d.name, summary: d.summary })) });
    return;
  }
  if (opts.markdown) {
    await writeOut(`${onnxOpsMarkdown()}\n`);
    return;
  }
  const specs = [...onnxOpSpecs()].sort((a, b) => a.name.localeCompare(b.name));
  const lines = [`ONNX operators (default domain, opsets ${OPSET_RANGE[0]}-${OPSET_RANGE[1]}): ${specs.length}`];
  const w = Math.max(...specs.map((s) => s.name.length));
  for (const s of specs) lines.push(`  ${s.name.padEnd(w)}  opset ${s.opsets[0]}-${s.opsets[1]}  (${inputsOf(s)})${s.attrs.length ? `  {${attrsOf(s)}}` : ''}`);
  const ir = allOps();
  lines.push('', `IR ops: ${ir.length}`);
  const wi = Math.max(...ir.map((d) => d.name.length));
  for (const d of ir) lines.push(`  ${d.name.padEnd(wi)}  ${d.summary}`);
  await writeOut(`${lines.join('\n')}\n`);
}
