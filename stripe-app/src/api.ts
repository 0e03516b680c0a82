/**
 * The bridge's /apps/v1 API as the app's views call it: one function per endpoint, one error type.
 *
 * Every call is signed. `Stripe-Signature` carries what `fetchStripeSignature()` returns: Stripe's
 * signature, with the app's signing secret, over {"user_id","account_id"} of the Dashboard user. The
 * same two values go as query parameters on GET and in the JSON body on PUT/POST, so the backend can
 * rebuild that payload and verify it (401 otherwise). A fresh signature is fetched for each call:
 * the backend accepts one for 300 s only.
 *
 * Errors: every failure is an `ApiError` carrying the backend's `error` sentence, its `errors`
 * (per-field messages or a list of findings) and Meta's `meta_error`; status 0 when no answer came.
 */
import {fetchStripeSignature} from '@stripe/ui-extension-sdk/utils';

/**
 * The bridge's public HTTPS origin (no trailing slash). Edit it to your deployment's URL together
 * with `content_security_policy.connect-src` in stripe-app.json: the Dashboard lets the app reach
 * only the URLs listed there (a test checks that the two agree).
 */
export const BACKEND_URL = 'https://bridge.example.com';

/** Where the Stripe App's endpoints live on the bridge. */
export const API_PREFIX = '/apps/v1';

/** How many deliveries the view asks for (the backend's default page). */
export const DELIVERIES_LIMIT = 20;

/** The signed-in Dashboard user and the account the app is installed on. */
export type Identity = {userId: string; accountId: string};

export type MerchantStatus = 'pending' | 'active' | 'disabled';

/** A body or header parameter: a Jinja text, or a typed parameter such as {type: "currency", ...}. */
export type Parameter = string | {type?: string; [key: string]: unknown};

/** A mapping, shaped like a [[mappings]] table of config.toml. */
export type Mapping = {
  name: string;
  events: string[];
  template: string;
  language: string | string[];
  when?: string;
  recipient?: string;
  recipients?: string[];
  body?: Parameter[] | Record<string, Parameter>;
  header?: Record<string, Parameter>;
  buttons?: Record<string, string>[];
  [key: string]: unknown;
};

/** GET/PUT /apps/v1/settings. The access token is write-only: only whether one is set comes back. */
export type Settings = {
  account_id: string;
  status: MerchantStatus;
  phone_number_id: string | null;
  business_account_id: string | null;
  access_token_set: boolean;
  mappings: Mapping[];
};

/** What a PUT may change; a field left out keeps its value. */
export type SettingsChanges = {
  phone_number_id?: string | null;
  business_account_id?: string | null;
  access_token?: string;
  mappings?: Mapping[];
};

export type Template = {
  name: string;
  language: string;
  status: string;
  category: string;
  placeholders: string[];
};

/** GET /apps/v1/templates: the merchant's templates as last pulled from Meta (unix time, or null: never). */
export type TemplateList = {templates: Template[]; pulled_at: number | null};

/** POST /apps/v1/preview: the message text and the Cloud API body (number masked). */
export type Preview = {text: string; request: Record<string, unknown>; event_type: string};

/** POST /apps/v1/send-test: Meta's message id; `to` is masked. */
export type TestSend = {wamid: string; to: string; dry_run: boolean};

export type DeliveryStatus =
  | 'queued'
  | 'sending'
  | 'retrying'
  | 'ambiguous'
  | 'paused'
  | 'sent'
  | 'delivered'
  | 'read'
  | 'failed'
  | 'skipped'
  | 'dry_run';

/** A delivery's error as recorded: Meta's code and what it means, when Meta refused. */
export type DeliveryError = {code?: number; meaning?: string; [key: string]: unknown};

export type Delivery = {
  id: string;
  event_id: string;
  event_type: string;
  mapping: string;
  status: DeliveryStatus;
  phone: string;
  created_at: number;
  updated_at: number;
  wamid: string | null;
  error: DeliveryError | null;
};

export type DeliveryList = {deliveries: Delivery[]};

/** Meta's refusal of a send, explained: the code, Meta's title, what it means and how to fix it. */
export type MetaError = {code: number; title: string; meaning: string; fix: string};

/** One problem the backend found; a sentence, or an object naming where (path/field) and what (message). */
export type Finding = string | {[key: string]: unknown};

/** `errors` of an error body: messages per field (PUT) or a list of findings (preview). */
export type Errors = Record<string, string[]> | Finding[];

/** Any failed call: the backend's error body, or status 0 when the bridge could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly error: string;
  readonly errors?: Errors;
  readonly meta_error?: MetaError;

  constructor(status: number, error: string, errors?: Errors, meta_error?: MetaError) {
    super(error);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
    this.errors = errors;
    this.meta_error = meta_error;
  }

  /** The backend's messages for one field of a per-field `errors` (none for a list of findings). */
  fieldErrors(field: string): string[] {
    if (!this.errors || Array.isArray(this.errors)) return [];
    return this.errors[field] ?? [];
  }

  /** Every finding as one line of text, whichever form `errors` took, but for the fields in `except`. */
  findings(except: string[] = []): string[] {
    if (!this.errors) return [];
    if (Array.isArray(this.errors)) return this.errors.map(findingText);
    const rest = Object.entries(this.errors).filter(([field]) => !except.includes(field));
    return rest.flatMap(([field, messages]) =>
      (Array.isArray(messages) ? messages : [String(messages)]).map((message) =>
        message.startsWith(field) ? message : `${field}: ${message}`,
      ),
    );
  }
}

/** A finding as one line: a string as it is; an object as "where: message" when it says both. */
export function findingText(finding: Finding): string {
  if (typeof finding === 'string') return finding;
  const where = finding.path ?? finding.field ?? finding.location;
  const what = finding.message ?? finding.error;
  if (typeof what === 'string') return typeof where === 'string' && where ? `${where}: ${what}` : what;
  return JSON.stringify(finding);
}

/** Anything thrown as an ApiError: the client's own errors pass through, anything else keeps its message. */
export function toApiError(exc: unknown): ApiError {
  return exc instanceof ApiError ? exc : new ApiError(0, describe(exc));
}

/** The backend's error body turned into an ApiError; a body that is not one still gives a sentence. */
export function errorFromBody(status: number, body: unknown): ApiError {
  if (body && typeof body === 'object' && typeof (body as {error?: unknown}).error === 'string') {
    const {error, errors, meta_error} = body as {error: string; errors?: Errors; meta_error?: MetaError};
    return new ApiError(status, error, errors ?? undefined, meta_error ?? undefined);
  }
  return new ApiError(status, `The bridge answered HTTP ${status} without an error message.`);
}

type Query = Record<string, string | number | undefined>;

/** An endpoint's URL, without a query. */
export function endpoint(path: string): string {
  return `${BACKEND_URL}${API_PREFIX}${path}`;
}

/** A GET URL: the identity first (the signed payload), then the endpoint's own parameters. */
function url(path: string, identity: Identity, query: Query = {}): string {
  const params = new URLSearchParams({user_id: identity.userId, account_id: identity.accountId});
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.append(name, String(value));
  }
  return `${endpoint(path)}?${params.toString()}`;
}

async function signature(): Promise<string> {
  try {
    return await fetchStripeSignature();
  } catch (exc) {
    throw new ApiError(0, `Stripe did not sign the request: ${describe(exc)}`);
  }
}

function describe(exc: unknown): string {
  return exc instanceof Error ? exc.message : String(exc);
}

/** One call: sign, send, read the JSON answer; anything but a 2xx with JSON is an ApiError. */
async function call<T>(method: 'GET' | 'PUT' | 'POST', target: string, body?: Record<string, unknown>): Promise<T> {
  const headers: Record<string, string> = {'Stripe-Signature': await signature(), Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(target, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (exc) {
    // A network failure, or the Dashboard's content security policy refusing a URL not in connect-src.
    throw new ApiError(0, `Could not reach the bridge at ${BACKEND_URL}: ${describe(exc)}`);
  }
  let data: unknown = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw errorFromBody(response.status, data);
  if (data === null || typeof data !== 'object') {
    throw new ApiError(response.status, `The bridge answered HTTP ${response.status} without a JSON body.`);
  }
  return data as T;
}

function signed(identity: Identity, fields: Record<string, unknown>): Record<string, unknown> {
  return {user_id: identity.userId, account_id: identity.accountId, ...fields};
}

/** The merchant's WhatsApp connection and mappings. */
export function getSettings(identity: Identity): Promise<Settings> {
  return call<Settings>('GET', url('/settings', identity));
}

/** Change only the given fields; a refusal (422) carries per-field `errors`. */
export function updateSettings(identity: Identity, changes: SettingsChanges): Promise<Settings> {
  return call<Settings>('PUT', endpoint('/settings'), signed(identity, changes));
}

/** The merchant's approved (and pending) templates, as last pulled from Meta. */
export function getTemplates(identity: Identity): Promise<TemplateList> {
  return call<TemplateList>('GET', url('/templates', identity));
}

/** Read the merchant's templates from Meta now (its business account id and token must be saved). */
export function pullTemplates(identity: Identity): Promise<TemplateList> {
  return call<TemplateList>('POST', endpoint('/templates/pull'), signed(identity, {}));
}

/** Render a mapping against a sample event without sending anything. */
export function previewMapping(identity: Identity, mapping: Mapping, eventType?: string): Promise<Preview> {
  const fields: Record<string, unknown> = {mapping};
  if (eventType) fields.event_type = eventType;
  return call<Preview>('POST', endpoint('/preview'), signed(identity, fields));
}

/** Send a saved mapping's message to one number; Meta's refusal comes back as `meta_error`. */
export function sendTest(identity: Identity, mapping: string, phone: string): Promise<TestSend> {
  return call<TestSend>('POST', endpoint('/send-test'), signed(identity, {mapping, phone}));
}

/** The newest deliveries, optionally only those in one status. */
export function getDeliveries(
  identity: Identity,
  options: {limit?: number; status?: DeliveryStatus} = {},
): Promise<DeliveryList> {
  const query = {limit: options.limit ?? DELIVERIES_LIMIT, status: options.status};
  return call<DeliveryList>('GET', url('/deliveries', identity, query));
}
