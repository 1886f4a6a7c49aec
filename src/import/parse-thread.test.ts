import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startParseThread } from './parse-thread.js';

const rows = (n: number) => ['email', ...Array.from({ length: n }, (_, i) => `user${i}@example.test`)].join('\n');
const settledWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), ms))]);

describe('the parse worker', () => {
  it('runs at most `ahead` parsed items past the last acknowledgement, and ends with null', async () => {
    const thread = startParseThread(Readable.from([rows(10)]), { overrides: {}, batchSize: 2, types: [], ahead: 2 });
    try {
      expect(await thread.next()).toMatchObject({ kind: 'header' });
      expect(await thread.next()).toMatchObject({ kind: 'batch', read: 2, rows: [{ line: 2 }, { line: 3 }] });
      const third = thread.next();
      expect(await settledWithin(third, 500)).toBe(false);
      thread.ack();
      expect(await third).toMatchObject({ kind: 'batch', rows: [{ line: 4 }, { line: 5 }] });
      let seen = 2;
      for (let p = await third; p !== null; p = await thread.next()) {
        thread.ack();
        if (p.kind === 'batch') seen += p.read;
      }
      expect(seen).toBe(10);
    } finally {
      await thread.close();
    }
  });

  it('reads about 1 MiB of the source ahead of the parser, not the whole file, while batches await acknowledgement', async () => {
    const chunk = Buffer.from('user@example.test\n'.repeat(3600)); // ≈ 64 KiB
    let pulled = 0;
    const file = new Readable({
      read() {
        if (pulled === 0) this.push('email\n');
        pulled += chunk.length;
        this.push(pulled > 64 << 20 ? null : Buffer.from(chunk));
      },
    });
    const thread = startParseThread(file, { overrides: {}, batchSize: 1000, types: [], ahead: 2 });
    try {
      expect(await thread.next()).toMatchObject({ kind: 'header' });
      expect(await thread.next()).toMatchObject({ kind: 'batch' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(pulled).toBeLessThan(4 << 20);
    } finally {
      await thread.close();
    }
  });

  it('rejects with the source’s error, and with the parser’s', async () => {
    const broken = new Readable({ read() {} });
    broken.push('email\na@example.test\n');
    setTimeout(() => broken.destroy(new Error('upload cut short')), 50);
    const cut = startParseThread(broken, { overrides: {}, batchSize: 1000, types: [], ahead: 2 });
    try {
      await expect(
        (async () => {
          while ((await cut.next()) !== null) cut.ack();
        })(),
      ).rejects.toThrow('upload cut short');
    } finally {
      await cut.close();
    }

    const unclosed = startParseThread(Readable.from(['email\n"a@example.test\n']), { overrides: {}, batchSize: 1000, types: [], ahead: 2 });
    try {
      await expect(
        (async () => {
          while ((await unclosed.next()) !== null) unclosed.ack();
        })(),
      ).rejects.toThrow(/Quote Not Closed/i);
    } finally {
      await unclosed.close();
    }
  });
});
