import {
  DndContext,
  KeyboardSensor,
  PointerSensor,
  closestCenter,
  useDraggable,
  useDroppable,
  useSensor,
  useSensors,
  type Announcements,
  type CollisionDetection,
  type DragEndEvent,
  type KeyboardCoordinateGetter,
} from "@dnd-kit/core";
import { useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useOutletContext, useSearchParams } from "react-router";

import type { GetResult } from "../../api/client";
import { ApiError } from "../../api/errors";
import type { components } from "../../api/schema";
import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useLivePosition } from "../../app/LiveUpdates";
import { useI18n } from "../../i18n/I18nProvider";
import { LOST, WON, columnsOf, daysSince, gateOf, openStagesOf, stageLabel } from "./board";

type Lead = GetResult<"/v1/leads">["items"][number];
type Accepted = components["schemas"]["CommandAccepted"];
const PAGE = 50;
const COLUMN = "column:";

/** A move waiting for the user: a reason to lose the lead, or the confirmation to win it. */
interface Asking {
  lead: Lead;
  to: string;
}
/** A move the API refused, shown on its card. */
interface Refusal {
  to: string;
  error: unknown;
}

function without<V>(record: Record<string, V>, key: string): Record<string, V> {
  const rest = { ...record };
  delete rest[key];
  return rest;
}

export function ownerFrom(params: URLSearchParams): { choice: "me" | "all" | "person"; person: string } {
  const owner = params.get("owner") ?? "me";
  if (owner === "me" || owner === "") return { choice: "me", person: "" };
  if (owner === "all") return { choice: "all", person: "" };
  return { choice: "person", person: owner };
}

/** The pipeline: one column per open stage plus won and lost; drag a card to move its lead. */
export function PipelinePage() {
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const owner = ownerFrom(params);
  const ownerQuery = owner.choice === "all" ? undefined : owner.choice === "me" ? "me" : owner.person || "me";
  const [personDraft, setPersonDraft] = useState(owner.person);
  const ids = { owner: useId(), person: useId() };
  const seen = useRef<number | undefined>(undefined);
  const [moved, setMoved] = useState<Record<string, string>>({});
  const [refused, setRefused] = useState<Record<string, Refusal>>({});
  const [asking, setAsking] = useState<Asking | null>(null);
  const [status, setStatus] = useState("");
  const canWork = me.permissions["leads.work"] !== undefined;
  // Reads wait for this page's own last write and for the latest live event of the leads.
  const livePosition = useLivePosition("leads");
  const readAfter = () => livePosition(seen.current);
  const wrote = (position: number) => {
    seen.current = Math.max(seen.current ?? 0, position);
  };

  const rules = useQuery({
    queryKey: ["pipeline", "rules"],
    queryFn: ({ signal }) => client.get("/v1/rules", { signal }),
    retry: false,
    staleTime: 300_000,
  });
  const openStages = rules.isPending ? [] : openStagesOf(rules.data?.rules);
  const stages = openStages.length ? [...openStages, WON, LOST] : [];

  const columns = useQueries({
    queries: stages.map((stage) => ({
      queryKey: ["pipeline", "leads", stage, ownerQuery ?? null],
      queryFn: ({ signal }: { signal: AbortSignal }) =>
        client.get("/v1/leads", {
          query: {
            stage: [stage],
            open: stage === WON || stage === LOST ? false : true,
            owner: ownerQuery,
            sort: "stage_entered_at" as const,
            limit: PAGE,
            min_position: readAfter(),
          },
          signal,
        }),
    })),
  });
  const failed = columns.find((column) => column.isError);
  const leads = columns.flatMap((column) => column.data?.items ?? []);
  const byColumn = columnsOf(stages, leads, moved);
  const leadById = useMemo(() => new Map(leads.map((lead) => [lead.lead_id, lead])), [leads]);
  const label = (stage: string) => stageLabel(t, stage);

  // Keyboard dragging goes column by column: the arrow keys pick the next or previous column.
  const keyboardTarget = useRef<string | null>(null);
  const stagesRef = useRef<string[]>(stages);
  stagesRef.current = stages;
  const coordinateGetter: KeyboardCoordinateGetter = (event, { active, context, currentCoordinates }) => {
    const step = event.code === "ArrowRight" || event.code === "ArrowDown" ? 1 : event.code === "ArrowLeft" || event.code === "ArrowUp" ? -1 : 0;
    if (step === 0) return undefined;
    const order = stagesRef.current;
    const lead = leadById.get(String(active));
    const from = keyboardTarget.current ?? (lead ? COLUMN + (moved[lead.lead_id] ?? lead.stage) : null);
    const index = from ? order.indexOf(from.slice(COLUMN.length)) : -1;
    const next = order[Math.min(order.length - 1, Math.max(0, index + step))];
    if (!next) return undefined;
    keyboardTarget.current = COLUMN + next;
    const rect = context.droppableRects.get(COLUMN + next);
    const here = context.collisionRect;
    if (!rect || !here) return { x: currentCoordinates.x + step, y: currentCoordinates.y };
    const dx = rect.left + rect.width / 2 - (here.left + here.width / 2);
    return { x: currentCoordinates.x + (dx || step), y: currentCoordinates.y };
  };
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 5 } }),
    useSensor(KeyboardSensor, { coordinateGetter }),
  );
  const collisionDetection: CollisionDetection = (args) => {
    if (!args.pointerCoordinates && keyboardTarget.current) return [{ id: keyboardTarget.current }];
    return closestCenter(args);
  };

  const titleOf = (id: unknown) => leadById.get(String(id))?.title ?? "";
  const stageOfOver = (id: unknown) => (typeof id === "string" && id.startsWith(COLUMN) ? id.slice(COLUMN.length) : "");
  const announcements: Announcements = {
    onDragStart: ({ active }) => t("pipeline.announce.start", { title: titleOf(active.id) }),
    onDragOver: ({ active, over }) =>
      over ? t("pipeline.announce.over", { title: titleOf(active.id), stage: label(stageOfOver(over.id)) }) : undefined,
    onDragEnd: ({ active, over }) =>
      over
        ? t("pipeline.announce.end", { title: titleOf(active.id), stage: label(stageOfOver(over.id)) })
        : t("pipeline.announce.cancel", { title: titleOf(active.id) }),
    onDragCancel: ({ active }) => t("pipeline.announce.cancel", { title: titleOf(active.id) }),
  };

  async function move(
    lead: Lead,
    to: string,
    extra: { reason?: string; budget_confirmed?: boolean } = {},
    version: number = lead.version,
  ) {
    setMoved((current) => ({ ...current, [lead.lead_id]: to }));
    setRefused((current) => without(current, lead.lead_id));
    setStatus("");
    try {
      // The version the card shows: if someone else changed the lead since, the API says 409.
      const accepted = await client.send<Accepted>("POST", `/v1/leads/${encodeURIComponent(lead.lead_id)}/stage`, {
        stage: to,
        expected_version: version,
        ...extra,
      });
      wrote(accepted.position);
      await queryClient.invalidateQueries({ queryKey: ["pipeline", "leads"] });
      setStatus(t("pipeline.moved", { title: lead.title, stage: label(to) }));
    } catch (error) {
      setRefused((current) => ({ ...current, [lead.lead_id]: { to, error } }));
      setStatus(t("pipeline.refused", { title: lead.title, stage: label(to) }));
      if (error instanceof ApiError && error.status === 409) {
        // Show the card as it is now.
        void queryClient.invalidateQueries({ queryKey: ["pipeline", "leads"] });
        void queryClient.invalidateQueries({ queryKey: ["pipeline", "lead", lead.lead_id] });
      }
    } finally {
      setMoved((current) => without(current, lead.lead_id));
    }
  }

  async function setAmountAndMove(lead: Lead, to: string, amount: string, currency: string) {
    let version = lead.version;
    try {
      const accepted = await client.send<Accepted>("POST", `/v1/leads/${encodeURIComponent(lead.lead_id)}/amount`, {
        amount,
        currency,
        expected_version: version,
      });
      wrote(accepted.position);
      version = accepted.version;
    } catch (error) {
      setRefused((current) => ({ ...current, [lead.lead_id]: { to, error } }));
      return;
    }
    await move(lead, to, {}, version);
  }

  function dropped(event: DragEndEvent) {
    keyboardTarget.current = null;
    const lead = leadById.get(String(event.active.id));
    const to = event.over ? stageOfOver(event.over.id) : "";
    if (!lead || !to || to === (moved[lead.lead_id] ?? lead.stage)) return;
    if (to === LOST || to === WON) {
      setAsking({ lead, to });
      return;
    }
    void move(lead, to);
  }

  function chooseOwner(choice: string, person = "") {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (choice === "me") next.delete("owner");
        else next.set("owner", choice === "all" ? "all" : person);
        return next;
      },
      { replace: true },
    );
  }

  return (
    <section aria-labelledby="page-title" className="pipeline">
      <h1 id="page-title">{t("nav.pipeline")}</h1>
      <form
        className="filters"
        aria-label={t("pipeline.filters")}
        onSubmit={(event) => {
          event.preventDefault();
          if (owner.choice === "person" || personDraft.trim()) chooseOwner("person", personDraft.trim());
        }}
      >
        <div className="filters__field">
          <label htmlFor={ids.owner}>{t("pipeline.owner")}</label>
          <select
            id={ids.owner}
            value={owner.choice}
            onChange={(e) => chooseOwner(e.target.value, personDraft.trim() || me.subject)}
          >
            <option value="me">{t("pipeline.owner.me")}</option>
            <option value="person">{t("pipeline.owner.person")}</option>
            <option value="all">{t("pipeline.owner.all")}</option>
          </select>
        </div>
        {owner.choice === "person" && (
          <div className="filters__field">
            <label htmlFor={ids.person}>{t("pipeline.person")}</label>
            <span className="inline-form">
              <input id={ids.person} value={personDraft} onChange={(e) => setPersonDraft(e.target.value)} />
              <button type="submit" className="button--secondary">
                {t("pipeline.show")}
              </button>
            </span>
          </div>
        )}
      </form>
      {rules.isError && <p className="muted">{t("pipeline.builtInStages")}</p>}
      {canWork && <p className="muted">{t("pipeline.howTo")}</p>}
      <p role="status" className="live-status">
        {status}
      </p>
      {failed && (
        <p role="alert" className="notice notice--error">
          {errorText(failed.error, t)}
        </p>
      )}
      {asking && (
        <CloseLead
          asking={asking}
          onCancel={() => {
            const leadId = asking.lead.lead_id;
            setAsking(null);
            focusHandle(leadId);
          }}
          onConfirm={(reason) => {
            const { lead, to } = asking;
            setAsking(null);
            void move(lead, to, to === LOST ? { reason } : {});
          }}
        />
      )}
      {stages.length === 0 ? (
        <p role="status">{t("app.loading")}</p>
      ) : (
        <DndContext
          sensors={sensors}
          collisionDetection={collisionDetection}
          onDragStart={() => {
            keyboardTarget.current = null;
          }}
          onDragEnd={dropped}
          onDragCancel={() => {
            keyboardTarget.current = null;
          }}
          accessibility={{ announcements, screenReaderInstructions: { draggable: t("pipeline.instructions") } }}
        >
          <div className="board">
            {stages.map((stage, index) => (
              <Column
                key={stage}
                stage={stage}
                leads={byColumn[stage] ?? []}
                loading={columns[index]?.isPending ?? true}
                canWork={canWork}
                me={me}
                readAfter={readAfter}
                onWritten={wrote}
                onAnnounce={setStatus}
                refused={refused}
                onRetry={(lead, to, extra) => void move(lead, to, extra)}
                onAmount={(lead, to, amount, currency) => void setAmountAndMove(lead, to, amount, currency)}
                onDismiss={(lead) => setRefused((current) => without(current, lead.lead_id))}
              />
            ))}
          </div>
        </DndContext>
      )}
    </section>
  );
}

interface CardActions {
  canWork: boolean;
  me: Me;
  /** `min_position` for the page's reads. */
  readAfter: () => number | undefined;
  onWritten: (position: number) => void;
  onAnnounce: (message: string) => void;
  refused: Record<string, Refusal>;
  onRetry: (lead: Lead, to: string, extra?: { budget_confirmed?: boolean }) => void;
  onAmount: (lead: Lead, to: string, amount: string, currency: string) => void;
  onDismiss: (lead: Lead) => void;
}

function Column(props: CardActions & { stage: string; leads: Lead[]; loading: boolean }) {
  const { t } = useI18n();
  const { setNodeRef, isOver } = useDroppable({ id: COLUMN + props.stage });
  const titleId = useId();
  return (
    <section
      ref={setNodeRef}
      aria-labelledby={titleId}
      className={`board__column${isOver ? " board__column--over" : ""}`}
      data-stage={props.stage}
    >
      <h2 id={titleId} className="board__title">
        {stageLabel(t, props.stage)} <span className="muted">({props.leads.length})</span>
      </h2>
      {props.loading ? (
        <p role="status">{t("app.loading")}</p>
      ) : props.leads.length === 0 ? (
        <p className="muted">{t("pipeline.empty")}</p>
      ) : (
        <ul className="board__cards">
          {props.leads.map((lead) => (
            <Card key={lead.lead_id} lead={lead} {...props} />
          ))}
        </ul>
      )}
    </section>
  );
}

function Card(props: CardActions & { lead: Lead }) {
  const { lead, canWork } = props;
  const { t, money, locale } = useI18n();
  const closed = lead.stage === WON || lead.stage === LOST;
  const { attributes, listeners, setNodeRef, setActivatorNodeRef, transform, isDragging } = useDraggable({
    id: lead.lead_id,
    disabled: !canWork || closed,
  });
  const refusal = props.refused[lead.lead_id];
  const days = daysSince(lead.stage_entered_at, Date.now());
  const dayText = new Intl.NumberFormat(locale, { style: "unit", unit: "day", unitDisplay: "long" }).format(days);
  const customer = lead.customer_name ?? lead.customer_company ?? lead.customer_external_ref ?? t("ticket.customerUnnamed");
  const style = transform ? { transform: `translate3d(${transform.x}px, ${transform.y}px, 0)` } : undefined;
  const [discountsOpen, setDiscountsOpen] = useState(false);
  const discountsId = useId();
  const canSeeDiscounts =
    props.me.permissions["discounts.request"] !== undefined || props.me.permissions["discounts.decide"] !== undefined;
  return (
    <li
      ref={setNodeRef}
      style={style}
      className={`board__card${isDragging ? " board__card--dragging" : ""}`}
      data-lead={lead.lead_id}
    >
      <div className="board__card-head">
        <span className="item__title">{lead.title}</span>
        {canWork && !closed && (
          <button
            type="button"
            ref={setActivatorNodeRef}
            className="button--secondary button--small board__handle"
            {...attributes}
            {...listeners}
            aria-label={t("pipeline.drag", { title: lead.title })}
          >
            ⠿
          </button>
        )}
      </div>
      <Link to={`/customers/${encodeURIComponent(lead.customer_id)}`}>{customer}</Link>
      <span className="item__meta">
        {lead.amount ? money(lead.amount, lead.currency) : t("pipeline.noAmount")} ·{" "}
        {t("pipeline.daysInStage", { days: dayText })}
      </span>
      {lead.stale && <span className="badge badge--warning">{t("lead.stale")}</span>}
      {lead.follow_up_overdue && <span className="badge badge--warning">{t("lead.followUpOverdue")}</span>}
      {canSeeDiscounts && (
        <button
          type="button"
          className="button--secondary button--small"
          aria-expanded={discountsOpen}
          aria-controls={discountsOpen ? discountsId : undefined}
          aria-label={t("pipeline.discountsOf", { title: lead.title })}
          onClick={() => setDiscountsOpen((open) => !open)}
        >
          {t("pipeline.discounts")}
        </button>
      )}
      {discountsOpen && (
        <Discounts id={discountsId} {...props} lead={lead} closed={closed} onClose={() => setDiscountsOpen(false)} />
      )}
      {refusal && <RefusalNote {...props} lead={lead} refusal={refusal} />}
    </li>
  );
}

function RefusalNote(props: CardActions & { lead: Lead; refusal: Refusal }) {
  const { lead, refusal } = props;
  const { t } = useI18n();
  const amountId = useId();
  const currencyId = useId();
  const [amount, setAmount] = useState(lead.amount ?? "");
  const [currency, setCurrency] = useState(lead.currency ?? "");
  const error = refusal.error;
  const gate = error instanceof ApiError && error.code === "rule_violation" ? gateOf(error.rule) : null;
  const conflict = error instanceof ApiError && error.status === 409;
  const message = conflict
    ? t("pipeline.conflict")
    : error instanceof ApiError && error.status === 422
      ? error.message
      : errorText(error, t);
  const stage = stageLabel(t, refusal.to);

  function submitAmount(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (amount.trim() && currency.trim()) props.onAmount(lead, refusal.to, amount.trim(), currency.trim().toUpperCase());
  }

  return (
    <div className="notice notice--error board__refusal" role="alert">
      <p>{t("pipeline.refusedOn", { stage, message })}</p>
      {gate === "budget" && (
        <button type="button" onClick={() => props.onRetry(lead, refusal.to, { budget_confirmed: true })}>
          {t("pipeline.confirmBudget")}
        </button>
      )}
      {gate === "amount" && (
        <form className="board__amount" onSubmit={submitAmount} aria-label={t("pipeline.amountForm")}>
          <label htmlFor={amountId}>{t("lead.amount")}</label>
          <input id={amountId} inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
          <label htmlFor={currencyId}>{t("pipeline.currency")}</label>
          <input id={currencyId} required maxLength={3} value={currency} onChange={(e) => setCurrency(e.target.value)} />
          <button type="submit">{t("pipeline.setAmountAndMove")}</button>
        </form>
      )}
      {gate === "discount" && <p>{t("pipeline.discountHint")}</p>}
      <button type="button" className="button--secondary button--small" onClick={() => props.onDismiss(lead)}>
        {t("pipeline.dismiss")}
      </button>
    </div>
  );
}

/** Back to the card's drag handle once the won/lost question closes without a move. */
function focusHandle(leadId: string) {
  requestAnimationFrame(() => {
    const card = Array.from(document.querySelectorAll<HTMLElement>("[data-lead]")).find((node) => node.dataset.lead === leadId);
    card?.querySelector<HTMLElement>(".board__handle")?.focus();
  });
}

function CloseLead(props: { asking: Asking; onCancel: () => void; onConfirm: (reason: string) => void }) {
  const { lead, to } = props.asking;
  const { t } = useI18n();
  const reasonId = useId();
  const titleId = useId();
  const [reason, setReason] = useState("");
  const lost = to === LOST;
  const first = useRef<HTMLInputElement & HTMLButtonElement>(null);

  // The board gives the focus back to the dropped card's handle one frame after a drop: the
  // question takes it after that.
  useEffect(() => {
    let inner = 0;
    const outer = requestAnimationFrame(() => {
      inner = requestAnimationFrame(() => first.current?.focus());
    });
    return () => {
      cancelAnimationFrame(outer);
      cancelAnimationFrame(inner);
    };
  }, []);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (lost && !reason.trim()) return;
    props.onConfirm(reason.trim());
  }

  return (
    <form
      className="panel board__ask"
      aria-labelledby={titleId}
      onSubmit={submit}
      onKeyDown={(event) => {
        if (event.key !== "Escape") return;
        event.preventDefault();
        props.onCancel();
      }}
    >
      <h2 id={titleId}>{t(lost ? "pipeline.loseTitle" : "pipeline.winTitle", { title: lead.title })}</h2>
      {lost && (
        <div className="field">
          <label htmlFor={reasonId}>{t("pipeline.lostReason")}</label>
          <input ref={first} id={reasonId} required autoFocus value={reason} onChange={(e) => setReason(e.target.value)} />
        </div>
      )}
      <div className="inline-form">
        <button type="submit" ref={lost ? undefined : first} autoFocus={!lost}>
          {t(lost ? "pipeline.markLost" : "pipeline.markWon")}
        </button>
        <button type="button" className="button--secondary" onClick={props.onCancel}>
          {t("pipeline.cancel")}
        </button>
      </div>
    </form>
  );
}

type Discount = components["schemas"]["LeadDiscount"];

/** A lead's discounts (from its page, refreshed live): their state, a request form for who
 * may ask, and approve / reject for who may decide one someone else asked for. */
function Discounts(props: CardActions & { id: string; lead: Lead; closed: boolean; onClose: () => void }) {
  const { lead, me } = props;
  const { t, locale } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  const percentId = useId();
  const reasonId = useId();
  const [percent, setPercent] = useState("");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const canRequest = me.permissions["discounts.request"] !== undefined && !props.closed;
  const canDecide = me.permissions["discounts.decide"] !== undefined && !props.closed;
  const detail = useQuery({
    queryKey: ["pipeline", "lead", lead.lead_id],
    queryFn: ({ signal }) =>
      client.get("/v1/leads/{lead_id}", {
        path: { lead_id: lead.lead_id },
        query: { min_position: props.readAfter() },
        signal,
      }),
  });
  const percentText = (value: string) =>
    new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 4 }).format(Number(value) / 100);

  async function write(path: string, body: Record<string, unknown>, message: string): Promise<boolean> {
    setBusy(true);
    setFailure(null);
    try {
      const accepted = await client.send<Accepted>("POST", path, body);
      props.onWritten(accepted.position);
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: ["pipeline", "lead", lead.lead_id] }),
        queryClient.invalidateQueries({ queryKey: ["pipeline", "leads"] }),
      ]);
      props.onAnnounce(message);
      return true;
    } catch (error) {
      setFailure(error);
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function request(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const value = percent.trim();
    if (!value) return;
    const done = await write(
      `/v1/leads/${encodeURIComponent(lead.lead_id)}/discounts`,
      { percent: value, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      t("pipeline.discountRequested", { percent: percentText(value), title: lead.title }),
    );
    if (done) {
      setPercent("");
      setReason("");
    }
  }

  function decide(discount: Discount, approve: boolean) {
    const path = `/v1/leads/${encodeURIComponent(lead.lead_id)}/discounts/${encodeURIComponent(discount.discount_id)}/${approve ? "approve" : "reject"}`;
    const values = { percent: percentText(discount.percent), title: lead.title };
    void write(path, {}, t(approve ? "pipeline.discountApproved" : "pipeline.discountRejected", values));
  }

  function state(discount: Discount): string {
    const who = discount.decided_by ?? "";
    switch (discount.status) {
      case "pending":
        return discount.approver
          ? t("pipeline.discount.pendingBy", { approver: discount.approver })
          : t("pipeline.discount.pending");
      case "approved":
        return t("pipeline.discount.approved", { who });
      case "rejected":
        return t("pipeline.discount.rejected", { who });
      default:
        return t("pipeline.discount.applied");
    }
  }

  const discounts = detail.data?.discounts ?? [];
  return (
    <section id={props.id} className="board__discounts" aria-label={t("pipeline.discountsOf", { title: lead.title })}>
      {detail.isPending ? (
        <p role="status">{t("app.loading")}</p>
      ) : detail.isError ? (
        <p role="alert" className="notice notice--error">
          {errorText(detail.error, t)}
        </p>
      ) : discounts.length === 0 ? (
        <p className="muted">{t("pipeline.noDiscounts")}</p>
      ) : (
        <ul className="board__discount-list">
          {discounts.map((discount) => (
            <li key={discount.discount_id} data-status={discount.status}>
              <span>{t("pipeline.discountItem", { percent: percentText(discount.percent), who: discount.requested_by })}</span>{" "}
              <span className={`badge${discount.status === "pending" ? " badge--warning" : ""}`}>{state(discount)}</span>
              {discount.status === "pending" && canDecide && discount.requested_by !== me.subject && (
                <span className="inline-form">
                  <button type="button" disabled={busy} onClick={() => decide(discount, true)}>
                    {t("pipeline.approveDiscount", { percent: percentText(discount.percent) })}
                  </button>
                  <button type="button" className="button--secondary" disabled={busy} onClick={() => decide(discount, false)}>
                    {t("pipeline.rejectDiscount", { percent: percentText(discount.percent) })}
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {canRequest && (
        <form className="board__discount-form" onSubmit={request} aria-label={t("pipeline.requestDiscount")}>
          <label htmlFor={percentId}>{t("pipeline.discountPercent")}</label>
          <input
            id={percentId}
            inputMode="decimal"
            required
            pattern="[0-9]+([.][0-9]+)?"
            value={percent}
            onChange={(e) => setPercent(e.target.value)}
          />
          <label htmlFor={reasonId}>{t("pipeline.discountReason")}</label>
          <input id={reasonId} maxLength={200} value={reason} onChange={(e) => setReason(e.target.value)} />
          <button type="submit" disabled={busy}>
            {t("pipeline.requestDiscount")}
          </button>
        </form>
      )}
      {failure !== null && (
        <p role="alert" className="notice notice--error">
          {failure instanceof ApiError && failure.status === 422 ? failure.message : errorText(failure, t)}
        </p>
      )}
      <button type="button" className="button--secondary button--small" onClick={props.onClose}>
        {t("pipeline.closeDiscounts")}
      </button>
    </section>
  );
}
