/**
 * A stand-in for the bridge's /apps/v1 API in the view's unit tests: `fetch` answers from a table of
 * routes ("GET /settings" → status and body) and records every request, so a test can both script
 * the backend and assert what the view sent. (The extension runs in Stripe's sandbox; its unit tests
 * have no server to talk to.)
 */
import {API_PREFIX, BACKEND_URL} from '../api';

export type Answer = {status: number; body: unknown};

export type Request = {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
};

export type FakeBridge = {
  requests: Request[];
  /** Script the answer for "METHOD /path" (the path after /apps/v1); the latest wins. */
  on: (route: string, status: number, body: unknown) => void;
  /** The requests made to one route. */
  to: (route: string) => Request[];
};

/** Replace global fetch with a fake bridge; an unscripted route answers 404 like the real one would. */
export function installFakeBridge(): FakeBridge {
  const routes = new Map<string, Answer>();
  const requests: Request[] = [];
  global.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    if (url.origin !== new URL(BACKEND_URL).origin || !url.pathname.startsWith(`${API_PREFIX}/`)) {
      throw new TypeError(`Refused to connect to ${url.origin}: not the bridge`);
    }
    const request: Request = {
      method: init?.method ?? 'GET',
      path: url.pathname.slice(API_PREFIX.length),
      query: Object.fromEntries(url.searchParams),
      headers: {...(init?.headers as Record<string, string>)},
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    requests.push(request);
    const answer = routes.get(`${request.method} ${request.path}`) ?? {status: 404, body: {error: 'Not found.'}};
    return new Response(JSON.stringify(answer.body), {status: answer.status, headers: {'Content-Type': 'application/json'}});
  }) as typeof fetch;
  return {
    requests,
    on: (route, status, body) => routes.set(route, {status, body}),
    to: (route) => requests.filter((r) => `${r.method} ${r.path}` === route),
  };
}
