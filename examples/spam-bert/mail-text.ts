// The text spam-bert reads from a raw e-mail (../shared/fixtures/README.md, section 5, steps
// 1-4): the Subject header's value, a newline, then the body. Steps 5-9 are tokenizer.json's.

/** Subject + "\n" + body of a raw message (headers other than Subject dropped, continuation lines not joined). */
export function mailText(raw: string): string {
  const text = raw.replaceAll('\r\n', '\n');
  const split = text.indexOf('\n\n');
  const [headers, body] = split < 0 ? [text, ''] : [text.slice(0, split), text.slice(split + 2)];
  const subjectLine = headers.split('\n').find((line) => line.slice(0, 8).toLowerCase() === 'subject:');
  const subject = subjectLine === undefined ? '' : subjectLine.slice(8).trim();
  return `${subject}\n${body}`;
}
