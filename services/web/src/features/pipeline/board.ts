/**
 * The pipeline board's pure parts: the tenant's stages from its rules, which lead sits in
 * which column (with the moves not yet confirmed), the days a lead has spent in its stage.
 */
import type { MessageKey } from "../../i18n/messages";

export const BUILT_IN_STAGES = ["new", "contacted", "qualified", "proposal", "negotiation"] as const;
export const WON = "won";
export const LOST = "lost";

const STAGE_KEYS: Record<string, MessageKey> = {
  new: "pipeline.stage.new",
  contacted: "pipeline.stage.contacted",
  qualified: "pipeline.stage.qualified",
  proposal: "pipeline.stage.proposal",
  negotiation: "pipeline.stage.negotiation",
  won: "pipeline.stage.won",
  lost: "pipeline.stage.lost",
};

/** A stage's name in the user's language; a tenant's own stage as its rules spell it. */
export function stageLabel(t: (key: MessageKey) => string, stage: string): string {
  const key = STAGE_KEYS[stage];
  return key ? t(key) : stage;
}

/** The open stages of the tenant's pipeline from GET /v1/rules' `rules`, else the built-in. */
export function openStagesOf(rules: Record<string, unknown> | undefined): string[] {
  const pipeline = rules?.["pipeline"];
  if (typeof pipeline === "object" && pipeline !== null) {
    const stages = (pipeline as Record<string, unknown>)["stages"];
    if (Array.isArray(stages) && stages.length > 0 && stages.every((s) => typeof s === "string")) {
      return stages as string[];
    }
  }
  return [...BUILT_IN_STAGES];
}

/** Whole days from `since` to `now` (never below zero). */
export function daysSince(since: string, now: number): number {
  const start = Date.parse(since);
  if (Number.isNaN(start)) return 0;
  return Math.max(0, Math.floor((now - start) / 86_400_000));
}

/** Which refused gate an API refusal is: the budget, the amount, or another rule. */
export function gateOf(rule: string | undefined): "budget" | "amount" | "discount" | null {
  if (!rule) return null;
  if (rule.endsWith("_requires_confirmed_budget")) return "budget";
  if (rule.endsWith("_requires_amount")) return "amount";
  if (rule.endsWith("_requires_discount_approval")) return "discount";
  return null;
}

/** Each column's leads: a lead moved but not yet confirmed shows in the column it goes to. */
export function columnsOf<L extends { lead_id: string; stage: string }>(
  stages: readonly string[],
  leads: readonly L[],
  moved: Readonly<Record<string, string>>,
): Record<string, L[]> {
  const columns: Record<string, L[]> = Object.fromEntries(stages.map((stage) => [stage, [] as L[]]));
  const seen = new Set<string>();
  for (const lead of leads) {
    if (seen.has(lead.lead_id)) continue;
    seen.add(lead.lead_id);
    const stage = moved[lead.lead_id] ?? lead.stage;
    columns[stage]?.push(lead);
  }
  return columns;
}
