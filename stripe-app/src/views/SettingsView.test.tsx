/**
 * The settings view rendered with the SDK's test renderer against a scripted bridge (see
 * src/testing/fakeBridge.ts): what it shows for loaded settings, what a save sends, how a refusal
 * is shown, and that the WhatsApp access token never appears anywhere in what it renders.
 */
import {fetchStripeSignature} from '@stripe/ui-extension-sdk/utils';
import {getMockContextProps, render} from '@stripe/ui-extension-sdk/testing';
import {Badge, Banner, Button, Select, SettingsView, TextArea, TextField} from '@stripe/ui-extension-sdk/ui';

import type {Settings} from '../api';
import {installFakeBridge} from '../testing/fakeBridge';
import {renderedStrings} from '../testing/rendered';
import type {FakeBridge} from '../testing/fakeBridge';
import AppSettings from './SettingsView';

jest.mock('@stripe/ui-extension-sdk/utils', () => ({fetchStripeSignature: jest.fn()}));

const SIGNATURE = 't=1796083200,v1=a1b2c3';
const TOKEN = 'EAAGm0PX4ZCpsBAKZAZCsecret-token-value';
const context = getMockContextProps({
  userContext: {id: 'usr_K6yd2CbXLO9A5G', account: {id: 'acct_1JSkf6FRwUQjTSJE'}},
  environment: {viewportID: 'settings'},
});

const SETTINGS: Settings = {
  account_id: 'acct_1JSkf6FRwUQjTSJE',
  status: 'active',
  phone_number_id: '106540352242922',
  business_account_id: '102290129340398',
  access_token_set: true,
  mappings: [
    {
      name: 'receipt',
      events: ['payment_intent.succeeded', 'checkout.session.completed'],
      template: 'payment_receipt',
      language: 'en_US',
      body: ['{{ object.shipping.name }}', '{{ object.amount_received | money(object.currency) }}'],
    },
    {name: 'invoice_paid', events: ['invoice.paid'], template: 'invoice_paid', language: ['en_US', 'ar'], body: []},
  ],
};

const TEMPLATES = {
  templates: [{name: 'payment_receipt', language: 'en_US', status: 'APPROVED', category: 'UTILITY', placeholders: ['1', '2']}],
  pulled_at: 1796083200,
};

const DELIVERIES = {
  deliveries: [
    {
      id: 'dlv_1',
      event_id: 'evt_1',
      event_type: 'payment_intent.succeeded',
      mapping: 'receipt',
      status: 'failed',
      phone: '+1******0123',
      created_at: 1796083200,
      updated_at: 1796083260,
      wamid: null,
      error: {code: 131026, meaning: 'The number is not on WhatsApp.'},
    },
  ],
};

type Wrapper = ReturnType<typeof render>['wrapper'];

let bridge: FakeBridge;

beforeEach(() => {
  (fetchStripeSignature as jest.Mock).mockReset().mockResolvedValue(SIGNATURE);
  bridge = installFakeBridge();
  bridge.on('GET /settings', 200, SETTINGS);
  bridge.on('GET /templates', 200, TEMPLATES);
  bridge.on('GET /deliveries', 200, DELIVERIES);
});

/** Let the view's pending requests settle, re-rendering in between, until `done` holds (bounded). */
async function until(update: () => Promise<void>, done: () => boolean, what: string): Promise<void> {
  for (let round = 0; round < 50; round += 1) {
    if (done()) return;
    await update();
  }
  throw new Error(`the view never got to: ${what}`);
}

async function renderLoaded() {
  const rendered = render(<AppSettings {...context} />);
  await until(rendered.update, () => rendered.wrapper.find(TextField, {name: 'phone_number_id'}) !== null, 'the loaded form');
  await until(rendered.update, () => bridge.requests.length >= 3 && rendered.wrapper.text.includes('+1******0123'), 'the deliveries');
  return rendered;
}

function field(wrapper: Wrapper, name: string) {
  const node = wrapper.find(TextField, {name});
  if (!node) throw new Error(`no field ${name}`);
  return node;
}

function button(wrapper: Wrapper, label: string) {
  const node = wrapper.findAll(Button).find((b) => b.text === label);
  if (!node) throw new Error(`no button ${label}`);
  return node;
}

describe('loading', () => {
  it('asks the bridge as the Dashboard user, signed', async () => {
    await renderLoaded();
    const [settings] = bridge.to('GET /settings');
    expect(settings.query).toEqual({user_id: 'usr_K6yd2CbXLO9A5G', account_id: 'acct_1JSkf6FRwUQjTSJE'});
    expect(settings.headers['Stripe-Signature']).toBe(SIGNATURE);
    expect(bridge.to('GET /templates')).toHaveLength(1);
    expect(bridge.to('GET /deliveries')[0].query).toEqual({
      user_id: 'usr_K6yd2CbXLO9A5G',
      account_id: 'acct_1JSkf6FRwUQjTSJE',
      limit: '20',
    });
  });

  it('renders the loaded connection, mappings, templates and deliveries', async () => {
    const {wrapper} = await renderLoaded();
    expect(field(wrapper, 'phone_number_id').prop('value')).toBe('106540352242922');
    expect(field(wrapper, 'business_account_id').prop('value')).toBe('102290129340398');
    expect(field(wrapper, 'access_token').prop('type')).toBe('password');
    expect(field(wrapper, 'access_token').prop('value')).toBe('');
    expect(field(wrapper, 'access_token').prop('description')).toContain('Access token set');
    expect(wrapper).toContainComponent(Badge, {type: 'positive'});
    // The mappings table: name, events, template, language(s).
    for (const text of ['receipt', 'payment_intent.succeeded, checkout.session.completed', 'payment_receipt', 'en_US, ar']) {
      expect(wrapper).toContainText(text);
    }
    // The templates and when they were pulled.
    expect(wrapper).toContainText('Pulled from Meta: 2026-12-01 00:00 UTC');
    expect(wrapper).toContainText('{{1}} {{2}}');
    // A failed delivery: masked number, status and Meta's meaning.
    expect(wrapper).toContainText('+1******0123');
    expect(wrapper).toContainComponent(Badge, {type: 'negative'});
    expect(wrapper).toContainText('131026: The number is not on WhatsApp.');
  });

  it('says when no access token is set', async () => {
    bridge.on('GET /settings', 200, {...SETTINGS, access_token_set: false});
    const {wrapper} = await renderLoaded();
    expect(field(wrapper, 'access_token').prop('description')).toContain('No access token set');
  });

  it("shows the bridge's refusal of the signature and loads again on request", async () => {
    bridge.on('GET /settings', 401, {error: 'The request is not signed by Stripe for this app.'});
    const {wrapper, update} = render(<AppSettings {...context} />);
    await until(update, () => wrapper.find(Banner) !== null, 'the error banner');
    expect(wrapper.find(Banner)).toHaveProps({type: 'critical', title: 'Could not load the bridge settings'});
    expect(renderedStrings(wrapper)).toContain('The request is not signed by Stripe for this app.');
    expect(wrapper).not.toContainComponent(TextField);

    bridge.on('GET /settings', 200, SETTINGS);
    button(wrapper, 'Try again').trigger('onPress', {});
    await until(update, () => wrapper.find(TextField, {name: 'phone_number_id'}) !== null, 'the form after retrying');
    expect(bridge.to('GET /settings')).toHaveLength(2);
  });
});

describe('templates', () => {
  it('pulls them from Meta on request and shows the fresh list', async () => {
    const {wrapper, update} = await renderLoaded();
    const fresh = {
      templates: [{name: 'order_confirmation', language: 'ar', status: 'APPROVED', category: 'UTILITY', placeholders: ['1']}],
      pulled_at: 1796169600,
    };
    bridge.on('POST /templates/pull', 200, fresh);
    button(wrapper, 'Pull from Meta').trigger('onPress', {});
    await until(update, () => renderedStrings(wrapper).includes('order_confirmation'), 'the pulled templates');
    expect(bridge.to('POST /templates/pull')[0].body).toEqual({user_id: 'usr_K6yd2CbXLO9A5G', account_id: 'acct_1JSkf6FRwUQjTSJE'});
    expect(wrapper).toContainText('Pulled from Meta: 2026-12-02 00:00 UTC');
  });

  it("shows the bridge's refusal of a pull", async () => {
    const {wrapper, update} = await renderLoaded();
    bridge.on('POST /templates/pull', 422, {error: 'merchant acct_1JSkf6FRwUQjTSJE has no WhatsApp Business Account id: set it first'});
    button(wrapper, 'Pull from Meta').trigger('onPress', {});
    await until(update, () => renderedStrings(wrapper).includes('no WhatsApp Business Account id'), 'the refusal');
    expect(wrapper).toContainText('payment_receipt');
  });
});

describe('saving', () => {
  it('sends only the changed fields', async () => {
    const {wrapper, update} = await renderLoaded();
    bridge.on('PUT /settings', 200, {...SETTINGS, phone_number_id: '111222333'});
    field(wrapper, 'phone_number_id').trigger('onChange', {target: {value: ' 111222333 '}});
    wrapper.find(SettingsView)!.trigger('onSave', {});
    await until(update, () => wrapper.find(SettingsView)!.prop('statusMessage') === 'Saved', 'Saved');
    const [put] = bridge.to('PUT /settings');
    expect(put.body).toEqual({user_id: 'usr_K6yd2CbXLO9A5G', account_id: 'acct_1JSkf6FRwUQjTSJE', phone_number_id: '111222333'});
    expect(put.headers['Stripe-Signature']).toBe(SIGNATURE);
    expect(field(wrapper, 'phone_number_id').prop('value')).toBe('111222333');
  });

  it('sends nothing when nothing changed', async () => {
    const {wrapper, update} = await renderLoaded();
    // Re-indenting the mappings is not a change.
    wrapper.find(TextArea, {name: 'mappings'})!.trigger('onChange', {target: {value: JSON.stringify(SETTINGS.mappings)}});
    wrapper.find(SettingsView)!.trigger('onSave', {});
    await update();
    expect(wrapper.find(SettingsView)!.prop('statusMessage')).toBe('Nothing to save');
    expect(bridge.to('PUT /settings')).toHaveLength(0);
  });

  it('sends a new token once, then clears the field and never renders it', async () => {
    // Even a backend that wrongly returned the token would not get it onto the page.
    bridge.on('GET /settings', 200, {...SETTINGS, access_token: TOKEN});
    const {wrapper, update} = await renderLoaded();
    expect(renderedStrings(wrapper)).not.toContain(TOKEN);

    bridge.on('PUT /settings', 200, {...SETTINGS, access_token_set: true, access_token: TOKEN});
    field(wrapper, 'access_token').trigger('onChange', {target: {value: TOKEN}});
    wrapper.find(SettingsView)!.trigger('onSave', {});
    await until(update, () => wrapper.find(SettingsView)!.prop('statusMessage') === 'Saved', 'Saved');

    expect(bridge.to('PUT /settings')[0].body).toEqual({
      user_id: 'usr_K6yd2CbXLO9A5G',
      account_id: 'acct_1JSkf6FRwUQjTSJE',
      access_token: TOKEN,
    });
    expect(field(wrapper, 'access_token').prop('value')).toBe('');
    expect(renderedStrings(wrapper)).not.toContain(TOKEN);
    expect(renderedStrings(wrapper)).not.toContain('secret-token');
  });

  it("shows the backend's findings beside the form on a 422, keeping the edits", async () => {
    const {wrapper, update} = await renderLoaded();
    const finding = 'mappings[receipt].body[1]: template syntax error: unexpected end of template';
    bridge.on('PUT /settings', 422, {
      error: 'The settings were not saved: 2 problems.',
      errors: {mappings: [finding], phone_number_id: ['Digits only.'], other: ['Unknown field.']},
    });
    const edited = [{...SETTINGS.mappings[0], body: ['{{ object.shipping.name }}', '{{ object.amount']}];
    wrapper.find(TextArea, {name: 'mappings'})!.trigger('onChange', {target: {value: JSON.stringify(edited, null, 2)}});
    field(wrapper, 'phone_number_id').trigger('onChange', {target: {value: 'abc'}});
    wrapper.find(SettingsView)!.trigger('onSave', {});
    await until(update, () => wrapper.find(SettingsView)!.prop('statusMessage') === 'Not saved', 'Not saved');

    expect(bridge.to('PUT /settings')[0].body).toEqual({
      user_id: 'usr_K6yd2CbXLO9A5G',
      account_id: 'acct_1JSkf6FRwUQjTSJE',
      phone_number_id: 'abc',
      mappings: edited,
    });
    // The banner: the sentence, and the finding no field shows.
    const banner = wrapper.find(Banner, {type: 'critical'});
    expect(banner).toHaveProps({title: 'The settings were not saved: 2 problems.'});
    expect(renderedStrings(wrapper)).toContain('other: Unknown field.');
    // Beside the fields: the mapping finding under the editor, the phone message on its field.
    expect(wrapper.find(TextArea, {name: 'mappings'})).toHaveProps({invalid: true, error: '1 problem: see below.'});
    expect(wrapper).toContainText(finding);
    expect(field(wrapper, 'phone_number_id').prop('error')).toBe('Digits only.');
    // The merchant's edits are still there to fix.
    expect(field(wrapper, 'phone_number_id').prop('value')).toBe('abc');
    expect(JSON.parse(wrapper.find(TextArea, {name: 'mappings'})!.prop('value')!)).toEqual(edited);
  });

  it('refuses mappings that are not JSON without calling the bridge', async () => {
    const {wrapper, update} = await renderLoaded();
    wrapper.find(TextArea, {name: 'mappings'})!.trigger('onChange', {target: {value: '[{"name": "receipt",'}});
    wrapper.find(SettingsView)!.trigger('onSave', {});
    await update();
    expect(bridge.to('PUT /settings')).toHaveLength(0);
    expect(wrapper.find(SettingsView)!.prop('statusMessage')).toBe('Not saved');
    expect(renderedStrings(wrapper)).toContain('The mappings are not valid JSON');
  });
});

describe('test send and deliveries', () => {
  it("sends the chosen mapping to a number and shows Meta's message id", async () => {
    const {wrapper, update} = await renderLoaded();
    bridge.on('POST /send-test', 200, {wamid: 'wamid.HBgLMTQxNTU1NTAxMjM', to: '+1******0123', dry_run: false});
    wrapper.find(Select, {name: 'test_mapping'})!.trigger('onChange', {target: {value: 'invoice_paid'}});
    field(wrapper, 'test_phone').trigger('onChange', {target: {value: '+14155550123'}});
    button(wrapper, 'Send test').trigger('onPress', {});
    await until(update, () => renderedStrings(wrapper).includes('wamid.HBgLMTQxNTU1NTAxMjM'), 'the wamid');
    expect(bridge.to('POST /send-test')[0].body).toEqual({
      user_id: 'usr_K6yd2CbXLO9A5G',
      account_id: 'acct_1JSkf6FRwUQjTSJE',
      mapping: 'invoice_paid',
      phone: '+14155550123',
    });
    expect(wrapper).toContainComponent(Banner, {title: 'Sent to +1******0123'});
  });

  it("shows Meta's meaning and fix when the test send is refused", async () => {
    const {wrapper, update} = await renderLoaded();
    bridge.on('POST /send-test', 422, {
      error: 'Meta refused the message.',
      meta_error: {code: 132001, title: 'Template does not exist', meaning: 'No approved template by that name and language.', fix: 'Check the language code.'},
    });
    field(wrapper, 'test_phone').trigger('onChange', {target: {value: '+14155550123'}});
    button(wrapper, 'Send test').trigger('onPress', {});
    await until(update, () => renderedStrings(wrapper).includes('No approved template'), "Meta's meaning");
    expect(renderedStrings(wrapper)).toContain('Meta error 132001: Template does not exist');
    expect(renderedStrings(wrapper)).toContain('Check the language code.');
  });

  it('previews the mapping as edited, unsaved changes included', async () => {
    const {wrapper, update} = await renderLoaded();
    bridge.on('POST /preview', 200, {text: 'Hi Jenny, we received $19.99.', request: {to: '+1******0123'}, event_type: 'payment_intent.succeeded'});
    const edited = [{...SETTINGS.mappings[0], template: 'payment_receipt_v2'}, SETTINGS.mappings[1]];
    wrapper.find(TextArea, {name: 'mappings'})!.trigger('onChange', {target: {value: JSON.stringify(edited)}});
    button(wrapper, 'Preview').trigger('onPress', {});
    await until(update, () => wrapper.text.includes('Hi Jenny, we received $19.99.'), 'the preview text');
    expect(bridge.to('POST /preview')[0].body).toEqual({
      user_id: 'usr_K6yd2CbXLO9A5G',
      account_id: 'acct_1JSkf6FRwUQjTSJE',
      mapping: edited[0],
    });
  });

  it('filters the deliveries to failed ones', async () => {
    const {wrapper, update} = await renderLoaded();
    bridge.on('GET /deliveries', 200, {deliveries: []});
    wrapper.find(Select, {name: 'deliveries_filter'})!.trigger('onChange', {target: {value: 'failed'}});
    await until(update, () => wrapper.text.includes('No deliveries yet.'), 'the filtered list');
    expect(bridge.to('GET /deliveries').map((r) => r.query.status)).toEqual([undefined, 'failed']);
  });
});
