// ONNX export of any IR stage.

export { exportOnnx, exportModelProto, DEFAULT_EXPORT_OPSET, EXPORT_IR_VERSION, type ExportOptions } from './export.ts';
export { exportRules, findExportRule } from './export-table.ts';
export type { ExportContext, ExportRule } from './export-rule.ts';
export { exportWithDynamicAxes, probeBindings, type DynamicExportResult } from './export-dynamic.ts';
export { analyzeDynamicAxes, CannotGeneralize, type DynamicAxes, type SymDim } from './dynamic-axes.ts';
