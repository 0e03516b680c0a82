/**
 * The settings form as values: what the fields show for saved settings, and what a save must send.
 *
 * Pure functions, so the rules live in one place and are tested without rendering: a PUT carries only
 * the fields the merchant changed; the access token is sent only when one was typed, and the form
 * never holds the saved one (the backend never returns it).
 */
import type {Mapping, Settings, SettingsChanges} from './api';

export type SettingsForm = {
  phoneNumberId: string;
  businessAccountId: string;
  /** A new token typed by the merchant; empty means "keep the saved one". */
  accessToken: string;
  /** The mappings as editable JSON. */
  mappingsJson: string;
};

/** The result of reading the form: the changes to send, or the field and sentence that stop the save. */
export type FormReading = {changes: SettingsChanges} | {field: keyof SettingsChanges; problem: string};

/** The form for freshly loaded (or saved) settings: the token field always starts empty. */
export function formFor(settings: Settings): SettingsForm {
  return {
    phoneNumberId: settings.phone_number_id ?? '',
    businessAccountId: settings.business_account_id ?? '',
    accessToken: '',
    mappingsJson: mappingsJson(settings.mappings),
  };
}

/** Mappings as the editor shows them: indented JSON, one key per line. */
export function mappingsJson(mappings: Mapping[]): string {
  return JSON.stringify(mappings, null, 2);
}

/** The editor's text as a list of mapping objects, or the sentence saying why it is not one. */
export function parseMappings(text: string): Mapping[] | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (exc) {
    return `The mappings are not valid JSON: ${exc instanceof Error ? exc.message : String(exc)}`;
  }
  if (!Array.isArray(value)) return 'The mappings must be a JSON list of mapping objects: [ {...}, ... ].';
  const stray = value.findIndex((item) => item === null || typeof item !== 'object' || Array.isArray(item));
  if (stray >= 0) return `mappings[${stray}] is not an object.`;
  return value as Mapping[];
}

/** A text field's new value against the saved one: undefined when unchanged, null when cleared. */
function changedText(typed: string, saved: string | null): string | null | undefined {
  const value = typed.trim();
  if (value === (saved ?? '')) return undefined;
  return value === '' ? null : value;
}

/** What a save sends: only what differs from `saved`. */
export function readForm(saved: Settings, form: SettingsForm): FormReading {
  const changes: SettingsChanges = {};
  const phone = changedText(form.phoneNumberId, saved.phone_number_id);
  if (phone !== undefined) changes.phone_number_id = phone;
  const business = changedText(form.businessAccountId, saved.business_account_id);
  if (business !== undefined) changes.business_account_id = business;
  if (form.accessToken.trim() !== '') changes.access_token = form.accessToken.trim();
  const mappings = parseMappings(form.mappingsJson);
  if (typeof mappings === 'string') return {field: 'mappings', problem: mappings};
  // Compared as JSON text: re-indenting or reformatting the editor is not a change.
  if (JSON.stringify(mappings) !== JSON.stringify(saved.mappings)) changes.mappings = mappings;
  return {changes};
}

/** A mapping's language(s) as one line. */
export function languages(mapping: Mapping): string {
  return Array.isArray(mapping.language) ? mapping.language.join(', ') : String(mapping.language ?? '');
}

/** A unix time (seconds) as "2026-12-02 14:52 UTC": the Dashboard user may be anywhere. */
export function formatTime(unix: number | null | undefined): string {
  if (unix === null || unix === undefined || !Number.isFinite(unix)) return '—';
  return `${new Date(unix * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
