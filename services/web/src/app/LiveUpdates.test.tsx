import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { createClient } from "../api/client";
import type { EventSourceLike } from "../api/live/connection";
import { I18nProvider } from "../i18n/I18nProvider";
import { ApiProvider } from "./ApiProvider";
import { LiveIndicator, LiveProvider, useLivePosition } from "./LiveUpdates";

afterEach(cleanup);

class FakeSource implements EventSourceLike {
  onopen: ((event: Event) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closed = false;
  listeners = new Map<string, (event: MessageEvent<string>) => void>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void) {
    this.listeners.set(type, listener);
  }
  close() {
    this.closed = true;
  }
  send(type: string, id: number, fields: Record<string, string>) {
    const data = JSON.stringify({ type, ...fields });
    this.listeners.get(type)?.(new MessageEvent(type, { data, lastEventId: String(id) }));
  }
}

/** Two queries as pages hold them: the board's leads and one customer's page. */
function Reader({ reads }: { reads: string[] }) {
  const after = useLivePosition("leads");
  useQuery({
    queryKey: ["pipeline", "leads", "new", "me"],
    queryFn: async () => {
      reads.push(`leads@${after() ?? "-"}`);
      return 1;
    },
  });
  useQuery({
    queryKey: ["customers", "360", "c1"],
    queryFn: async () => {
      reads.push("customer c1");
      return 1;
    },
  });
  return null;
}

function setUp(enabled = true) {
  const sources: FakeSource[] = [];
  const posts: string[] = [];
  const reads: string[] = [];
  const client = createClient({
    cookies: () => "crm_csrf=t",
    fetch: async (input, init) => {
      posts.push(`${init?.method ?? "GET"} ${String(input)}`);
      return new Response(JSON.stringify({ ticket: "crm_st_x", url: "/v1/stream?ticket=crm_st_x", expires_in_s: 30 }), {
        status: 201,
        headers: { "Content-Type": "application/json" },
      });
    },
  });
  const view = render(
    <I18nProvider locale="en">
      <ApiProvider client={client}>
        <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
          <LiveProvider
            enabled={enabled}
            open={(url) => {
              const source = new FakeSource(url);
              sources.push(source);
              return source;
            }}
          >
            <LiveIndicator />
            <Reader reads={reads} />
          </LiveProvider>
        </QueryClientProvider>
      </ApiProvider>
    </I18nProvider>,
  );
  return { sources, posts, reads, view };
}

describe("live updates", () => {
  it("open the stream with a ticket, show it live, refetch what an event affects after its position", async () => {
    const { sources, posts, reads, view } = setUp();
    await waitFor(() => expect(sources).toHaveLength(1));
    expect(posts).toEqual(["POST /v1/stream/tickets"]);
    expect(sources[0]!.url).toBe("/v1/stream?ticket=crm_st_x");
    expect(screen.getByRole("status").textContent).toBe("Connecting live updates…");
    act(() => sources[0]!.onopen?.(new Event("open")));
    expect(screen.getByRole("status").textContent).toBe("Live updates on");
    await waitFor(() => expect(reads.sort()).toEqual(["customer c1", "leads@-"]));

    // Another customer's lead moved: the board refetches, this customer's page does not.
    act(() => sources[0]!.send("crm.lead.stage_changed", 77, { aggregateid: "l9", customerid: "c2" }));
    await waitFor(() => expect(reads).toContain("leads@77"));
    expect(reads.filter((r) => r === "customer c1")).toHaveLength(1);
    act(() => sources[0]!.send("crm.lead.stage_changed", 78, { aggregateid: "l1", customerid: "c1" }));
    await waitFor(() => expect(reads.filter((r) => r === "customer c1")).toHaveLength(2));

    act(() => sources[0]!.onerror?.(new Event("error")));
    expect(screen.getByRole("status").textContent).toBe("Reconnecting live updates…");
    view.unmount(); // signing out unmounts the signed-in frame: the stream closes
    expect(sources[0]!.closed).toBe(true);
  });

  it("stay off for a user who may not read the stream", async () => {
    const { sources, posts } = setUp(false);
    await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
    expect(sources).toEqual([]);
    expect(posts).toEqual([]);
    expect(screen.getByRole("status").textContent).toBe("Live updates off");
  });
});
