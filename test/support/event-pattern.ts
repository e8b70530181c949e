/**
 * EventBridge event-pattern matching for the tests, and the resolution of a template's intrinsic functions into the
 * values a deployed stack would have. No maintained npm package matches patterns offline (AWS' own matcher, Event
 * Ruler, is Java; TestEventPattern is a remote call), so this implements the operators the stack uses, as the
 * EventBridge user guide defines them:
 * - a field's pattern is a list of alternatives: exact values, `{prefix}`, `{suffix}`, `{anything-but}`, `{exists}`;
 * - every field of the pattern must match (AND), `$or` at any level takes one of its patterns;
 * - a missing field matches nothing but `{exists: false}`, also when a parent object is missing;
 * - an array in the event matches when one of its elements does (objects included);
 * - matchers sit in a leaf's list: `exists` on an object node is refused, as EventBridge refuses it.
 * Anything else throws, so a pattern this cannot judge fails its test instead of passing it.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function leafMatches(alternative: Json, value: Json | undefined): boolean {
  if (alternative === null || typeof alternative !== 'object' || Array.isArray(alternative)) {
    return value !== undefined && value === alternative;
  }
  const [operator, ...more] = Object.keys(alternative);
  if (operator === undefined || more.length > 0) throw new Error(`unknown matcher ${JSON.stringify(alternative)}`);
  const operand = alternative[operator];
  switch (operator) {
    case 'exists':
      return (value !== undefined) === operand;
    case 'prefix':
      return typeof value === 'string' && typeof operand === 'string' && value.startsWith(operand);
    case 'suffix':
      return typeof value === 'string' && typeof operand === 'string' && value.endsWith(operand);
    case 'anything-but': {
      if (value === undefined) return false;
      if (operand !== null && typeof operand === 'object' && !Array.isArray(operand)) {
        return !leafMatches(operand, value);
      }
      return !(Array.isArray(operand) ? operand : [operand]).some((excluded) => excluded === value);
    }
    default:
      throw new Error(`matcher ${operator} is not modelled`);
  }
}

function fieldMatches(alternatives: Json[], value: Json | undefined): boolean {
  const values = Array.isArray(value) ? value : [value];
  return alternatives.some((alternative) => values.some((v) => leafMatches(alternative, v)));
}

/**
 * Whether `event` matches `pattern`.
 *
 * @throws {Error} for an operator or a pattern shape this matcher does not model
 */
export function matchesPattern(pattern: Json, event: Json | undefined): boolean {
  if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) {
    throw new Error(`a pattern level must be an object: ${JSON.stringify(pattern)}`);
  }
  const object = event !== null && typeof event === 'object' && !Array.isArray(event) ? event : undefined;
  return Object.entries(pattern).every(([key, sub]) => {
    if (key === '$or') {
      if (!Array.isArray(sub)) throw new Error('$or takes a list of patterns');
      return sub.some((alternative) => matchesPattern(alternative, event));
    }
    const value = object?.[key];
    if (Array.isArray(sub)) return fieldMatches(sub, value);
    if (sub !== null && typeof sub === 'object' && ('exists' in sub || 'prefix' in sub || 'anything-but' in sub)) {
      throw new Error(`matchers work on leaves only, in a list: ${key}: ${JSON.stringify(sub)}`);
    }
    // An array of objects matches when one of its objects does (CloudTrail's resources: [{ ARN, type }]).
    if (Array.isArray(value)) return value.some((element) => matchesPattern(sub, element));
    return matchesPattern(sub, value);
  });
}

/** Physical values of a deployed stack: per logical ID, its `Ref` and its attributes. */
export type PhysicalIds = Record<string, { ref: string; attributes?: Record<string, string> }>;

/** Pseudo parameters of the deployment. */
export interface Pseudo {
  partition: string;
  region: string;
  account: string;
}

/**
 * Replaces `Ref`, `Fn::GetAtt`, `Fn::Join` and `Fn::Sub` (pseudo parameters only) with deployed values.
 *
 * @throws {Error} for an intrinsic or a logical ID it was not given
 */
export function resolveIntrinsics(value: unknown, ids: PhysicalIds, pseudo: Pseudo): Json {
  const resolve = (v: unknown): Json => resolveIntrinsics(v, ids, pseudo);
  if (Array.isArray(value)) return value.map(resolve);
  if (value === null || typeof value !== 'object') return value as Json;
  const entries = Object.entries(value);
  const [first] = entries;
  const pseudoValues: Record<string, string> = {
    'AWS::Partition': pseudo.partition,
    'AWS::Region': pseudo.region,
    'AWS::AccountId': pseudo.account,
  };
  if (entries.length === 1 && first && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
    const [fn, args] = first;
    const known = (id: string) => {
      const found = ids[id];
      if (!found) throw new Error(`no physical ID given for ${id}`);
      return found;
    };
    switch (fn) {
      case 'Ref': {
        const name = String(args);
        return pseudoValues[name] ?? known(name).ref;
      }
      case 'Fn::GetAtt': {
        const [id, attribute] = args as [string, string];
        const found = known(id).attributes?.[attribute];
        if (found === undefined) throw new Error(`no ${attribute} given for ${id}`);
        return found;
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, unknown[]];
        return parts.map((p) => String(resolve(p))).join(separator);
      }
      case 'Fn::Sub':
        return String(args).replace(/\$\{([\w:]+)\}/g, (_, name: string) => {
          const found = pseudoValues[name];
          if (found === undefined) throw new Error(`Fn::Sub of ${name} is not modelled`);
          return found;
        });
      default:
        throw new Error(`intrinsic ${fn} is not modelled`);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]));
}
