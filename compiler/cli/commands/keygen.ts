// `ig3dc keygen --out DIR`: the three roles' key files (party0.key, party1.key, dealer.key),
// fresh from the OS CSPRNG, mode 0600. Copy each to its host over a secure channel; each
// file holds only the keys of the pairs its role belongs to (runtime/keys.ts).

import { mkdirSync } from 'node:fs';
import { writeKeyFiles } from '../../../runtime/index.ts';
import { writeOut } from '../run-command.ts';

export async function keygenCommand(opts: { readonly out: string }): Promise<void> {
  mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  const paths = writeKeyFiles(opts.out);
  await writeOut(`wrote ${paths.join(', ')} (mode 0600): give party0.key to the server, party1.key to the client, dealer.key to the dealer\n`);
}
