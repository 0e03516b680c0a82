/**
 * The client's requests, byte for byte: URL, method, query, headers (the signature above all) and
 * JSON body, and how each kind of failure becomes an ApiError. There is no server in an extension's
 * unit tests, so `fetch` is replaced by a recorder that answers what each test gives it.
 */
import {fetchStripeSignature} from '@stripe/ui-extension-sdk/utils';

import {
  ApiError,
  BACKEND_URL,
  errorFromBody,
  findingText,
  getDeliveries,
  getSettings,
  getTemplates,
  pullTemplates,
  previewMapping,
  sendTest,
  updateSettings,
} from './api';
import type {Identity, Mapping, Settings} from './api';

jest.mock('@stripe/ui-extension-sdk/utils', () => ({fetchStripeSignature: jest.fn()}));

const signatureMock = fetchStripeSignature as jest.MockedFunction<typeof fetchStripeSignature>;
const SIGNATURE = 't=1796083200,v1=5f1c0ffee';
const IDENTITY: Identity = {userId: 'usr_K6yd2CbXLO9A5G', accountId: 'acct_1JSkf6FRwUQjTSJE'};

const SETTINGS: Settings = {
  account_id: IDENTITY.accountId,
  status: 'active',
  phone_number_id: '106540352242922',
  business_account_id: '102290129340398',
  access_token_set: true,
  mappings: [],
};

const RECEIPT: Mapping = {
  name: 'receipt',
  events: ['payment_intent.succeeded'],
  template: 'payment_receipt',
  language: 'en_US',
  body: ['{{ object.shipping.name }}'],
};

type Recorded = {url: string; method: string; headers: Record<string, string>; body: unknown};

let calls: Recorded[];

/** Answer every fetch with `status` and `body` (a string is sent as it is, anything else as JSON). */
function answer(status: number, body: unknown): void {
  global.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: {...(init?.headers as Record<string, string>)},
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body,
    });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return new Response(text, {status, headers: {'Content-Type': 'application/json'}});
  }) as typeof fetch;
}

function only(): Recorded {
  expect(calls).toHaveLength(1);
  return calls[0];
}

beforeEach(() => {
  calls = [];
  signatureMock.mockReset();
  signatureMock.mockResolvedValue(SIGNATURE);
});

describe('GET endpoints', () => {
  it('getSettings sends the identity as query parameters and the signature as a header', async () => {
    answer(200, SETTINGS);
    await expect(getSettings(IDENTITY)).resolves.toEqual(SETTINGS);
    const call = only();
    expect(call.url).toBe(
      `${BACKEND_URL}/apps/v1/settings?user_id=usr_K6yd2CbXLO9A5G&account_id=acct_1JSkf6FRwUQjTSJE`,
    );
    expect(call.method).toBe('GET');
    expect(call.headers).toEqual({'Stripe-Signature': SIGNATURE, Accept: 'application/json'});
    expect(call.body).toBeUndefined();
    // The default signature: Stripe signs {user_id, account_id}, nothing more.
    expect(signatureMock).toHaveBeenCalledWith();
  });

  it('getTemplates asks /templates with the same identity', async () => {
    const templates = {templates: [{name: 'payment_receipt', language: 'en_US', status: 'APPROVED', category: 'UTILITY', placeholders: ['1']}], pulled_at: 1796083200.5};
    answer(200, templates);
    await expect(getTemplates(IDENTITY)).resolves.toEqual(templates);
    const url = new URL(only().url);
    expect(url.origin + url.pathname).toBe(`${BACKEND_URL}/apps/v1/templates`);
    expect([...url.searchParams]).toEqual([
      ['user_id', IDENTITY.userId],
      ['account_id', IDENTITY.accountId],
    ]);
  });

  it('pullTemplates posts the signed identity to /templates/pull', async () => {
    const templates = {templates: [], pulled_at: 1796083200.5};
    answer(200, templates);
    await expect(pullTemplates(IDENTITY)).resolves.toEqual(templates);
    const call = only();
    expect(call.url).toBe(`${BACKEND_URL}/apps/v1/templates/pull`);
    expect(call.method).toBe('POST');
    expect(call.body).toEqual({user_id: IDENTITY.userId, account_id: IDENTITY.accountId});
    expect(call.headers).toMatchObject({'Stripe-Signature': SIGNATURE});
  });

  it('getDeliveries asks for 20 by default and passes a status filter', async () => {
    answer(200, {deliveries: []});
    await getDeliveries(IDENTITY);
    await getDeliveries(IDENTITY, {status: 'failed', limit: 5});
    expect(calls.map((c) => [...new URL(c.url).searchParams])).toEqual([
      [['user_id', IDENTITY.userId], ['account_id', IDENTITY.accountId], ['limit', '20']],
      [['user_id', IDENTITY.userId], ['account_id', IDENTITY.accountId], ['limit', '5'], ['status', 'failed']],
    ]);
    expect(calls.every((c) => c.url.startsWith(`${BACKEND_URL}/apps/v1/deliveries?`))).toBe(true);
  });

  it('fetches a fresh signature for every call', async () => {
    signatureMock.mockResolvedValueOnce('t=1,v1=first').mockResolvedValueOnce('t=2,v1=second');
    answer(200, SETTINGS);
    await getSettings(IDENTITY);
    await getSettings(IDENTITY);
    expect(calls.map((c) => c.headers['Stripe-Signature'])).toEqual(['t=1,v1=first', 't=2,v1=second']);
  });

  it('encodes identities that need it', async () => {
    answer(200, SETTINGS);
    await getSettings({userId: 'usr_a&b=c', accountId: 'acct_ü'});
    const url = new URL(only().url);
    expect(url.searchParams.get('user_id')).toBe('usr_a&b=c');
    expect(url.searchParams.get('account_id')).toBe('acct_ü');
  });
});

describe('PUT and POST endpoints', () => {
  it('updateSettings sends only the given fields, with the identity, as JSON', async () => {
    answer(200, {...SETTINGS, phone_number_id: '999'});
    const saved = await updateSettings(IDENTITY, {phone_number_id: '999', access_token: 'EAAG-secret'});
    expect(saved.phone_number_id).toBe('999');
    const call = only();
    expect(call.url).toBe(`${BACKEND_URL}/apps/v1/settings`);
    expect(call.method).toBe('PUT');
    expect(call.headers).toEqual({
      'Stripe-Signature': SIGNATURE,
      Accept: 'application/json',
      'Content-Type': 'application/json',
    });
    expect(call.body).toEqual({
      user_id: IDENTITY.userId,
      account_id: IDENTITY.accountId,
      phone_number_id: '999',
      access_token: 'EAAG-secret',
    });
  });

  it('previewMapping posts the mapping object, and the event type only when given', async () => {
    answer(200, {text: 'Hi Jenny', request: {to: '+1******0123'}, event_type: 'payment_intent.succeeded'});
    await previewMapping(IDENTITY, RECEIPT);
    await previewMapping(IDENTITY, RECEIPT, 'charge.refunded');
    expect(calls.map((c) => [c.method, c.url])).toEqual([
      ['POST', `${BACKEND_URL}/apps/v1/preview`],
      ['POST', `${BACKEND_URL}/apps/v1/preview`],
    ]);
    expect(calls[0].body).toEqual({user_id: IDENTITY.userId, account_id: IDENTITY.accountId, mapping: RECEIPT});
    expect(calls[1].body).toEqual({
      user_id: IDENTITY.userId,
      account_id: IDENTITY.accountId,
      mapping: RECEIPT,
      event_type: 'charge.refunded',
    });
  });

  it('sendTest posts the mapping name and the phone number', async () => {
    answer(200, {wamid: 'wamid.HBgL', to: '+1******0123', dry_run: false});
    await expect(sendTest(IDENTITY, 'receipt', '+14155550123')).resolves.toEqual({
      wamid: 'wamid.HBgL',
      to: '+1******0123',
      dry_run: false,
    });
    const call = only();
    expect([call.method, call.url]).toEqual(['POST', `${BACKEND_URL}/apps/v1/send-test`]);
    expect(call.headers['Stripe-Signature']).toBe(SIGNATURE);
    expect(call.body).toEqual({
      user_id: IDENTITY.userId,
      account_id: IDENTITY.accountId,
      mapping: 'receipt',
      phone: '+14155550123',
    });
  });
});

describe('errors', () => {
  it('a 401 becomes an ApiError with the backend sentence', async () => {
    answer(401, {error: 'The request is not signed by Stripe for this app.'});
    const error = await getSettings(IDENTITY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({status: 401, error: 'The request is not signed by Stripe for this app.'});
    expect((error as ApiError).message).toBe('The request is not signed by Stripe for this app.');
    expect((error as ApiError).errors).toBeUndefined();
  });

  it('a 422 on PUT carries the per-field errors', async () => {
    const finding = 'mappings[receipt].body[1]: template syntax error: unexpected end of template';
    answer(422, {error: 'The settings were not saved.', errors: {mappings: [finding], phone_number_id: ['Not a number.']}});
    const error = (await updateSettings(IDENTITY, {mappings: [RECEIPT]}).catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(422);
    expect(error.error).toBe('The settings were not saved.');
    expect(error.fieldErrors('mappings')).toEqual([finding]);
    expect(error.fieldErrors('phone_number_id')).toEqual(['Not a number.']);
    expect(error.fieldErrors('business_account_id')).toEqual([]);
    expect(error.findings()).toEqual([finding, 'phone_number_id: Not a number.']);
  });

  it('a 422 on preview may carry a list of findings', async () => {
    answer(422, {error: 'The mapping does not render.', errors: ['body[0]: undefined name', {path: 'when', message: 'not a boolean'}]});
    const error = (await previewMapping(IDENTITY, RECEIPT).catch((e: unknown) => e)) as ApiError;
    expect(error.findings()).toEqual(['body[0]: undefined name', 'when: not a boolean']);
    expect(error.fieldErrors('mappings')).toEqual([]);
  });

  it("a refused test send carries Meta's explanation", async () => {
    const meta = {code: 131026, title: 'Message undeliverable', meaning: 'The number is not on WhatsApp.', fix: 'Check the number.'};
    answer(422, {error: 'Meta refused the message.', meta_error: meta});
    const error = (await sendTest(IDENTITY, 'receipt', '+14155550123').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(422);
    expect(error.meta_error).toEqual(meta);
  });

  it('an error page that is not JSON still gives a sentence with the status', async () => {
    answer(502, '<html>Bad gateway</html>');
    await expect(getSettings(IDENTITY)).rejects.toMatchObject({
      status: 502,
      error: 'The bridge answered HTTP 502 without an error message.',
    });
  });

  it('a 200 that is not JSON is an error, not undefined settings', async () => {
    answer(200, 'OK');
    await expect(getSettings(IDENTITY)).rejects.toMatchObject({status: 200});
  });

  it('no answer at all (network, content security policy) is status 0', async () => {
    global.fetch = jest.fn(async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    await expect(getSettings(IDENTITY)).rejects.toMatchObject({
      status: 0,
      error: `Could not reach the bridge at ${BACKEND_URL}: Failed to fetch`,
    });
  });

  it('a signature Stripe refuses to give is reported and nothing is sent', async () => {
    answer(200, SETTINGS);
    signatureMock.mockRejectedValue(new Error('permission denied'));
    await expect(getSettings(IDENTITY)).rejects.toMatchObject({
      status: 0,
      error: 'Stripe did not sign the request: permission denied',
    });
    expect(calls).toHaveLength(0);
  });

  it('errorFromBody and findingText handle shapes the contract does not name', () => {
    expect(errorFromBody(500, null).error).toBe('The bridge answered HTTP 500 without an error message.');
    expect(errorFromBody(422, {error: 'x', errors: null}).errors).toBeUndefined();
    expect(findingText({code: 'E1'})).toBe('{"code":"E1"}');
    expect(findingText({field: 'phone', error: 'invalid'})).toBe('phone: invalid');
  });
});
