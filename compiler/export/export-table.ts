// The export table: one rule per IR op, mapping it to standard default-domain ONNX nodes.
// ONNX-level ops go back to their ONNX form; transformer-level ops are expanded.

import type { ExportRule } from './export-rule.ts';
import { ONNX_LEVEL_RULES } from './onnx-level-rules.ts';
import { TOKEN_RULES } from './token-rules.ts';
import { TRANSFORMER_RULES } from './transformer-rules.ts';

const RULES: readonly ExportRule[] = [...ONNX_LEVEL_RULES, ...TRANSFORMER_RULES, ...TOKEN_RULES];

const BY_OP = new Map<string, ExportRule>(RULES.map((r) => [r.op, r]));
if (BY_OP.size !== RULES.length) throw new Error('an IR op has two export rules');

export function findExportRule(op: string): ExportRule | undefined {
  return BY_OP.get(op);
}

/** Every export rule, sorted by IR op name. */
export function exportRules(): readonly ExportRule[] {
  return [...RULES].sort((a, b) => a.op.localeCompare(b.op));
}
