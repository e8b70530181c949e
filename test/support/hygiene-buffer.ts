/** The output a test file printed, and the search for secrets in it (see hygiene.ts). */
import { findSecretPieces, SecretIndex } from '../../functions/lib/dfns/secret-search.js';

let buffer = '';

/** Keeps printed text for the hygiene check. */
export function recordOutput(text: string): void {
  buffer += text;
}

/** Everything printed so far in this test file. */
export function recordedOutput(): string {
  return buffer;
}

/** Shortest piece of a secret that counts as a leak. */
const WINDOW = 16;

/**
 * Pieces of `secrets` (any run of 16 characters; for PEM keys, of their base64 body) found in `text`, as written or
 * disguised the ways the production redaction knows (split by separators, case-changed, percent-, base64- or
 * hex-encoded): the same search, functions/lib/dfns/secret-search.ts. Linear in the text: the secrets' windows go
 * into one index, the text is scanned a few times.
 *
 * @returns the windows found, without repeats (lower-cased skeletons when found disguised)
 */
export function findLeaks(text: string, secrets: Iterable<string>): string[] {
  const material = [...secrets].map((secret) =>
    secret.includes('-----BEGIN') ? secret.replace(/-----[A-Z ]+-----|\s/g, '') : secret,
  );
  const found = new Set<string>();
  findSecretPieces(text, [new SecretIndex(material, WINDOW)], (_start, _end, piece) => found.add(piece));
  return [...found];
}
