import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState } from "react";

import type { components } from "../../api/schema";
import { ApiError } from "../../api/errors";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n } from "../../i18n/I18nProvider";
import { LineEditor, type LineEditorHandle, type Problem } from "./LineEditor";

type Checked = components["schemas"]["RulesChecked"];
type Applied = components["schemas"]["RulesChanged"];

const TOML = "application/toml";
export const RULES_QUERIES = { rules: ["admin", "rules"], history: ["admin", "rules", "history"] } as const;

/** Problems of a refused PUT (`details.problems`), if that is what refused it. */
export function problemsOf(error: unknown): Problem[] | null {
  if (!(error instanceof ApiError) || error.code !== "invalid_rules") return null;
  const listed = error.details["problems"];
  if (!Array.isArray(listed)) return null;
  return listed.map((p: Record<string, unknown>) => ({
    line: typeof p["line"] === "number" ? p["line"] : null,
    path: typeof p["path"] === "string" ? p["path"] : "",
    reason: typeof p["reason"] === "string" ? p["reason"] : "",
  }));
}

/** The tenant's rules file: checked as it is typed, applied only when the check is clean. */
export function RulesPage({ checkDelayMs = 400 }: { checkDelayMs?: number }) {
  const { t, dateTime } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  const editor = useRef<LineEditorHandle>(null);
  const problemsId = useId();
  const historyId = useId();
  const rules = useQuery({ queryKey: RULES_QUERIES.rules, queryFn: () => client.get("/v1/rules") });
  const history = useQuery({ queryKey: RULES_QUERIES.history, queryFn: () => client.get("/v1/rules/history") });
  const [text, setText] = useState<string | null>(null);
  const [checked, setChecked] = useState<{ text: string; result: Checked } | null>(null);
  const [refused, setRefused] = useState<{ text: string; problems: Problem[] } | null>(null);
  const [checkError, setCheckError] = useState<string | null>(null);
  const [applyError, setApplyError] = useState<string | null>(null);
  const [applying, setApplying] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const sequence = useRef(0);

  useEffect(() => {
    if (text === null && rules.data) setText(rules.data.rules_toml);
  }, [text, rules.data]);

  async function check(value: string): Promise<Checked | null> {
    const mine = ++sequence.current;
    try {
      const result = await client.sendText<Checked>("POST", "/v1/rules/check", value, TOML);
      if (mine === sequence.current) {
        setChecked({ text: value, result });
        setCheckError(null);
      }
      return result;
    } catch (error) {
      if (mine === sequence.current) setCheckError(errorText(error, t));
      return null;
    }
  }

  useEffect(() => {
    if (text === null) return;
    const timer = setTimeout(() => void check(text), checkDelayMs);
    return () => clearTimeout(timer);
    // check() reads only the client and t, which do not change while the page is open.
  }, [text, checkDelayMs]);

  if (rules.isPending) return <p role="status">{t("app.loading")}</p>;
  if (rules.isError) {
    return (
      <p role="alert" className="notice notice--error">
        {errorText(rules.error, t)}
      </p>
    );
  }
  const value = text ?? rules.data.rules_toml;
  const current = checked?.text === value ? checked.result : null;
  const problems: readonly Problem[] =
    refused?.text === value ? refused.problems : (current?.problems ?? checked?.result.problems ?? []);
  const canApply = current !== null && current.ok && !current.in_force && !applying;

  async function apply() {
    setApplyError(null);
    setApplying(true);
    try {
      const result = await check(value); // once more, right before applying
      if (!result || !result.ok) return;
      const applied = await client.sendText<Applied>("PUT", "/v1/rules?source=web", value, TOML);
      setChecked({ text: value, result: { ok: true, problems: [], changed: [], in_force: true } });
      setRefused(null);
      setAnnouncement(t("admin.rules.applied", { version: applied.version }));
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: [...RULES_QUERIES.rules] }),
        queryClient.invalidateQueries({ queryKey: [...RULES_QUERIES.history] }),
      ]);
    } catch (error) {
      const listed = problemsOf(error);
      if (listed) setRefused({ text: value, problems: listed });
      else setApplyError(errorText(error, t));
    } finally {
      setApplying(false);
    }
  }

  function edit(next: string) {
    setText(next);
    setAnnouncement("");
  }

  let status: string;
  if (checkError) status = checkError;
  else if (refused?.text === value) status = t("admin.rules.refused", { count: refused.problems.length });
  else if (!current) status = t("admin.rules.checking");
  else if (!current.ok) status = t("admin.rules.problems", { count: current.problems.length });
  else if (current.in_force) status = t("admin.rules.inForce");
  else
    status = t("admin.rules.clean", {
      changed: current.changed.length ? current.changed.join(", ") : t("admin.rules.nothingNamed"),
    });

  const version = rules.data.version;
  return (
    <div className="admin-rules">
      <h2>{t("admin.rules.title")}</h2>
      <p>
        {version === 0
          ? t("admin.rules.builtIn")
          : t("admin.rules.version", {
              version,
              who: rules.data.changed_by ?? "",
              when: rules.data.changed_at ? dateTime(rules.data.changed_at) : "",
            })}
      </p>
      <p>{t("admin.rules.intro")}</p>
      <LineEditor
        ref={editor}
        label={t("admin.rules.file")}
        value={value}
        onChange={edit}
        problems={problems}
        describedBy={problemsId}
      />
      <div id={problemsId} className="admin-rules__check">
        <p role="status" className={problems.length > 0 ? "notice notice--error" : "live-status"}>
          {status}
        </p>
        {problems.length > 0 && (
          <ul className="problem-list" aria-label={t("admin.rules.problemList")}>
            {problems.map((problem, index) => (
              <li key={`${problem.line}-${problem.path}-${index}`}>
                <button
                  type="button"
                  className="button--link"
                  disabled={problem.line === null}
                  onClick={() => problem.line !== null && editor.current?.goToLine(problem.line)}
                >
                  {problem.line === null ? t("admin.rules.wholeFile") : t("admin.rules.line", { line: problem.line })}
                </button>{" "}
                {problem.path && <code>{problem.path}</code>} {problem.reason}
              </li>
            ))}
          </ul>
        )}
      </div>
      <div className="form-actions">
        <button type="button" onClick={() => void apply()} disabled={!canApply}>
          {applying ? t("admin.rules.applying") : t("admin.rules.apply")}
        </button>
        <button
          type="button"
          className="button--secondary"
          onClick={() => edit(rules.data.rules_toml)}
          disabled={value === rules.data.rules_toml}
        >
          {t("admin.rules.reset")}
        </button>
      </div>
      {applyError && (
        <p role="alert" className="notice notice--error">
          {applyError}
        </p>
      )}
      <p role="status" className="live-status">
        {announcement}
      </p>

      <h2 id={historyId}>{t("admin.rules.history")}</h2>
      {history.isPending ? (
        <p role="status">{t("app.loading")}</p>
      ) : history.isError ? (
        <p role="alert" className="notice notice--error">
          {errorText(history.error, t)}
        </p>
      ) : history.data.changes.length === 0 ? (
        <p>{t("admin.rules.noHistory")}</p>
      ) : (
        <div className="table-scroll">
          <table className="data-table" aria-labelledby={historyId}>
            <thead>
              <tr>
                <th scope="col">{t("admin.rules.col.version")}</th>
                <th scope="col">{t("admin.rules.col.by")}</th>
                <th scope="col">{t("admin.rules.col.when")}</th>
                <th scope="col">{t("admin.rules.col.source")}</th>
                <th scope="col">{t("admin.rules.col.changed")}</th>
              </tr>
            </thead>
            <tbody>
              {history.data.changes.map((change) => (
                <tr key={change.version}>
                  <th scope="row">{change.version}</th>
                  <td>{change.changed_by}</td>
                  <td>{dateTime(change.changed_at)}</td>
                  <td>{change.source}</td>
                  <td>{change.changed.join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
