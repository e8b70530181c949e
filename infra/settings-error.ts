/** The error every settings check of the app throws (environments.ts, environment-fit.ts). */

/** A setting is missing or malformed; `setting` names it as `<env>.<path>`. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(
    readonly setting: string,
    rule: string,
  ) {
    super(`${setting}: ${rule}`);
  }
}
