/**
 * Everything a view hands to the Dashboard, as text: the text content of the tree and every string
 * in every component's props, including the components inside props (a Banner's description is a
 * remote fragment, which the renderer's own `text` leaves out).
 */
import type {render} from '@stripe/ui-extension-sdk/testing';

type Wrapper = ReturnType<typeof render>['wrapper'];

/** remote-ui's node kinds: a component (1), a text (2), a fragment passed as a prop (3). */
const COMPONENT = 1;
const TEXT = 2;
const FRAGMENT = 3;

type Remote = {kind?: number; text?: string; props?: Record<string, unknown>; children?: unknown[]};

function isRemote(value: unknown): value is Remote {
  return typeof value === 'object' && value !== null && typeof (value as Remote).kind === 'number';
}

function collect(value: unknown, out: string[], depth: number): void {
  if (depth > 40 || value === null || value === undefined || typeof value === 'function') return;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    out.push(String(value));
  } else if (Array.isArray(value)) {
    value.forEach((item) => collect(item, out, depth + 1));
  } else if (isRemote(value)) {
    // Only what the node shows: never its parent/top links (cycles) or methods.
    if (value.kind === TEXT) out.push(value.text ?? '');
    if (value.kind === COMPONENT) collect(value.props, out, depth + 1);
    if (value.kind === COMPONENT || value.kind === FRAGMENT) collect(value.children, out, depth + 1);
  } else if (typeof value === 'object') {
    Object.values(value as Record<string, unknown>).forEach((item) => collect(item, out, depth + 1));
  }
}

/** All the strings a rendered tree shows or passes on, one per line. */
export function renderedStrings(root: Wrapper): string {
  const out: string[] = [root.text];
  for (const node of root.descendants) {
    if (typeof node === 'string') out.push(node);
    else collect(node.props, out, 0);
  }
  return out.join('\n');
}
