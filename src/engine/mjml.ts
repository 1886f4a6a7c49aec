/**
 * MJML email templates (issue 5), compiled to HTML once, when the template is saved.
 *
 * Order: MJML first, Liquid per recipient. MJML must see valid markup, so the source is
 * compiled with its Liquid left in place (`{{ … }}` in text and attributes passes through
 * untouched), and the engine renders the compiled HTML with Liquid like any HTML template.
 * Compiling per recipient would cost ~10–50 ms a message (a 6 KB template took 48 ms cold)
 * and would let one contact's data break the markup.
 *
 * Why at save time: mjml's render is asynchronous and heavy to load (hundreds of modules),
 * while the engine renders synchronously in its send loop or in send threads; compiling in
 * the API request keeps mjml out of every sending process, and a bad template is refused
 * when it is written (TEMPLATE_INVALID naming the line), not when a campaign is under way.
 *
 * Liquid tags between MJML elements (`{% if %}<mj-text>…</mj-text>{% endif %}`) are text
 * where MJML expects elements, and MJML drops them silently; every Liquid tag and output
 * of the source must therefore survive into the HTML, or the template is refused with the
 * line of the tag and the fix (wrap it in `<mj-raw>`).
 */

export interface MjmlProblem {
  readonly field: string;
  readonly message: string;
}

/** What compiling gave: the HTML, or every problem found. */
export type MjmlResult = { readonly ok: true; readonly html: string } | { readonly ok: false; readonly problems: readonly MjmlProblem[] };

interface MjmlError {
  readonly line?: number;
  readonly message: string;
  readonly tagName?: string;
}

const liquidToken = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;

/** Liquid as MJML may hand it back: entities decoded and whitespace folded, for comparing. */
function normalise(token: string): string {
  return token
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

function lineAt(source: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}

/** The Liquid of `source` that is missing from `html`, with the line of each in the source. */
export function lostLiquid(source: string, html: string): { token: string; line: number }[] {
  const left = new Map<string, number>();
  for (const m of html.matchAll(liquidToken)) {
    const key = normalise(m[0]);
    left.set(key, (left.get(key) ?? 0) + 1);
  }
  const lost: { token: string; line: number }[] = [];
  for (const m of source.matchAll(liquidToken)) {
    const key = normalise(m[0]);
    const n = left.get(key) ?? 0;
    if (n > 0) left.set(key, n - 1);
    else lost.push({ token: m[0], line: lineAt(source, m.index) });
  }
  return lost;
}

/**
 * Compiles an MJML source to HTML with mjml's strict validation; never reads a file
 * (`mj-include` is ignored) or a config.
 *
 * @example const r = await compileMjml('<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ contact.firstName }}</mj-text></mj-column></mj-section></mj-body></mjml>')
 */
export async function compileMjml(source: string): Promise<MjmlResult> {
  if (!/^\s*<mjml[\s>]/i.test(source))
    return { ok: false, problems: [{ field: 'body/mjml', message: 'an MJML template starts with <mjml>' }] };
  const { default: mjml2html } = await import('mjml');
  let html: string;
  try {
    const out = await mjml2html(source, {
      validationLevel: 'strict',
      ignoreIncludes: true,
      useMjmlConfigOptions: false,
      keepComments: false,
      minify: false,
    });
    html = out.html;
  } catch (err) {
    const { details: found, errors: listed } = err as { details?: readonly MjmlError[]; errors?: readonly MjmlError[] };
    const details = found ?? listed;
    const problems = details?.length
      ? details.map((d) => ({
          field: 'body/mjml',
          message: `${d.line !== undefined ? `line ${d.line}` : 'MJML'}${d.tagName ? ` (${d.tagName})` : ''}: ${d.message}`,
        }))
      : [{ field: 'body/mjml', message: (err as Error).message.trim().split('\n')[0] ?? 'does not compile' }];
    return { ok: false, problems };
  }
  const lost = lostLiquid(source, html);
  if (lost.length > 0)
    return {
      ok: false,
      problems: lost.map(({ token, line }) => ({
        field: 'body/mjml',
        message: `line ${line}: MJML drops the Liquid ${token.length > 60 ? `${token.slice(0, 57)}…` : token} between its elements; wrap it in <mj-raw>`,
      })),
    };
  return { ok: true, html };
}
