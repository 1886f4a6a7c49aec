/**
 * A contact's fields, checked and put in their stored form: the one function every write
 * path runs (the API for each contact of a request, CSV import for each row). Pure and
 * fast, because an import calls it a million times: every pattern below is compiled once,
 * and time zones are resolved once per distinct name (a Map, bounded), never by a new
 * `Intl.DateTimeFormat` per call.
 *
 * Failures are values: `{ ok: false, errors: [{ field, reason }] }`, one entry per bad
 * field, all of them at once. `field` is the name a person uses (`email`, `tags.2`,
 * `devices.0.endpoint`, `attributes.birthday`); `reason` reads after it ("email is not a
 * valid email address").
 *
 * @example
 *   const r = normaliseContact({ email: ' Ann@Example.COM ', phone: '+1 (555) 010-2000' }, new Map());
 *   // r.ok && r.value → { email: 'ann@example.com', phone: '+15550102000' }
 */

export const attributeTypes = ['string', 'number', 'boolean', 'date'] as const;
export type AttributeType = (typeof attributeTypes)[number];

/** A web push subscription as the browser's `PushSubscription.toJSON()` gives it. */
export interface WebPushDevice {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}
export const mobilePlatforms = ['android', 'ios'] as const;
export type MobilePlatform = (typeof mobilePlatforms)[number];
/** A mobile push token (FCM registration token, APNs device token). */
export interface MobilePushDevice {
  readonly token: string;
  readonly platform: MobilePlatform;
}
export type Device = WebPushDevice | MobilePushDevice;

/**
 * A contact as it arrives: any field may be absent, null, or of the wrong type (the
 * function says which). With `fromText`, values are the text of a CSV cell.
 */
export interface ContactDraft {
  readonly email?: unknown;
  readonly phone?: unknown;
  readonly firstName?: unknown;
  readonly lastName?: unknown;
  readonly timeZone?: unknown;
  readonly externalId?: unknown;
  readonly telegramChatId?: unknown;
  readonly viberId?: unknown;
  readonly tags?: unknown;
  readonly devices?: unknown;
  readonly attributes?: unknown;
}

/**
 * The checked contact. A field is absent when the draft did not give it, null when the
 * draft gave null or an empty string (on upsert both keep the stored value; PATCH clears
 * on null). Attributes keep their nulls: on write a null removes the key.
 */
export interface NormalisedContact {
  email?: string | null;
  phone?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  timeZone?: string | null;
  externalId?: string | null;
  telegramChatId?: string | null;
  viberId?: string | null;
  /** Sorted, unique; null as for other fields (PATCH: no tags). */
  tags?: string[] | null;
  devices?: Device[];
  attributes?: Record<string, string | number | boolean | null>;
}

export interface FieldError {
  readonly field: string;
  readonly reason: string;
}

export type Normalised =
  | {
      readonly ok: true;
      readonly value: NormalisedContact;
      /** Attributes the draft wrote that `types` did not declare, with the type their value implies: declare them. */
      readonly inferred: readonly (readonly [string, AttributeType])[];
    }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

export interface NormaliseOptions {
  /**
   * Values are text (a CSV cell): attributes are converted to their declared type ("42" to
   * 42 for a number, "yes"/"no"/"true"/"false"/"1"/"0" for a boolean), an empty cell is
   * absent, and tags may be one cell separated by `,` or `;`. An undeclared attribute is
   * a date when it reads `YYYY-MM-DD`, else a string (declare numbers first).
   */
  readonly fromText?: boolean;
}

/** Bounds on one contact, so a request or a CSV row cannot store unbounded text. */
export const contactLimits = Object.freeze({
  email: 320,
  name: 200,
  externalId: 200,
  viberId: 100,
  tag: 100,
  tags: 100,
  attributeKey: 100,
  attributeText: 10_000,
  attributes: 200,
  devices: 20,
  deviceToken: 4096,
});

// Compiled once (see the top of the file). The email pattern is the WHATWG one for
// <input type=email>, plus a dot in the domain: senders reject dotless domains anyway.
const emailPattern = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
/** Spaces, dots, dashes and parentheses people put in phone numbers. */
const phoneFormatting = /[\s().\-\u00a0\u2010-\u2015]/g;
const e164 = /^\+[1-9][0-9]{6,14}$/;
const telegramChat = /^(-?[1-9][0-9]{0,19}|@[A-Za-z][A-Za-z0-9_]{3,31})$/;
const decimal = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const base64url = /^[A-Za-z0-9_\-+/]+={0,2}$/;
/** With the u flag a paired surrogate is one code point, so this finds lone ones only. */
const loneSurrogate = /\p{Surrogate}/u;
/** NUL or a lone surrogate: neither survives a round trip through both databases' text. */
const unstorable = { test: (s: string) => s.includes('\u0000') || loneSurrogate.test(s) };
const tagSeparators = /[,;]/;
const trueWords = new Set(['true', 'yes', '1', 'y']);
const falseWords = new Set(['false', 'no', '0', 'n']);
const emptyInferred: readonly (readonly [string, AttributeType])[] = Object.freeze([]);
const noErrors: readonly FieldError[] = Object.freeze([]);

/** IANA name → its canonical spelling (`europe/paris` → `Europe/Paris`), or null when unknown. */
const zones = new Map<string, string | null>();

/**
 * The canonical name of an IANA time zone, or null when this runtime does not know it.
 * Offsets such as `+01:00` are not zones (they ignore daylight saving) and are refused.
 */
export function canonicalZone(name: string): string | null {
  let zone = zones.get(name);
  if (zone === undefined) {
    zone = null;
    if (/^[A-Za-z]/.test(name)) {
      try {
        zone = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
      } catch {
        zone = null;
      }
    }
    // Names come from contact data: a bounded cache, so junk cannot grow it forever.
    if (zones.size >= 5000) zones.clear();
    zones.set(name, zone);
  }
  return zone;
}

/** Whether a string is a real calendar date `YYYY-MM-DD` (no 30 February). */
export function isCalendarDate(text: string): boolean {
  // Read by character codes: a million-row import asks this of every date cell.
  if (text.length !== 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return false;
  let year = 0;
  for (let i = 0; i < 4; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    year = year * 10 + d;
  }
  const m1 = text.charCodeAt(5) - 48;
  const m2 = text.charCodeAt(6) - 48;
  const d1 = text.charCodeAt(8) - 48;
  const d2 = text.charCodeAt(9) - 48;
  if (m1 < 0 || m1 > 9 || m2 < 0 || m2 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return false;
  const month = m1 * 10 + m2;
  const day = d1 * 10 + d2;
  if (month < 1 || month > 12 || day < 1) return false;
  if (day <= 28) return true;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

/** The type a stored value has as an attribute (a `YYYY-MM-DD` string is a date), or null for other JSON. */
export function attributeTypeOf(value: unknown): AttributeType | null {
  switch (typeof value) {
    case 'string':
      return isCalendarDate(value) ? 'date' : 'string';
    case 'number':
      return Number.isFinite(value) ? 'number' : null;
    case 'boolean':
      return 'boolean';
    default:
      return null;
  }
}

/** Whether a value may be stored in an attribute of the type (any string is a string; a date is a `YYYY-MM-DD` string). */
export function conformsTo(value: unknown, type: AttributeType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'date':
      return typeof value === 'string' && isCalendarDate(value);
    default:
      return false;
  }
}

const typeReasons: Readonly<Record<AttributeType, string>> = {
  string: 'must be a string (the attribute is declared string)',
  number: 'must be a number (the attribute is declared number)',
  boolean: 'must be true or false (the attribute is declared boolean)',
  date: 'must be a date YYYY-MM-DD (the attribute is declared date)',
};

/** Emails are matched case-insensitively: stored trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** An E.164 number from common formatting (`+1 (555) 010-2000` → `+15550102000`), or null when it is not one. */
export function normalisePhone(phone: string): string | null {
  const compact = phone.replace(phoneFormatting, '');
  return e164.test(compact) ? compact : null;
}

/** Tags as stored: trimmed, sorted by code point, unique. */
export function normaliseTags(tags: readonly string[]): string[] {
  const unique = [...new Set(tags.map((t) => t.trim()))];
  return unique.length < 2 ? unique : unique.sort(byCodeUnit);
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function report(errors: FieldError[], field: string, reason: string): void {
  errors.push({ field, reason });
}

/**
 * The trimmed string of a plain text field: undefined when absent (or an empty cell),
 * null when null or empty. Module-level functions rather than closures in
 * normaliseContact: tsx, which runs the import bench, wraps every closure created per
 * call in a naming helper, and that was half the time of an email-only row.
 */
function textOf(errors: FieldError[], text: boolean, field: string, raw: unknown, max: number): string | null | undefined {
  if (raw === undefined) return undefined;
  if (raw === null) return null;
  if (typeof raw !== 'string') {
    report(errors, field, 'must be a string');
    return undefined;
  }
  const t = raw.trim();
  if (t === '') return text ? undefined : null;
  if (t.length > max) {
    report(errors, field, `must be at most ${max} characters`);
    return undefined;
  }
  if (unstorable.test(t)) {
    report(errors, field, 'must not contain NUL characters or unpaired surrogates');
    return undefined;
  }
  return t;
}

/**
 * Checks a contact and returns it in stored form, or every bad field. `types` are the
 * workspace's declared attribute types; an attribute it lacks is typed by its value and
 * reported in `inferred` for the caller to declare (and to add to `types` before the next
 * contact of the same batch, as `normaliseContacts` does).
 */
export function normaliseContact(
  draft: ContactDraft,
  types: ReadonlyMap<string, AttributeType>,
  options: NormaliseOptions = {},
): Normalised {
  const text = options.fromText === true;
  const errors: FieldError[] = [];
  const value: NormalisedContact = {};
  const email = textOf(errors, text, 'email', draft.email, contactLimits.email);
  if (typeof email === 'string') {
    const e = email.toLowerCase();
    if (emailPattern.test(e)) value.email = e;
    else report(errors, 'email', 'is not a valid email address');
  } else if (email === null) value.email = null;

  const phone = textOf(errors, text, 'phone', draft.phone, 40);
  if (typeof phone === 'string') {
    const p = normalisePhone(phone);
    if (p !== null) value.phone = p;
    else if (phone.startsWith('+')) report(errors, 'phone', 'is not an E.164 number (+, country code, 7 to 15 digits)');
    else report(errors, 'phone', 'must start with + and the country code (E.164)');
  } else if (phone === null) value.phone = null;

  const firstName = textOf(errors, text, 'firstName', draft.firstName, contactLimits.name);
  if (firstName !== undefined) value.firstName = firstName;
  const lastName = textOf(errors, text, 'lastName', draft.lastName, contactLimits.name);
  if (lastName !== undefined) value.lastName = lastName;

  const zone = textOf(errors, text, 'timeZone', draft.timeZone, 64);
  if (typeof zone === 'string') {
    const canonical = canonicalZone(zone);
    if (canonical !== null) value.timeZone = canonical;
    else report(errors, 'timeZone', 'is not an IANA time zone (e.g. Europe/Paris)');
  } else if (zone === null) value.timeZone = null;

  const externalId = textOf(errors, text, 'externalId', draft.externalId, contactLimits.externalId);
  if (externalId !== undefined) value.externalId = externalId;

  const chat = typeof draft.telegramChatId === 'number' ? String(draft.telegramChatId) : draft.telegramChatId;
  const telegram = textOf(errors, text, 'telegramChatId', chat, 64);
  if (typeof telegram === 'string') {
    if (telegramChat.test(telegram)) value.telegramChatId = telegram;
    else report(errors, 'telegramChatId', 'must be a Telegram chat id (an integer) or @channel name');
  } else if (telegram === null) value.telegramChatId = null;

  const viberId = textOf(errors, text, 'viberId', draft.viberId, contactLimits.viberId);
  if (viberId !== undefined) value.viberId = viberId;

  if (text && typeof draft.tags === 'string' && draft.tags.trim() === '') {
    // An empty cell leaves the stored tags as they are.
  } else if (draft.tags !== undefined && draft.tags !== null) {
    const tags = normaliseTagList(draft.tags, text, errors);
    if (tags) value.tags = tags;
  } else if (draft.tags === null) value.tags = null;

  if (draft.devices !== undefined && draft.devices !== null) {
    const devices = normaliseDevices(draft.devices, errors);
    if (devices) value.devices = devices;
  }

  let inferred = emptyInferred;
  if (draft.attributes !== undefined && draft.attributes !== null) {
    const attrs = draft.attributes;
    if (typeof attrs !== 'object' || Array.isArray(attrs)) report(errors, 'attributes', 'must be an object');
    else {
      const entries = Object.entries(attrs);
      if (entries.length > contactLimits.attributes) report(errors, 'attributes', `must have at most ${contactLimits.attributes} keys`);
      const out: [string, string | number | boolean | null][] = [];
      const fresh: [string, AttributeType][] = [];
      for (const [key, raw] of entries) {
        if (key.length === 0 || key.length > contactLimits.attributeKey) {
          report(errors, `attributes.${key}`, `must be a key of 1 to ${contactLimits.attributeKey} characters`);
          continue;
        }
        if (unstorable.test(key)) {
          report(errors, `attributes.${key}`, 'must not contain NUL characters or unpaired surrogates');
          continue;
        }
        if (raw === undefined) continue;
        if (raw === null || (text && raw === '')) {
          if (!text) out.push([key, null]);
          continue;
        }
        const declared = types.get(key);
        const v = text && typeof raw === 'string' ? fromCell(raw, declared) : raw;
        const type = declared ?? attributeTypeOf(v);
        if (type === null) {
          report(errors, `attributes.${key}`, 'must be a string, number, boolean or date YYYY-MM-DD');
          continue;
        }
        if (!conformsTo(v, type)) {
          report(errors, `attributes.${key}`, typeReasons[type]);
          continue;
        }
        if (typeof v === 'string') {
          if (v.length > contactLimits.attributeText) {
            report(errors, `attributes.${key}`, `must be at most ${contactLimits.attributeText} characters`);
            continue;
          }
          if (unstorable.test(v)) {
            report(errors, `attributes.${key}`, 'must not contain NUL characters or unpaired surrogates');
            continue;
          }
        }
        out.push([key, v as string | number | boolean]);
        if (declared === undefined) fresh.push([key, type]);
      }
      // fromEntries makes own properties, so a key such as `__proto__` stays a key.
      value.attributes = Object.fromEntries(out);
      if (fresh.length > 0) inferred = fresh;
    }
  }

  return errors.length > 0 ? { ok: false, errors } : { ok: true, value, inferred };
}

/**
 * Normalises a batch, declaring each inferred type before the next contact, so one batch
 * cannot write a number and then a string to the same new attribute. `types` is not
 * changed; the types to declare come back in `inferred`. `errors[i]` are those of
 * drafts[i] (empty when it is fine).
 */
export function normaliseContacts(
  drafts: readonly ContactDraft[],
  types: ReadonlyMap<string, AttributeType>,
  options: NormaliseOptions = {},
): { values: (NormalisedContact | null)[]; errors: (readonly FieldError[])[]; inferred: Map<string, AttributeType>; failed: number } {
  const inferred = new Map<string, AttributeType>();
  const known = { get: (key: string) => types.get(key) ?? inferred.get(key) } as ReadonlyMap<string, AttributeType>;
  const values: (NormalisedContact | null)[] = [];
  const errors: (readonly FieldError[])[] = [];
  let failed = 0;
  for (const draft of drafts) {
    const r = normaliseContact(draft, known, options);
    if (r.ok) {
      values.push(r.value);
      errors.push(noErrors);
      for (const [key, type] of r.inferred) inferred.set(key, type);
    } else {
      values.push(null);
      errors.push(r.errors);
      failed++;
    }
  }
  return { values, errors, inferred, failed };
}

/** A CSV cell as a value of the declared type; when it cannot be one, the text itself (which then fails the type check). */
function fromCell(cell: string, declared: AttributeType | undefined): string | number | boolean {
  const t = cell.trim();
  switch (declared) {
    case 'number':
      return decimal.test(t) ? Number(t) : cell;
    case 'boolean': {
      const w = t.toLowerCase();
      return trueWords.has(w) ? true : falseWords.has(w) ? false : cell;
    }
    case 'date':
      return t;
    default:
      return cell;
  }
}

function normaliseTagList(raw: unknown, text: boolean, errors: FieldError[]): string[] | undefined {
  const list = text && typeof raw === 'string' ? raw.split(tagSeparators).filter((t) => t.trim() !== '') : raw;
  if (!Array.isArray(list)) {
    report(errors, 'tags', 'must be an array of strings');
    return undefined;
  }
  let ok = true;
  for (let i = 0; i < list.length; i++) {
    const tag: unknown = list[i];
    if (typeof tag !== 'string' || tag.trim() === '' || tag.trim().length > contactLimits.tag) {
      report(errors, `tags.${i}`, `must be a tag of 1 to ${contactLimits.tag} characters`);
      ok = false;
    } else if (unstorable.test(tag)) {
      report(errors, `tags.${i}`, 'must not contain NUL characters or unpaired surrogates');
      ok = false;
    }
  }
  if (!ok) return undefined;
  const tags = normaliseTags(list as string[]);
  if (tags.length > contactLimits.tags) {
    report(errors, 'tags', `must hold at most ${contactLimits.tags} tags`);
    return undefined;
  }
  return tags;
}

function normaliseDevices(raw: unknown, errors: FieldError[]): Device[] | undefined {
  const bad = (field: string, reason: string) => report(errors, field, reason);
  if (!Array.isArray(raw)) {
    bad('devices', 'must be an array of push subscriptions or tokens');
    return undefined;
  }
  if (raw.length > contactLimits.devices) {
    bad('devices', `must hold at most ${contactLimits.devices} devices`);
    return undefined;
  }
  const out: Device[] = [];
  raw.forEach((item: unknown, i) => {
    const device = normaliseDevice(item, `devices.${i}`, bad);
    if (device) out.push(device);
  });
  return out.length === raw.length ? out : undefined;
}

/** One device: a web push subscription `{ endpoint, keys: { p256dh, auth } }` or a token `{ token, platform }`. */
export function normaliseDevice(item: unknown, field: string, bad: (field: string, reason: string) => void): Device | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    bad(field, 'must be { endpoint, keys: { p256dh, auth } } or { token, platform }');
    return undefined;
  }
  const d = item as Record<string, unknown>;
  if ('endpoint' in d) {
    let ok = true;
    const endpoint = d.endpoint;
    if (typeof endpoint !== 'string' || endpoint.length > contactLimits.deviceToken || !isHttpsUrl(endpoint)) {
      bad(`${field}.endpoint`, 'must be the https URL of a push service (or http to loopback, for the sandbox)');
      ok = false;
    }
    const keys = d.keys as Record<string, unknown> | null | undefined;
    if (typeof keys !== 'object' || keys === null) {
      bad(`${field}.keys`, 'must be { p256dh, auth }');
      return undefined;
    }
    for (const k of ['p256dh', 'auth'] as const) {
      const v = keys[k];
      if (typeof v !== 'string' || v.length === 0 || v.length > 200 || !base64url.test(v)) {
        bad(`${field}.keys.${k}`, 'must be a base64url key');
        ok = false;
      }
    }
    const extra = Object.keys(d).find((k) => k !== 'endpoint' && k !== 'keys' && k !== 'expirationTime');
    if (extra !== undefined) {
      bad(`${field}.${extra}`, 'is not a known field');
      ok = false;
    }
    return ok ? { endpoint: endpoint as string, keys: { p256dh: keys.p256dh as string, auth: keys.auth as string } } : undefined;
  }
  if ('token' in d) {
    let ok = true;
    const token = d.token;
    if (typeof token !== 'string' || token.trim() === '' || token.length > contactLimits.deviceToken || unstorable.test(token)) {
      bad(`${field}.token`, `must be a push token of 1 to ${contactLimits.deviceToken} characters`);
      ok = false;
    }
    if (!(mobilePlatforms as readonly unknown[]).includes(d.platform)) {
      bad(`${field}.platform`, `must be one of ${mobilePlatforms.join(', ')}`);
      ok = false;
    }
    const extra = Object.keys(d).find((k) => k !== 'token' && k !== 'platform');
    if (extra !== undefined) {
      bad(`${field}.${extra}`, 'is not a known field');
      ok = false;
    }
    return ok ? { token: (token as string).trim(), platform: d.platform as MobilePlatform } : undefined;
  }
  bad(field, 'must be { endpoint, keys: { p256dh, auth } } or { token, platform }');
  return undefined;
}

/** An https URL, or plain http to loopback (the sandbox push service; no browser hands out such an endpoint). */
function isHttpsUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
  } catch {
    return false;
  }
}
