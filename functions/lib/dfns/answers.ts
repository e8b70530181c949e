/**
 * What Dfns answered, read defensively: the message and error ID of an error body, the approval ID of a 202, and a
 * description of any body that is not Dfns' word (HTML from a proxy is described by type and size, never echoed).
 */
import * as z from 'zod';

const dfnsErrorBodySchema = z.object({
  error: z.union([z.object({ message: z.string(), id: z.unknown().optional() }), z.string()]).optional(),
  message: z.string().optional(),
});

/** A Dfns ID (an error's `id`, an approval's): anything else in those fields is not echoed. */
const DFNS_ERROR_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `error.id` of a Dfns error body, when it has the shape of one. */
export function dfnsErrorIdOf(text: string): string | undefined {
  try {
    const parsed = dfnsErrorBodySchema.safeParse(JSON.parse(text));
    const id = parsed.success && typeof parsed.data.error === 'object' ? parsed.data.error.id : undefined;
    return typeof id === 'string' && DFNS_ERROR_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The most of what Dfns (or the network) said that an error keeps, in characters. */
export const MAX_MESSAGE_CHARS = 300;

/**
 * A media type as servers send it (`text/html`, `application/problem+json`); parameters (`; charset=...`) are
 * dropped. A header value is the far end's text: anything else in it (a bearer token, a line break) is never echoed.
 */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$/;

/** A body described by its media type and size, never echoed. */
export function describeBody(text: string, contentType: string): string {
  const type = contentType.split(';')[0]?.trim() ?? '';
  const shown = type === '' ? 'no content-type' : MEDIA_TYPE.test(type) ? type : 'an unusual content-type';
  return `${shown}, ${Buffer.byteLength(text)} bytes`;
}

/**
 * What Dfns said in an error body, redacted before it is cut (a cut could otherwise split a secret and leave a
 * piece the redaction no longer recognises).
 */
export function describeErrorBody(text: string, contentType: string, redactText: (message: string) => string): string {
  if (text.trim() !== '') {
    try {
      const parsed = dfnsErrorBodySchema.safeParse(JSON.parse(text));
      if (parsed.success) {
        const { error, message } = parsed.data;
        const said = typeof error === 'string' ? error : (error?.message ?? message);
        if (said)
          return redactText(said.slice(0, 16 * MAX_MESSAGE_CHARS))
            .replace(/\s+/g, ' ')
            .slice(0, MAX_MESSAGE_CHARS);
      }
    } catch {
      // not JSON: described below, never echoed (HTML from a proxy can be large and is not Dfns' word)
    }
  }
  return `no Dfns error message (${describeBody(text, contentType)})`;
}

/** The approval ID of a 202 answer, when it has the shape of a Dfns ID (anything else is not echoed). */
export function approvalIdOf(text: string): string | undefined {
  try {
    const id = (JSON.parse(text) as { id?: unknown })?.id;
    return typeof id === 'string' && DFNS_ERROR_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
