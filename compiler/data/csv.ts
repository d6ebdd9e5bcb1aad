// CSV as RFC 4180 defines it: records separated by CRLF (LF alone accepted too), fields by
// commas; a field in double quotes may hold commas, line breaks and "" (one quote). The
// first record is the header. Every record must have the header's number of fields.
// (No CSV library is among the project's dependencies, and the format is small.)

import { Ig3dcError } from '../../ir/diagnostics.ts';

export interface CsvTable {
  readonly header: readonly string[];
  /** Records after the header, with the 1-based line each starts on. */
  readonly rows: readonly { readonly line: number; readonly fields: readonly string[] }[];
}

/** Parses CSV text (a leading UTF-8 byte-order mark is skipped); errors name file, line and column. */
export function parseCsv(text: string, file: string): CsvTable {
  const records: { line: number; fields: string[] }[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let lineStart = i;
  const fail = (why: string, at: number, atLine = line, atStart = lineStart): never => {
    throw new Ig3dcError('input', why, { file, line: atLine, column: at - atStart + 1 });
  };
  const n = text.length;
  while (i < n) {
    const recordLine = line;
    const fields: string[] = [];
    let quoted = false;
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        quoted = true;
        const openAt = i;
        const openLine = line;
        const openStart = lineStart;
        i++;
        for (;;) {
          if (i >= n) fail('unterminated quoted field (a field opened with " needs a closing ")', openAt, openLine, openStart);
          const ch = text[i]!;
          if (ch === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n') {
            line++;
            lineStart = i + 1;
          }
          field += ch;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') fail(`expected a comma or the end of the line after a quoted field, found ${JSON.stringify(text[i])}`, i);
      } else {
        const start = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') fail('a double quote inside an unquoted field (quote the whole field and write the quote as "")', i);
          i++;
        }
        field = text.slice(start, i);
      }
      fields.push(field);
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    // end of record: CRLF, LF, a lone CR is an error, or the end of the text
    if (text[i] === '\r') {
      if (text[i + 1] !== '\n') fail('a carriage return not followed by a line feed', i);
      i++;
    }
    if (text[i] === '\n') {
      i++;
      line++;
      lineStart = i;
    }
    // a blank line (one empty unquoted field) is skipped
    if (fields.length === 1 && fields[0] === '' && !quoted) continue;
    records.push({ line: recordLine, fields });
  }
  if (records.length === 0) throw new Ig3dcError('input', 'empty CSV: expected a header line naming the columns', { file });
  const [head, ...rows] = records;
  const header = head!.fields;
  const seen = new Set<string>();
  header.forEach((h, k) => {
    if (seen.has(h)) throw new Ig3dcError('input', `the header names column '${h}' twice (columns ${header.indexOf(h) + 1} and ${k + 1})`, { file, line: head!.line, column: 1 });
    seen.add(h);
  });
  for (const r of rows) {
    if (r.fields.length !== header.length) {
      throw new Ig3dcError('input', `expected ${header.length} fields (as the header: ${header.join(',')}), found ${r.fields.length}`, { file, line: r.line, column: 1 });
    }
  }
  return { header, rows };
}
