/** The output a test file printed, and the search for secrets in it (see hygiene.ts). */

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
 * Pieces of `secrets` (any run of 16 characters; for PEM keys, of their base64 body) found in `text`.
 * Linear in the text: the secrets' windows go into one set, the text is scanned once.
 */
export function findLeaks(text: string, secrets: Iterable<string>): string[] {
  const windows = new Set<string>();
  for (const secret of secrets) {
    const material = secret.includes('-----BEGIN') ? secret.replace(/-----[A-Z ]+-----|\s/g, '') : secret;
    for (let i = 0; i + WINDOW <= material.length; i += 1) windows.add(material.slice(i, i + WINDOW));
  }
  const found = new Set<string>();
  for (let i = 0; i + WINDOW <= text.length; i += 1) {
    const piece = text.slice(i, i + WINDOW);
    if (windows.has(piece)) found.add(piece);
  }
  return [...found];
}
