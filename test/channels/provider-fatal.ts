import { expect } from 'vitest';
import { ProviderFatalError } from '../../src/channels/channel.js';

/** The ProviderFatalError a send() rejects with; fails the test when it resolves or rejects with anything else. */
export async function fatalOf(p: Promise<unknown>): Promise<ProviderFatalError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderFatalError);
  return err as ProviderFatalError;
}
