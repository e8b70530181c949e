/**
 * Finding pieces of secrets in text we did not write, plain or disguised (issue 15, point 3): split by spaces,
 * zero-width characters or punctuation, lower- or upper-cased, base64-, hex- or percent-encoded.
 *
 * Text is compared in a normal form, its skeleton: ASCII letters and digits only, lower-cased (compatibility forms
 * such as fullwidth letters count as their ASCII letter), everything else dropped. A piece of a secret is found where
 * a window of the secret's skeleton appears in the skeleton of the text, or in the skeleton of bytes decoded from a
 * run of the text that looks percent-, base64- or hex-encoded. Each skeleton character keeps the span of original
 * text it came from, so a match names the original span to remove, separators and encoding included.
 *
 * Cost is linear in the text: one rolling hash per view, behind a bit filter, so a position costs a string only when
 * its hash may be a window's. Base64 runs are decoded four times (every alignment of 4-character groups), hex runs
 * twice, the text once more when it holds a `%XX` escape.
 */

/** Called with the original span `[start, end)` (UTF-16 offsets) where a window was found, and the window. */
export type FoundPiece = (start: number, end: number, piece: string) => void;

/** Multiplier of the polynomial rolling hash: odd, so multiplication modulo 2^32 loses nothing. */
const HASH_BASE = 0x01000193;
/** Filter bits per window: about 1 position in 128 of text that holds no secret costs a string and a set lookup. */
const FILTER_BITS_PER_WINDOW = 128;

/** An ASCII code unit's skeleton character: lower-cased letter or digit; 0 for what the skeleton drops. */
const FOLD = new Uint8Array(128);
for (let c = 0; c < 128; c += 1) {
  if ((c >= 48 && c <= 57) || (c >= 97 && c <= 122)) FOLD[c] = c;
  else if (c >= 65 && c <= 90) FOLD[c] = c + 32;
}

/** Value of a base64 character, standard (`+/`) and URL-safe (`-_`) alike; 255 for others. */
const BASE64 = new Uint8Array(128).fill(255);
[...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'].forEach((c, i) => {
  BASE64[c.charCodeAt(0)] = i;
});
BASE64['+'.charCodeAt(0)] = BASE64['-'.charCodeAt(0)] = 62;
BASE64['/'.charCodeAt(0)] = BASE64['_'.charCodeAt(0)] = 63;

/** Value of a hex digit; 255 for others. */
const HEX = new Uint8Array(128).fill(255);
[...'0123456789abcdef'].forEach((c, i) => {
  HEX[c.charCodeAt(0)] = i;
  HEX[c.toUpperCase().charCodeAt(0)] = i;
});

/** Skeleton characters of non-ASCII code points, computed once each (NFKC is slow, and text repeats them). */
const WIDE_FOLD = new Map<number, number>();
const WIDE_FOLD_LIMIT = 4096;

/** The skeleton character of a non-ASCII code point: its NFKC form when that is one ASCII letter or digit, else 0. */
function foldWide(codePoint: number): number {
  let folded = WIDE_FOLD.get(codePoint);
  if (folded === undefined) {
    const compat = String.fromCodePoint(codePoint).normalize('NFKC');
    const c = compat.charCodeAt(0);
    folded = compat.length === 1 && c < 128 ? (FOLD[c] ?? 0) : 0;
    // Attacker-chosen text must not grow memory without bound: past the limit, start afresh.
    if (WIDE_FOLD.size >= WIDE_FOLD_LIMIT) WIDE_FOLD.clear();
    WIDE_FOLD.set(codePoint, folded);
  }
  return folded;
}

/** The skeleton character of a code point: a lower-case ASCII letter or digit, or 0 when the skeleton drops it. */
function fold(codePoint: number): number {
  return codePoint < 128 ? (FOLD[codePoint] ?? 0) : foldWide(codePoint);
}

/**
 * The skeleton of `text`: its letters and digits (and their compatibility forms, and what `\uXXXX` escapes stand for),
 * ASCII, lower-cased; nothing else. The same normal form every view of untrusted text is compared in.
 *
 * @example skeletonOf('eyJh.b-G\u200bc') === 'eyjhbgc'
 */
export function skeletonOf(text: string): string {
  let out = '';
  const sink = { push: (code: number) => (out += String.fromCharCode(code)) };
  for (let i = 0; i < text.length; ) i = pushSkeleton(text, i, sink);
  return out;
}

/** The polynomial hash of a string, the same as {@link Scanner} computes rolling over a window. */
function hashOf(piece: string): number {
  let hash = 0;
  for (let i = 0; i < piece.length; i += 1) hash = (Math.imul(hash, HASH_BASE) + piece.charCodeAt(i)) | 0;
  return hash;
}

/** Windows of one form (raw or skeleton), with a bit filter over their hashes in front of the set. */
class HashedWindows {
  readonly #pieces = new Set<string>();
  readonly #filter: Uint32Array;
  readonly #shift: number;

  constructor(texts: Iterable<string>, width: number) {
    for (const text of texts) {
      for (let i = 0; i + width <= text.length; i += 1) this.#pieces.add(text.slice(i, i + width));
    }
    const bits = Math.max(1024, 2 ** Math.ceil(Math.log2(this.#pieces.size * FILTER_BITS_PER_WINDOW + 1)));
    this.#filter = new Uint32Array(bits / 32);
    this.#shift = 32 - Math.log2(bits);
    for (const piece of this.#pieces) {
      const bit = this.#bit(hashOf(piece));
      this.#filter[bit >>> 5] = (this.#filter[bit >>> 5] ?? 0) | (1 << (bit & 31));
    }
  }

  /** Spreads the hash (a multiplicative hash of it) and keeps the filter's bits' worth. */
  #bit(hash: number): number {
    return Math.imul(hash, 0x9e3779b1) >>> this.#shift;
  }

  /** False when no window has this hash; true when one may. */
  mayHave(hash: number): boolean {
    const bit = this.#bit(hash);
    return ((this.#filter[bit >>> 5] ?? 0) & (1 << (bit & 31))) !== 0;
  }

  has(piece: string): boolean {
    return this.#pieces.has(piece);
  }
}

/**
 * The windows of some secrets, precomputed once (a bearer token is searched for in many messages): every run of
 * `width` consecutive characters of each secret, as written and in skeleton form.
 */
export class SecretIndex {
  /** @internal windows as written, searched for in the text as it is */
  readonly raw: HashedWindows;
  /** @internal windows of the secrets' skeletons, searched for in every skeleton view of the text */
  readonly skeleton: HashedWindows;

  /**
   * @param secrets the secrets, whole; one shorter than `width` (in either form) contributes nothing
   * @param width characters in a window: the shortest piece of a secret that counts as found
   * @throws {RangeError} when `width` is not an integer of at least 8 (shorter windows would match ordinary words)
   */
  constructor(
    secrets: Iterable<string>,
    readonly width: number,
  ) {
    if (!Number.isInteger(width) || width < 8)
      throw new RangeError(`window width must be an integer ≥ 8, got ${width}`);
    const all = [...secrets];
    this.raw = new HashedWindows(all, width);
    this.skeleton = new HashedWindows(all.map(skeletonOf), width);
  }
}

/** The last `width` characters of one view of the text, with their rolling hash and original spans. */
class Scanner {
  readonly #codes: Uint16Array;
  readonly #starts: Int32Array;
  readonly #topPower: number;
  #length = 0;
  #head = 0;
  #hash = 0;

  constructor(
    private readonly width: number,
    private readonly sets: readonly HashedWindows[],
    private readonly found: FoundPiece,
  ) {
    this.#codes = new Uint16Array(width);
    this.#starts = new Int32Array(width);
    let power = 1;
    for (let i = 0; i < width; i += 1) power = Math.imul(power, HASH_BASE);
    this.#topPower = power;
  }

  /** Adds a character of the view, which came from the original text's `[start, end)`. */
  push(code: number, start: number, end: number): void {
    const width = this.width;
    const slot = this.#head;
    const full = this.#length === width;
    const leaving = full ? (this.#codes[slot] ?? 0) : 0;
    this.#codes[slot] = code;
    this.#starts[slot] = start;
    this.#head = slot + 1 === width ? 0 : slot + 1;
    const hash = (Math.imul(this.#hash, HASH_BASE) - Math.imul(leaving, this.#topPower) + code) | 0;
    this.#hash = hash;
    if (!full) {
      this.#length += 1;
      if (this.#length < width) return;
    }
    for (const set of this.sets) if (set.mayHave(hash)) this.#check(set, end);
  }

  /** The hash may be a window's: compares the characters themselves. */
  #check(set: HashedWindows, end: number): void {
    let piece = '';
    for (let k = 0; k < this.width; k += 1)
      piece += String.fromCharCode(this.#codes[(this.#head + k) % this.width] ?? 0);
    if (set.has(piece)) this.found(this.#starts[this.#head] ?? 0, end, piece);
  }

  /** Starts a new view: nothing before this point joins a window with what follows. */
  reset(): void {
    this.#length = 0;
    this.#hash = 0;
  }
}

/** Characters that, after a backslash, make an escaped separator: `\n`, `\t`, `\"`, ... */
const ESCAPED_SEPARATORS = new Set([...'nrtbfv0/\\"\'`'].map((c) => c.charCodeAt(0)));

/**
 * Pushes the skeleton character of the code point at `i` (if it has one) and returns where the next one starts.
 * Every view feeds the text's own characters this way, so a skeleton means the same thing in each. Escapes as JSON
 * and JavaScript write them count as what they stand for (a `\n` as a separator, `\u0041` as `a`): a secret
 * split by line breaks is still split by separators once logged as JSON.
 */
function pushSkeleton(text: string, i: number, scanner: Pick<Scanner, 'push'>): number {
  const c = text.charCodeAt(i);
  if (c === 92) return pushEscape(text, i, scanner);
  const codePoint = c < 0xd800 ? c : (text.codePointAt(i) ?? c);
  const next = i + (codePoint > 0xffff ? 2 : 1);
  const folded = fold(codePoint);
  if (folded) scanner.push(folded, i, next);
  return next;
}

/** The backslash at `i` and what it escapes: `\n`-style dropped, `\uXXXX` and `\xXX` read as their character. */
function pushEscape(text: string, i: number, scanner: Pick<Scanner, 'push'>): number {
  const next = text.charCodeAt(i + 1);
  if (ESCAPED_SEPARATORS.has(next)) return i + 2;
  const digits = next === 117 ? 4 : next === 120 ? 2 : 0; // u, x
  let value = 0;
  for (let k = 0; k < digits; k += 1) {
    const digit = hexValue(text.charCodeAt(i + 2 + k));
    if (digit === 255) return i + 1; // not an escape: the backslash alone, dropped
    value = value * 16 + digit;
  }
  if (digits === 0) return i + 1;
  const folded = fold(value);
  if (folded) scanner.push(folded, i, i + 2 + digits);
  return i + 2 + digits;
}

/** A decoded byte's skeleton character (bytes are read as Latin-1: the secrets searched for are ASCII). */
function pushByte(byte: number, start: number, end: number, scanner: Scanner): void {
  const folded = byte < 128 ? fold(byte) : 0;
  if (folded) scanner.push(folded, start, end);
}

/** The text as written (raw windows) and as its skeleton (skeleton windows), in one pass. */
function scanPlain(text: string, raw: Scanner, skeleton: Scanner): void {
  let skeletonNext = 0;
  for (let i = 0; i < text.length; i += 1) {
    raw.push(text.charCodeAt(i), i, i + 1);
    if (i === skeletonNext) skeletonNext = pushSkeleton(text, i, skeleton);
  }
}

/** The text with every `%XX` read as the byte it stands for (a `+` or `%20` is a space, which the skeleton drops). */
function scanPercentDecoded(text: string, scanner: Scanner): void {
  scanner.reset();
  for (let i = 0; i < text.length; ) {
    const high = text.charCodeAt(i) === 37 ? hexValue(text.charCodeAt(i + 1)) : 255;
    const low = high === 255 ? 255 : hexValue(text.charCodeAt(i + 2));
    if (low === 255) {
      i = pushSkeleton(text, i, scanner);
    } else {
      pushByte(high * 16 + low, i, i + 3, scanner);
      i += 3;
    }
  }
}

/** Value of a hex digit's code unit, 255 for anything else (HEX covers ASCII only). */
function hexValue(c: number): number {
  return c < 128 ? (HEX[c] ?? 255) : 255;
}

/**
 * A run `[start, end)` of base64 characters, decoded from `start + offset`: byte j comes from the characters that
 * hold its bits, `start + offset + ⌊4j/3⌋` to the one that completes it.
 */
function scanBase64Run(text: string, start: number, end: number, offset: number, scanner: Scanner): void {
  scanner.reset();
  let bits = 0;
  let buffer = 0;
  let byteIndex = 0;
  for (let i = start + offset; i < end; i += 1) {
    buffer = ((buffer << 6) | (BASE64[text.charCodeAt(i)] ?? 0)) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      pushByte((buffer >>> bits) & 0xff, start + offset + Math.floor((4 * byteIndex) / 3), i + 1, scanner);
      byteIndex += 1;
    }
  }
}

/** A run `[start, end)` of hex digits, decoded in pairs from `start + offset`. */
function scanHexRun(text: string, start: number, end: number, offset: number, scanner: Scanner): void {
  scanner.reset();
  for (let i = start + offset; i + 1 < end; i += 2) {
    pushByte(hexValue(text.charCodeAt(i)) * 16 + hexValue(text.charCodeAt(i + 1)), i, i + 2, scanner);
  }
}

/**
 * Calls `each(runStart, runEnd)` for every maximal run of `[start, end)` made of characters that `table` gives a
 * value (not 255) and at least `minLength` long.
 */
function forEachRun(
  text: string,
  [start, end]: [number, number],
  table: Uint8Array,
  minLength: number,
  each: (runStart: number, runEnd: number) => void,
): void {
  const inRun = (i: number) => {
    const c = text.charCodeAt(i);
    return c < 128 && table[c] !== 255;
  };
  let i = start;
  while (i < end) {
    if (!inRun(i)) {
      i += 1;
      continue;
    }
    const runStart = i;
    while (i < end && inRun(i)) i += 1;
    if (i - runStart >= minLength) each(runStart, i);
  }
}

/**
 * Every run of the text long enough to encode a window in base64 or hex, decoded at each alignment (hex digits are
 * base64 characters too: hex runs are looked for inside base64 runs).
 */
function scanEncodedRuns(text: string, width: number, scanner: Scanner): void {
  forEachRun(text, [0, text.length], BASE64, Math.ceil((4 * width) / 3), (start, end) => {
    for (let offset = 0; offset < 4; offset += 1) scanBase64Run(text, start, end, offset, scanner);
    forEachRun(text, [start, end], HEX, 2 * width, (hexStart, hexEnd) => {
      scanHexRun(text, hexStart, hexEnd, 0, scanner);
      scanHexRun(text, hexStart, hexEnd, 1, scanner);
    });
  });
}

const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;

/**
 * Finds every window of the `indexes`' secrets in `text`: as written, in its skeleton (separators, zero-width
 * characters and case ignored), percent-decoded, and inside runs that decode as base64 (standard or URL-safe, any
 * alignment, with or without padding) or hex. Calls `found` once per window found in a view, views in turn (a span
 * can be reported more than once, and spans of different windows overlap).
 *
 * @param text untrusted text; cost is linear in its length (a few passes over it)
 * @param indexes all of the same window width
 * @param found receives each span of `text` to treat as secret, and the window found there (in skeleton form,
 *   lower-cased, when found in a skeleton view)
 * @throws {RangeError} when the indexes differ in window width
 */
export function findSecretPieces(text: string, indexes: readonly SecretIndex[], found: FoundPiece): void {
  const width = indexes[0]?.width;
  if (width === undefined) return;
  if (indexes.some((index) => index.width !== width)) throw new RangeError('indexes must share one window width');
  const raw = new Scanner(
    width,
    indexes.map((index) => index.raw),
    found,
  );
  const skeleton = new Scanner(
    width,
    indexes.map((index) => index.skeleton),
    found,
  );
  scanPlain(text, raw, skeleton);
  if (PERCENT_ESCAPE.test(text)) scanPercentDecoded(text, skeleton);
  scanEncodedRuns(text, width, skeleton);
}
