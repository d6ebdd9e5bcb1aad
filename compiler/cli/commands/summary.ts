// `ig3dc MODEL`: what the model is, with its dynamic dimensions bound.

import { loadModel, type DimBinding } from '../../load.ts';
import { formatModelInfo, modelInfo } from '../../model-info.ts';
import { formatType } from '../../../ir/types.ts';
import { writeOut } from '../run-command.ts';

export async function summaryCommand(model: string, opts: DimBinding & { json?: boolean }): Promise<void> {
  const info = modelInfo(loadModel(model, opts));
  if (opts.json) {
    const json = {
      ...info,
      opCounts: Object.fromEntries(info.opCounts),
      inputs: info.inputs.map((i) => ({ name: i.name, type: formatType(i.type), shape: i.type.shape })),
      outputs: info.outputs.map((o) => ({ name: o.name, type: formatType(o.type), shape: o.type.shape })),
    };
    await writeOut(`${JSON.stringify(json, null, 2)}\n`);
  } else {
    await writeOut(`${formatModelInfo(info)}\n`);
  }
}
