/**
 * stripe-app.json against the code and the bridge it belongs to: the backend URL the client calls is
 * one the Dashboard lets the app reach, every view names a component that exists, and every Stripe
 * event type the bridge's example configuration maps has its permission, with a purpose.
 */
import {existsSync, readFileSync} from 'fs';
import {join} from 'path';

import {API_PREFIX, BACKEND_URL} from './api';

const APP = join(__dirname, '..');
const manifest = JSON.parse(readFileSync(join(APP, 'stripe-app.json'), 'utf8'));

/** The permission Stripe asks for to receive each kind of event (longest prefix first). */
const EVENT_PERMISSIONS: [string, string][] = [
  ['charge.dispute.', 'dispute_read'],
  ['charge.', 'charge_read'],
  ['refund.', 'charge_read'],
  ['payment_intent.', 'payment_intent_read'],
  ['checkout.session.', 'checkout_session_read'],
  ['invoice.', 'invoice_read'],
  ['customer.', 'customer_read'],
];

function permissionFor(eventType: string): string | undefined {
  return EVENT_PERMISSIONS.find(([prefix]) => eventType.startsWith(prefix))?.[1];
}

/** The event types of the [[mappings]] in the bridge's config.example.toml. */
function exampleEventTypes(): string[] {
  const toml = readFileSync(join(APP, '..', 'config.example.toml'), 'utf8');
  const lists = [...toml.matchAll(/^events\s*=\s*\[([^\]]*)\]/gm)].map((m) => m[1]);
  return [...new Set(lists.flatMap((list) => [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1])))];
}

const permissions: {permission: string; purpose: string}[] = manifest.permissions;

describe('stripe-app.json', () => {
  it("lets the app reach the client's backend URL", () => {
    const allowed: string[] = manifest.ui_extension.content_security_policy['connect-src'];
    // A connect-src URL that ends in a slash allows every URL under it.
    const base = `${BACKEND_URL}${API_PREFIX}/`;
    expect(allowed.some((url) => (url.endsWith('/') ? base.startsWith(url) : url === base))).toBe(true);
    expect(BACKEND_URL.startsWith('https://')).toBe(true);
    expect(manifest.ui_extension.content_security_policy.purpose).not.toBe('');
  });

  it('names view components that exist in src/views, the settings view among them', () => {
    const views: {viewport: string; component: string}[] = manifest.ui_extension.views;
    expect(views).toContainEqual({viewport: 'settings', component: 'SettingsView'});
    for (const view of views) {
      expect(existsSync(join(APP, 'src', 'views', `${view.component}.tsx`))).toBe(true);
    }
    expect(manifest.post_install_action).toEqual({type: 'settings'});
  });

  it('asks for the permission of every event type the bridge maps, and no other', () => {
    const types = exampleEventTypes();
    expect(types).toEqual(expect.arrayContaining(['payment_intent.succeeded', 'checkout.session.completed', 'invoice.paid']));
    const unknown = types.filter((type) => permissionFor(type) === undefined);
    expect(unknown).toEqual([]);
    const needed = new Set(['event_read', 'customer_read', ...types.map((type) => permissionFor(type) as string)]);
    expect(new Set(permissions.map((p) => p.permission))).toEqual(needed);
  });

  it('says why it needs each permission', () => {
    const unexplained = permissions.filter(({purpose}) => purpose.trim().length < 20).map((p) => p.permission);
    expect(unexplained).toEqual([]);
    expect(new Set(permissions.map((p) => p.permission)).size).toBe(permissions.length);
  });

  it('ships a 300x300 PNG icon', () => {
    const png = readFileSync(join(APP, manifest.icon));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([300, 300]);
  });
});
