/**
 * Which statements of a synthesized resource policy apply to a caller: enough of IAM's evaluation to tell who a queue
 * or secret policy denies, for the statement shapes this stack writes. Principals and resources are compared as they
 * appear in the template (a `Fn::GetAtt` of the function's role is that role), so a test names the principals the
 * stack really uses. An operator or condition key this does not know throws: a test must never pass by not looking.
 */
import { isDeepStrictEqual } from 'node:util';

/** A statement as CloudFormation holds it. */
export interface PolicyStatementJson {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Principal?: '*' | { AWS?: unknown; Service?: string | string[] };
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Who calls, as the request context says. */
export interface Caller {
  /** `aws:PrincipalArn`: a role ARN, or the template value naming one; absent for a service acting on its own. */
  principalArn?: unknown;
  /** The service principal, for a service calling on behalf of a resource (`aws:SourceArn` then set). */
  service?: string;
  /** `aws:SourceArn`. */
  sourceArn?: unknown;
  /** `kms:ViaService`: the service calling KMS for the caller (`sqs.<region>.amazonaws.com`); absent when direct. */
  viaService?: string;
  /** The encryption context of a KMS request (`kms:EncryptionContext:<key>`). */
  encryptionContext?: Record<string, unknown>;
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

function actionMatches(patterns: string | string[], action: string): boolean {
  return asList(patterns).some((p) => {
    const pattern = String(p).toLowerCase();
    const wanted = action.toLowerCase();
    return pattern.endsWith('*') ? wanted.startsWith(pattern.slice(0, -1)) : pattern === wanted;
  });
}

function principalMatches(principal: PolicyStatementJson['Principal'], caller: Caller): boolean {
  // An identity policy's statements have no Principal: they apply to whoever holds the policy.
  if (principal === undefined || principal === '*') return true;
  if (principal?.AWS !== undefined) {
    return asList(principal.AWS).some(
      (p) => p === '*' || (caller.principalArn !== undefined && isDeepStrictEqual(p, caller.principalArn)),
    );
  }
  if (principal?.Service !== undefined) return asList(principal.Service).includes(caller.service);
  throw new Error(`unknown principal ${JSON.stringify(principal)}`);
}

function contextValue(key: string, caller: Caller): unknown {
  switch (key) {
    case 'aws:PrincipalArn':
      return caller.principalArn;
    case 'aws:SourceArn':
      return caller.sourceArn;
    case 'aws:SecureTransport':
      return 'true'; // every caller here uses TLS; the TLS deny is tested on its own
    case 'kms:ViaService':
      return caller.viaService;
    default:
      if (key.startsWith('kms:EncryptionContext:')) {
        return caller.encryptionContext?.[key.slice('kms:EncryptionContext:'.length)];
      }
      throw new Error(`condition key ${key} is not modelled`);
  }
}

const equal = (a: unknown, b: unknown) => isDeepStrictEqual(a, b);

function conditionHolds(operator: string, key: string, expected: unknown, caller: Caller): boolean {
  const actual = contextValue(key, caller);
  const values = asList(expected);
  // ARN and String...Like operators treat * and ? as wildcards; this compares exactly, so refuse them.
  if (values.some((v) => typeof v === 'string' && /[*?]/.test(v))) {
    throw new Error(`a wildcard in ${operator} ${key} is not modelled`);
  }
  switch (operator) {
    case 'Null':
      return (actual === undefined) === (String(expected) === 'true');
    case 'Bool':
      return actual !== undefined && values.some((v) => String(v) === actual);
    case 'ArnEquals':
    case 'StringEquals':
      return actual !== undefined && values.some((v) => equal(v, actual));
    case 'ArnNotEquals':
    case 'StringNotEquals':
      // IAM: a negated operator holds when the key is absent.
      return actual === undefined || !values.some((v) => equal(v, actual));
    default:
      throw new Error(`condition operator ${operator} is not modelled`);
  }
}

/** Whether `statement` applies to `caller` doing `action` on `resource` (the template value naming it). */
export function applies(statement: PolicyStatementJson, caller: Caller, action: string, resource: unknown): boolean {
  for (const element of ['NotAction', 'NotResource', 'NotPrincipal']) {
    if (element in statement) throw new Error(`${element} is not modelled (statement ${statement.Sid ?? '?'})`);
  }
  if (!actionMatches(statement.Action, action)) return false;
  if (!principalMatches(statement.Principal, caller)) return false;
  if (statement.Resource !== undefined && !asList(statement.Resource).some((r) => r === '*' || equal(r, resource))) {
    return false;
  }
  return Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => conditionHolds(operator, key, expected, caller)),
  );
}

/** The `Sid`s (or positions, `#<n>`) of the statements with `effect` that apply to `caller` doing `action`. */
function matching(
  effect: PolicyStatementJson['Effect'],
  statements: PolicyStatementJson[],
  caller: Caller,
  action: string,
  resource: unknown,
): string[] {
  return statements.flatMap((s, i) =>
    s.Effect === effect && applies(s, caller, action, resource) ? [s.Sid ?? `#${i}`] : [],
  );
}

/** The `Sid`s of the Deny statements that stop `caller` doing `action` on `resource`. */
export const deniedBy = (statements: PolicyStatementJson[], caller: Caller, action: string, resource: unknown) =>
  matching('Deny', statements, caller, action, resource);

/** The `Sid`s of the Allow statements that let `caller` do `action` on `resource`. */
export const allowedBy = (statements: PolicyStatementJson[], caller: Caller, action: string, resource: unknown) =>
  matching('Allow', statements, caller, action, resource);
