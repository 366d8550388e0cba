/**
 * One live connection to `GET /v1/stream`, kept open while a tab is signed in.
 *
 * An EventSource cannot send the Authorization header, so each connection opens with a fresh
 * single-use ticket (`POST /v1/stream/tickets`, which the session cookie and CSRF token
 * authorise). The ticket is spent once the stream opened, so the EventSource's own retries
 * are not used: on an error the connection is closed and opened again after a growing pause,
 * with a new ticket and `after_position` = the last event's position (what `Last-Event-ID`
 * would have said), so no event is missed. Without a position to resume from (no event came
 * yet, or resuming kept failing), `onGap` tells the app to read everything again.
 */
import { parseLiveEvent, type LiveEvent } from "./events";

export type LiveStatus = "connecting" | "live" | "reconnecting" | "off";

/** What the connection needs of an EventSource (the browser's, or a test's). */
export interface EventSourceLike {
  onopen: ((event: Event) => void) | null;
  onerror: ((event: Event) => void) | null;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  close(): void;
}

export interface LiveOptions {
  /** A fresh ticket's stream address (`url` of POST /v1/stream/tickets); `signal` aborts it
   * when the connection closes meanwhile. */
  ticket: (signal: AbortSignal) => Promise<string>;
  open: (url: string) => EventSourceLike;
  /** The event types to listen to. */
  types: readonly string[];
  onEvent: (event: LiveEvent) => void;
  onStatus: (status: LiveStatus) => void;
  /** The connection is back, but events may have been missed. */
  onGap: () => void;
  /** Whether getting a ticket failed for good (e.g. the session ended): stop trying. */
  isFinal?: (error: unknown) => boolean;
  /** Pauses before each further attempt, in milliseconds (the last one repeats). */
  delays?: readonly number[];
  schedule?: (run: () => void, ms: number) => () => void;
}

export const RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 15_000, 30_000] as const;
/** Failed attempts to resume from a position after which the app starts afresh instead. */
export const RESUME_ATTEMPTS = 3;

/** Opens the connection; the function returned closes it for good. */
export function connectLive(options: LiveOptions): () => void {
  const delays = options.delays ?? RETRY_DELAYS_MS;
  const schedule =
    options.schedule ??
    ((run: () => void, ms: number) => {
      const timer = setTimeout(run, ms);
      return () => clearTimeout(timer);
    });
  let closed = false;
  let source: EventSourceLike | null = null;
  let cancelTimer: (() => void) | null = null;
  let asking: AbortController | null = null;
  let last: number | undefined;
  let failures = 0;
  let everOpen = false;
  let gap = false;

  function retry() {
    if (closed) return;
    options.onStatus("reconnecting");
    if (failures >= RESUME_ATTEMPTS && last !== undefined) {
      last = undefined; // the position may be gone (a restored store): start from now
      gap = true;
    }
    const delay = delays[Math.min(failures, delays.length - 1)] ?? 30_000;
    failures += 1;
    cancelTimer = schedule(() => {
      cancelTimer = null;
      void attempt();
    }, delay);
  }

  function received(type: string, message: MessageEvent<string>) {
    const event = parseLiveEvent(type, message.lastEventId, message.data);
    if (event === null) return;
    if (last === undefined || event.position > last) last = event.position;
    options.onEvent(event);
  }

  async function attempt() {
    let url: string;
    const controller = new AbortController();
    asking = controller;
    try {
      url = await options.ticket(controller.signal);
    } catch (error) {
      if (closed) return;
      if (options.isFinal?.(error)) {
        options.onStatus("off");
        return;
      }
      retry();
      return;
    }
    asking = null;
    if (closed) return;
    if (last !== undefined) url += `${url.includes("?") ? "&" : "?"}after_position=${last}`;
    const opened = options.open(url);
    source = opened;
    opened.onopen = () => {
      if (source !== opened) return;
      failures = 0;
      if (everOpen && last === undefined) gap = true;
      everOpen = true;
      options.onStatus("live");
      if (gap) {
        gap = false;
        options.onGap();
      }
    };
    opened.onerror = () => {
      if (source !== opened) return;
      opened.close();
      source = null;
      retry();
    };
    for (const type of options.types) opened.addEventListener(type, (message) => received(type, message));
  }

  options.onStatus("connecting");
  void attempt();
  return () => {
    closed = true;
    cancelTimer?.();
    asking?.abort(); // a request still on its way is dropped, not answered
    source?.close();
    source = null;
  };
}
