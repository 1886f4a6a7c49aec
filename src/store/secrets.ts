import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Sender credentials at rest (issue 5): AES-256-GCM under a key from the environment
 * (HERALD_SECRET_KEY, 32 bytes as 64 hex characters or base64). Each value gets its own
 * 12-byte nonce; the stored text is `v1.<nonce>.<ciphertext>.<tag>` in base64url, so a key
 * rotation can add `v2` later. Decrypted values live only in memory, for the adapters.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('The secret key must be 32 bytes');
    this.#key = key;
  }

  /** Reads HERALD_SECRET_KEY: 64 hex characters or base64 of 32 bytes. */
  static fromText(name: string, raw: string): SecretBox {
    const text = raw.trim();
    const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
    if (key.length !== 32) throw new Error(`${name} must be 32 bytes as 64 hex characters or base64 (e.g. \`openssl rand -hex 32\`)`);
    return new SecretBox(key);
  }

  static random(): SecretBox {
    return new SecretBox(randomBytes(32));
  }

  seal(value: Readonly<Record<string, string>>): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', nonce.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The stored credentials; throws when they were sealed under another key (or were tampered with). */
  open(sealed: string): Record<string, string> {
    const [version, nonce, body, tag] = sealed.split('.');
    if (version !== 'v1' || nonce === undefined || body === undefined || tag === undefined)
      throw new Error('Unreadable sealed credentials');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(nonce, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    return JSON.parse(text) as Record<string, string>;
  }
}
