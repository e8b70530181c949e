/**
 * The one output cap. Lambda's and CloudWatch Logs' size limits differ and have changed (a line may be split,
 * cut or dropped), and what reaches a line can come from anywhere: a proxy's HTML error page, a request body of
 * multi-byte characters, thousands of invalid values. So every line the function writes, and every line of the
 * operator CLI, stays within {@link MAX_LINE_BYTES}; a line that lists values shows {@link MAX_LISTED_VALUES} of them
 * and counts the rest.
 */
import { cutUtf8, formatError } from './format-error.js';

/** The most one output line takes, in UTF-8 bytes (a JSON log line as printed, or a CLI line). */
export const MAX_LINE_BYTES = 64 * 1024;

/** How many values a line that lists values shows in full; the rest are counted, not shown. */
export const MAX_LISTED_VALUES = 20;

/** No string is cut below this many bytes of JSON: a line that still does not fit keeps only its essentials. */
const SMALLEST_CUT_BYTES = 64;

/** Passes of cutting before giving up on a line's fields (each pass serialises the line once). */
const MAX_CUT_PASSES = 4;

/** Fields a log line keeps when cutting its values was not enough (Powertools' own keys). */
const ESSENTIAL_KEYS = ['level', 'message', 'timestamp', 'service', 'function_request_id', 'xray_trace_id'];

/**
 * The first {@link MAX_LISTED_VALUES} of `values` and how many more there are.
 *
 * @returns `{ shown, notShown }`: `shown` at most `max` long, `notShown` ≥ 0
 */
export function listed<T>(values: readonly T[], max = MAX_LISTED_VALUES): { shown: T[]; notShown: number } {
  return { shown: values.slice(0, max), notShown: Math.max(0, values.length - max) };
}

/** `text` with each of its lines cut to {@link MAX_LINE_BYTES} (see {@link cutUtf8}); line breaks are kept. */
export function capLines(text: string): string {
  return text
    .split('\n')
    .map((line) => cutUtf8(line, MAX_LINE_BYTES))
    .join('\n');
}

/** The marker that ends a list cut by {@link listed}: `…[N more not shown]`. */
export function notShownMarker(notShown: number): string {
  return `…[${notShown} more not shown]`;
}

/** UTF-8 bytes of a value's JSON text. */
function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

/**
 * A plain copy of `value` that JSON can print: errors described by {@link formatError}, bigints as decimal text,
 * a circular reference as `[circular]`, and every array longer than {@link MAX_LISTED_VALUES} cut to its first
 * items followed by {@link notShownMarker}.
 */
function plain(value: unknown, ancestors: unknown[] = []): unknown {
  if (value instanceof Error) return formatError(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (ancestors.includes(value)) return '[circular]';
  const inner = [...ancestors, value];
  if (Array.isArray(value)) {
    const { shown, notShown } = listed(value);
    const out = shown.map((item) => plain(item, inner));
    return notShown > 0 ? [...out, notShownMarker(notShown)] : out;
  }
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return plain(withJson.toJSON(), inner);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = plain(item, inner);
  return out;
}

/** Every string inside `root` with the object or array holding it. */
function stringSlots(root: unknown): Array<{ holder: Record<string, unknown>; key: string; bytes: number }> {
  const slots: Array<{ holder: Record<string, unknown>; key: string; bytes: number }> = [];
  const visit = (holder: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(holder)) {
      if (typeof value === 'string') slots.push({ holder, key, bytes: jsonBytes(value) });
      else if (typeof value === 'object' && value !== null) visit(value as Record<string, unknown>);
    }
  };
  if (typeof root === 'object' && root !== null) visit(root as Record<string, unknown>);
  return slots;
}

/** `text` cut so that its JSON form takes at most `maxJsonBytes` (escaping can make JSON six times longer). */
function cutToJson(text: string, maxJsonBytes: number): string {
  // Start from the text's own escaping ratio, then step down while escaping still makes it too long.
  const ratio = jsonBytes(text) / Math.max(1, Buffer.byteLength(text));
  let budget = Math.floor((maxJsonBytes - 2) / ratio);
  let out = cutUtf8(text, budget);
  while (jsonBytes(out) > maxJsonBytes && budget > 1) {
    budget = Math.floor(budget * 0.95);
    out = cutUtf8(text, budget);
  }
  return out;
}

/**
 * Bounds one structured log line: lists cut to {@link MAX_LISTED_VALUES} items, then the largest strings cut (each
 * ending `…[cut N bytes]`) until its JSON takes at most `maxBytes` UTF-8 bytes. When cutting strings is not enough
 * (thousands of small fields), only the level, message, timestamp, service and request ID are kept, with
 * `lineCut` saying how many bytes went.
 *
 * @param record the attributes of one line, as the logger would print them
 * @param maxBytes @default MAX_LINE_BYTES
 * @returns `record` itself when it is already within bounds (the common case costs one serialisation), else a copy
 */
export function capLine(record: Record<string, unknown>, maxBytes = MAX_LINE_BYTES): Record<string, unknown> {
  let plainEnough = true;
  try {
    const text = JSON.stringify(record, (_key, value: unknown) => {
      if ((Array.isArray(value) && value.length > MAX_LISTED_VALUES) || value instanceof Error) plainEnough = false;
      return typeof value === 'bigint' ? value.toString() : value;
    });
    if (plainEnough && Buffer.byteLength(text) <= maxBytes) return record;
  } catch {
    // a cycle: plain() below breaks it
  }

  const out = plain(record) as Record<string, unknown>;
  let size = jsonBytes(out);
  // One limit for every string: the largest whose cuts save enough, found by bisection, then applied in one pass
  // (a few passes when escaping or markers make the estimate short).
  const slots = stringSlots(out);
  for (let pass = 0; size > maxBytes && pass < MAX_CUT_PASSES; pass++) {
    const excess = size - maxBytes;
    const saved = (limit: number) => slots.reduce((sum, slot) => sum + Math.max(0, slot.bytes - limit), 0);
    let low = SMALLEST_CUT_BYTES;
    let high = Math.max(low, ...slots.map((slot) => slot.bytes));
    if (saved(low) < excess) break; // cutting strings is not enough
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (saved(mid) >= excess) low = mid;
      else high = mid;
    }
    for (const slot of slots) {
      if (slot.bytes <= low) continue;
      slot.holder[slot.key] = cutToJson(slot.holder[slot.key] as string, low);
      slot.bytes = jsonBytes(slot.holder[slot.key]);
    }
    size = jsonBytes(out);
  }
  if (size <= maxBytes) return out;
  const kept: Record<string, unknown> = {};
  for (const key of ESSENTIAL_KEYS) {
    const value = out[key];
    if (value !== undefined) kept[key] = typeof value === 'string' ? cutToJson(value, 1024) : value;
  }
  kept.lineCut = `${size} bytes of fields over the ${maxBytes}-byte line cap: fields not shown`;
  return kept;
}
