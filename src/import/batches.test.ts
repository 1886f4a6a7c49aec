import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { describe, expect, it } from 'vitest';
import { type Parsed, parseBatches } from './batches.js';

async function batchesOf(csv: string, batchSize: number, types: [string, 'string' | 'number' | 'date'][] = []): Promise<Parsed[]> {
  const records = Readable.from([csv]).pipe(parse({ bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: false }));
  const out: Parsed[] = [];
  for await (const p of parseBatches(records, { overrides: {}, batchSize, types })) out.push(p);
  return out;
}

describe('parseBatches', () => {
  it('numbers lines as the file does: quoted line breaks and empty lines count, empty lines are not rows', async () => {
    const csv = ['email,note', 'a@example.test,"two', 'lines"', '', 'bad-email,x', 'c@example.test,"a', 'b', 'c"', 'd@example.test'].join(
      '\n',
    );
    const [header, ...batches] = await batchesOf(csv, 2);
    expect(header).toEqual({
      kind: 'header',
      header: ['email', 'note'],
      mapping: { email: 'email', note: 'attributes.note' },
      identifies: true,
    });
    const lines = batches.map((b) =>
      b.kind === 'batch' ? [b.read, b.rows.map((r) => r.line), b.rejected.map((r) => [r.line, r.reason])] : [],
    );
    expect(lines).toEqual([
      [2, [2], [[5, 'email is not a valid email address']]],
      [2, [6], [[9, 'has 1 fields; the header has 2']]],
    ]);
  });

  it('treats a type the first batch inferred as declared for the later ones', async () => {
    const csv = ['email,renewal', 'a@example.test,2027-01-31', 'b@example.test,soon'].join('\n');
    const [, first, second] = await batchesOf(csv, 1);
    expect(first).toMatchObject({ kind: 'batch', inferred: [['renewal', 'date']] });
    expect(second).toMatchObject({ kind: 'batch', rows: [], rejected: [{ line: 3, field: 'attributes.renewal' }] });
  });

  it('says when no column can identify a contact, and yields nothing for an empty file', async () => {
    expect((await batchesOf('name,plan\nAnn,pro\n', 10))[0]).toMatchObject({ kind: 'header', identifies: false });
    expect(await batchesOf('', 10)).toEqual([]);
  });
});
