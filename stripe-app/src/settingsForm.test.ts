/** The form's rules as pure functions: what a save sends for each kind of edit. */
import type {Settings} from './api';
import {formFor, formatTime, languages, parseMappings, readForm} from './settingsForm';

const SAVED: Settings = {
  account_id: 'acct_1',
  status: 'pending',
  phone_number_id: '1065',
  business_account_id: null,
  access_token_set: true,
  mappings: [{name: 'receipt', events: ['invoice.paid'], template: 'invoice_paid', language: ['en_US', 'ar']}],
};

describe('formFor', () => {
  it('shows saved values, empty text for null, and never a token', () => {
    expect(formFor(SAVED)).toEqual({
      phoneNumberId: '1065',
      businessAccountId: '',
      accessToken: '',
      mappingsJson: JSON.stringify(SAVED.mappings, null, 2),
    });
  });
});

describe('readForm', () => {
  it.each([
    ['nothing edited', {}, {}],
    ['a new phone number id, trimmed', {phoneNumberId: ' 2077 '}, {phone_number_id: '2077'}],
    ['a cleared phone number id', {phoneNumberId: '  '}, {phone_number_id: null}],
    ['a business account id where there was none', {businessAccountId: '1022'}, {business_account_id: '1022'}],
    ['a typed token', {accessToken: ' EAAG '}, {access_token: 'EAAG'}],
    ['whitespace in the token field', {accessToken: '   '}, {}],
    ['the mappings reformatted', {mappingsJson: JSON.stringify(SAVED.mappings)}, {}],
    ['a mapping changed', {mappingsJson: JSON.stringify([{...SAVED.mappings[0], template: 'v2'}])}, {mappings: [{...SAVED.mappings[0], template: 'v2'}]}],
    ['all mappings removed', {mappingsJson: '[]'}, {mappings: []}],
  ])('%s', (_, edit, changes) => {
    expect(readForm(SAVED, {...formFor(SAVED), ...edit})).toEqual({changes});
  });

  it.each([
    ['not JSON', '[{', /^The mappings are not valid JSON: /],
    ['not a list', '{"name": "receipt"}', /must be a JSON list/],
    ['a list with a non-object', '[{"name": "a"}, 3]', /^mappings\[1\] is not an object\.$/],
  ])('stops the save when the mappings are %s', (_, mappingsJson, problem) => {
    const reading = readForm(SAVED, {...formFor(SAVED), mappingsJson});
    expect(reading).toEqual({field: 'mappings', problem: expect.stringMatching(problem)});
  });
});

describe('display helpers', () => {
  it('parseMappings returns the objects as written', () => {
    expect(parseMappings('[{"name": "a", "events": []}]')).toEqual([{name: 'a', events: []}]);
  });

  it('languages joins a list and keeps a single code', () => {
    expect(languages(SAVED.mappings[0])).toBe('en_US, ar');
    expect(languages({...SAVED.mappings[0], language: 'en_US'})).toBe('en_US');
  });

  it('formatTime shows UTC minutes, and a dash for nothing', () => {
    expect(formatTime(1796083200.75)).toBe('2026-12-01 00:00 UTC');
    expect(formatTime(null)).toBe('—');
    expect(formatTime(Number.NaN)).toBe('—');
  });
});
