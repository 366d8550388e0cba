import { describe, expect, it } from "vitest";

import { RESUME_ATTEMPTS, connectLive, type EventSourceLike, type LiveStatus } from "./connection";
import { affects, parseLiveEvent, scopesOf, type LiveEvent } from "./events";

const event = (type: string, fields: Partial<LiveEvent> = {}): LiveEvent => ({
  position: 10,
  type,
  aggregateId: "a1",
  customerId: "c1",
  ...fields,
});

describe("live events", () => {
  it("are read from the stream's CloudEvents", () => {
    const data = JSON.stringify({ type: "crm.lead.stage_changed", aggregateid: "l1", customerid: "c1", position: 7 });
    expect(parseLiveEvent("crm.lead.stage_changed", "1042", data)).toEqual({
      position: 1042,
      type: "crm.lead.stage_changed",
      aggregateId: "l1",
      customerId: "c1",
    });
    expect(parseLiveEvent("x", "", data)?.position).toBe(7);
    expect(parseLiveEvent("x", "1", "not json")).toBeNull();
    expect(parseLiveEvent("x", "", "{}")).toBeNull();
  });

  it("make the lists of their kind out of date, and a one-record page only for its record", () => {
    const moved = event("crm.lead.stage_changed", { aggregateId: "l1", customerId: "c1" });
    expect(affects(moved, ["pipeline", "leads", "contacted", "me"])).toBe(true);
    expect(affects(moved, ["my-day", "leads"])).toBe(true);
    expect(affects(moved, ["pipeline", "lead", "l1"])).toBe(true);
    expect(affects(moved, ["pipeline", "lead", "l2"])).toBe(false);
    expect(affects(moved, ["customers", "360", "c1"])).toBe(true);
    expect(affects(moved, ["customers", "360", "c2"])).toBe(false);
    expect(affects(moved, ["customers", "timeline", "c2"])).toBe(false);
    expect(affects(moved, ["pipeline", "rules"])).toBe(false);
    expect(affects(moved, ["tickets", "queue", {}])).toBe(false);
    expect(affects(moved, ["session", "me"])).toBe(false);

    const ticket = event("crm.ticket.status_changed", { aggregateId: "t1" });
    expect(affects(ticket, ["tickets", "queue", {}])).toBe(true);
    expect(affects(ticket, ["tickets", "detail", "t1"])).toBe(true);
    expect(affects(ticket, ["tickets", "detail", "t2"])).toBe(false);
    expect(affects(ticket, ["my-day", "leads"])).toBe(false);

    const alert = event("crm.alert.raised");
    expect(affects(alert, ["alerts", "rep-1", "active", null])).toBe(true);
    expect(affects(alert, ["my-day", "alerts", "rep-1"])).toBe(true);
    expect(affects(alert, ["my-day", "tasks"])).toBe(false);
    expect(affects(event("crm.task.created"), ["my-day", "tasks"])).toBe(true);
    expect(affects(event("crm.customer.profile_changed"), ["customers", "list", {}])).toBe(true);
    // a contact makes a stale lead fresh
    expect(affects(event("crm.interaction.logged"), ["pipeline", "leads", "new", null])).toBe(true);
    expect(scopesOf(moved)).toContain("leads");
    expect(scopesOf(alert)).toEqual(["alerts"]);
  });
});

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
  send(type: string, id: number) {
    this.listeners.get(type)?.(new MessageEvent(type, { data: JSON.stringify({ type, aggregateid: "l1" }), lastEventId: String(id) }));
  }
}

function harness(ticket: (signal?: AbortSignal) => Promise<string> = async () => "/v1/stream?ticket=t") {
  const sources: FakeSource[] = [];
  const statuses: LiveStatus[] = [];
  const events: LiveEvent[] = [];
  const timers: Array<{ run: () => void; ms: number }> = [];
  let gaps = 0;
  let tickets = 0;
  const close = connectLive({
    ticket: (signal) => {
      tickets += 1;
      return ticket(signal);
    },
    open: (url) => {
      const source = new FakeSource(url);
      sources.push(source);
      return source;
    },
    types: ["crm.lead.stage_changed"],
    onEvent: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
    onGap: () => (gaps += 1),
    isFinal: (error) => error === "signed out",
    schedule: (run, ms) => {
      timers.push({ run, ms });
      return () => undefined;
    },
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { sources, statuses, events, timers, close, settle, gaps: () => gaps, tickets: () => tickets };
}

describe("the live connection", () => {
  it("opens with a ticket, and reconnects after an error with a new ticket from the last event on", async () => {
    const live = harness();
    await live.settle();
    expect(live.sources.map((s) => s.url)).toEqual(["/v1/stream?ticket=t"]);
    const first = live.sources[0]!;
    first.onopen?.(new Event("open"));
    expect(live.statuses).toEqual(["connecting", "live"]);
    first.send("crm.lead.stage_changed", 41);
    first.send("crm.lead.stage_changed", 42);
    expect(live.events.map((e) => e.position)).toEqual([41, 42]);

    first.onerror?.(new Event("error"));
    expect(first.closed).toBe(true);
    expect(live.statuses.at(-1)).toBe("reconnecting");
    expect(live.timers.map((t) => t.ms)).toEqual([1000]);
    live.timers[0]!.run();
    await live.settle();
    expect(live.tickets()).toBe(2);
    expect(live.sources[1]!.url).toBe("/v1/stream?ticket=t&after_position=42");
    live.sources[1]!.onopen?.(new Event("open"));
    expect(live.statuses.at(-1)).toBe("live");
    expect(live.gaps()).toBe(0); // it resumed: nothing was missed

    live.close();
    expect(live.sources[1]!.closed).toBe(true);
  });

  it("backs off, and reads everything again after a reconnect it could not resume", async () => {
    const live = harness();
    await live.settle();
    live.sources[0]!.onopen?.(new Event("open"));
    live.sources[0]!.onerror?.(new Event("error")); // before any event: no position to resume from
    for (let i = 0; i < 3; i++) {
      live.timers.at(-1)!.run();
      await live.settle();
      live.sources.at(-1)!.onerror?.(new Event("error"));
    }
    expect(live.timers.map((t) => t.ms)).toEqual([1000, 2000, 4000, 8000]);
    live.timers.at(-1)!.run();
    await live.settle();
    live.sources.at(-1)!.onopen?.(new Event("open"));
    expect(live.gaps()).toBe(1);
    expect(live.sources.every((s) => !s.url.includes("after_position"))).toBe(true);
    live.close();
  });

  it(`starts afresh after ${RESUME_ATTEMPTS} failed resumptions, and stops when the session ended`, async () => {
    const live = harness();
    await live.settle();
    live.sources[0]!.onopen?.(new Event("open"));
    live.sources[0]!.send("crm.lead.stage_changed", 9);
    live.sources[0]!.onerror?.(new Event("error"));
    for (let i = 0; i < RESUME_ATTEMPTS; i++) {
      live.timers.at(-1)!.run();
      await live.settle();
      expect(live.sources.at(-1)!.url).toContain("after_position=9");
      live.sources.at(-1)!.onerror?.(new Event("error"));
    }
    live.timers.at(-1)!.run();
    await live.settle();
    expect(live.sources.at(-1)!.url).not.toContain("after_position");
    live.sources.at(-1)!.onopen?.(new Event("open"));
    expect(live.gaps()).toBe(1);
    live.close();

    let signal: AbortSignal | undefined;
    const leaving = harness((given?: AbortSignal) => {
      signal = given;
      return new Promise<string>(() => undefined); // still on its way
    });
    leaving.close(); // signing out: the ticket's request is dropped, no stream opens
    expect(signal?.aborted).toBe(true);
    await leaving.settle();
    expect(leaving.sources).toEqual([]);

    const ended = harness(() => Promise.reject("signed out"));
    await ended.settle();
    expect(ended.statuses).toEqual(["connecting", "off"]);
    expect(ended.sources).toEqual([]);
  });
});
