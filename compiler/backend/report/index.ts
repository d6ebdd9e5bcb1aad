// Cost reports: the table for people, cost.json for scripts, the baseline-vs-optimized
// comparison, and the self-contained HTML report.

export { costJson, COST_JSON_FORMAT, type CostJson } from './json.ts';
export { formatCostTable } from './table.ts';
export { compareRows, formatComparison, describeMethod, type CompareRow } from './compare.ts';
export { renderHtmlReport, type HtmlReportInput } from './html.ts';
export { formatFamilies, familyRows, type FamilyRow } from './families.ts';
export { estimateDealerLatency, DEALER_LATENCY_FORMULA, estimateLatency, findProfile, phaseBytes, LATENCY_FORMULA, PROFILES, type LatencyEstimate, type NetworkProfile } from './latency.ts';
export { layerBreakdown, layerOrder, type LayerBreakdown, type KindCost } from './breakdown.ts';
export { criticalPathRounds } from './critical-path.ts';
export { fmtBytes, fmtSeconds } from './format.ts';
export { fssWidthRows, type FssWidthRow } from './fss-widths.ts';
