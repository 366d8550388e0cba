/**
 * Live updates: while a tab is signed in, one connection to the event stream
 * (src/api/live/connection.ts); each event marks the queries it affects out of date
 * (src/api/live/events.ts), so open pages refetch them. A refetch passes the event's position
 * as `min_position` (`useLivePosition`), so it does not read a read model older than the event.
 */
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";

import type { ApiClient } from "../api/client";
import { ApiError } from "../api/errors";
import { connectLive, type EventSourceLike, type LiveStatus } from "../api/live/connection";
import { LIVE_EVENT_TYPES, affects, scopesOf, type LiveEvent, type LiveScope } from "../api/live/events";
import { useI18n } from "../i18n/I18nProvider";
import type { MessageKey } from "../i18n/messages";
import { useApi } from "./ApiProvider";

interface LiveContextValue {
  status: LiveStatus;
  /** Closes the connection now, dropping a request on its way (before signing out, so that
   * no request of it meets the ended session), until `resume`. */
  stop: () => void;
  resume: () => void;
  /** The position of the latest event of these read models this tab heard of. */
  position: (...scopes: LiveScope[]) => number | undefined;
}

const NOT_LIVE: LiveContextValue = {
  status: "off",
  stop: () => undefined,
  resume: () => undefined,
  position: () => undefined,
};
const LiveContext = createContext<LiveContextValue>(NOT_LIVE);

interface StreamTicket {
  url: string;
}

/** How long events are gathered before the queries they affect are refetched, in ms. */
const BATCH_MS = 50;

/** Marks the queries the events affect as out of date (refetching those on screen). */
export function invalidateFor(queryClient: QueryClient, events: readonly LiveEvent[]): Promise<void> {
  return queryClient.invalidateQueries({
    predicate: (query) => events.some((event) => affects(event, query.queryKey)),
  });
}

export function LiveProvider(props: {
  children: ReactNode;
  /** Whether the signed-in user may read the stream (`events.stream`). */
  enabled: boolean;
  /** How to open an EventSource; by default the browser's (none: no live updates). */
  open?: (url: string) => EventSourceLike;
}) {
  const client = useApi();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>("off");
  const positions = useRef(new Map<LiveScope, number>());
  const [stopped, setStopped] = useState(false);
  const closeNow = useRef<(() => void) | null>(null);
  const open =
    props.open ??
    (typeof EventSource === "undefined" ? undefined : (url: string) => new EventSource(url) as EventSourceLike);

  useEffect(() => {
    if (open === undefined || !props.enabled || stopped) return undefined;
    let pending: LiveEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      const events = pending;
      pending = [];
      void invalidateFor(queryClient, events);
    };
    const close = connectLive({
      ticket: async (signal) => (await ticketOf(client, signal)).url,
      open,
      types: LIVE_EVENT_TYPES,
      onEvent(event) {
        for (const scope of scopesOf(event)) {
          positions.current.set(scope, Math.max(positions.current.get(scope) ?? 0, event.position));
        }
        pending.push(event);
        timer ??= setTimeout(flush, BATCH_MS);
      },
      onStatus: setStatus,
      onGap() {
        void queryClient.invalidateQueries({ predicate: (query) => query.queryKey[0] !== "session" });
      },
      isFinal: (error) => error instanceof ApiError && (error.status === 401 || error.status === 403),
    });
    const closeAll = () => {
      close();
      if (timer !== null) clearTimeout(timer);
      timer = null;
    };
    closeNow.current = closeAll;
    return () => {
      closeAll();
      closeNow.current = null;
    };
    // The connection lives as long as the signed-in frame; `open` is fixed per mount.
  }, [client, queryClient, props.enabled, stopped]);

  const value: LiveContextValue = {
    status,
    stop: () => {
      closeNow.current?.();
      setStopped(true);
      setStatus("off");
    },
    resume: () => setStopped(false),
    position: (...scopes) => {
      const known = scopes.map((scope) => positions.current.get(scope)).filter((p): p is number => p !== undefined);
      return known.length ? Math.max(...known) : undefined;
    },
  };
  return <LiveContext.Provider value={value}>{props.children}</LiveContext.Provider>;
}

function ticketOf(client: ApiClient, signal: AbortSignal): Promise<StreamTicket> {
  return client.send<StreamTicket>("POST", "/v1/stream/tickets", undefined, signal);
}

export function useLive(): LiveContextValue {
  return useContext(LiveContext);
}

/** `min_position` for a read of these read models: the later of the page's own last write
 * (`own`) and the latest live event of them. */
export function useLivePosition(...scopes: LiveScope[]): (own?: number) => number | undefined {
  const live = useLive();
  return (own) => {
    const heard = live.position(...scopes);
    if (heard === undefined) return own;
    return own === undefined ? heard : Math.max(own, heard);
  };
}

const STATUS_TEXT: Record<LiveStatus, MessageKey> = {
  connecting: "live.connecting",
  live: "live.connected",
  reconnecting: "live.reconnecting",
  off: "live.off",
};

/** The shell's small sign of whether the page updates live. */
export function LiveIndicator() {
  const { t } = useI18n();
  const { status } = useLive();
  return (
    <span className={`live-indicator live-indicator--${status}`} role="status" aria-live="polite">
      <span className="live-indicator__dot" aria-hidden="true" />
      {t(STATUS_TEXT[status])}
    </span>
  );
}
