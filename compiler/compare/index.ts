// IG-3D against the related systems' attention on one model and dev set (`ig3dc compare-methods`).

export { compareMethods, headCensus, type CompareOptions, type CompareResult, type MethodCost, type MethodRow } from './compare-methods.ts';
export { IG3D_METHOD, METHOD_NAMES, RELATED_METHODS, parseMethods, type MethodConfig, type RelatedMethod } from './methods.ts';
export { COMPARE_JSON_FORMAT, compareJson, formatCompareReport } from './report.ts';
export { renderCompareHtml } from './html.ts';
