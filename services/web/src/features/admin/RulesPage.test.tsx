import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { Route } from "react-router";

import { I18nProvider } from "../../i18n/I18nProvider";
import { LineEditor, lineStarts } from "./LineEditor";
import { RulesPage } from "./RulesPage";
import { json, renderAdmin, type Sent } from "./testing";

afterEach(cleanup);

const IN_FORCE = '[pipeline]\nstages = ["new", "contacted"]\n';
const BROKEN = '[pipeline]\nstages = ["new", "contacted"]\n\n[follow_up]\ndefault = "a week"\n';
const FIXED = '[pipeline]\nstages = ["new", "contacted"]\n\n[follow_up]\ndefault = "7d"\n';
const PROBLEM = { line: 5, path: "follow_up.default", reason: "not a duration such as 7d" };

function rulesApi(state: { applied?: string; refuse?: boolean } = {}) {
  return (request: Sent): Response => {
    const path = request.url.pathname;
    if (path === "/v1/rules" && request.method === "GET") {
      return json(200, {
        tenant_id: "default",
        version: state.applied ? 2 : 1,
        changed_by: "demo-admin",
        changed_at: "2026-12-01T10:00:00Z",
        source: "web",
        digest: "x",
        rules_toml: state.applied ?? IN_FORCE,
        rules: {},
      });
    }
    if (path === "/v1/rules/history") {
      const changes = [{ version: 1, position: 10, changed_by: "ops-1", changed_at: "2026-12-01T10:00:00Z", source: "api", changed: ["pipeline"], digest: "a" }];
      if (state.applied) changes.unshift({ version: 2, position: 20, changed_by: "demo-admin", changed_at: "2026-12-02T10:00:00Z", source: "web", changed: ["follow_up"], digest: "b" });
      return json(200, { tenant_id: "default", changes });
    }
    if (path === "/v1/rules/check") {
      const text = request.body ?? "";
      if (text.includes("a week")) return json(200, { ok: false, problems: [PROBLEM], changed: [], in_force: false });
      const inForce = text === (state.applied ?? IN_FORCE);
      return json(200, { ok: true, problems: [], changed: inForce ? [] : ["follow_up"], in_force: inForce });
    }
    if (path === "/v1/rules" && request.method === "PUT") {
      if (state.refuse) {
        return json(422, {
          code: "invalid_rules",
          message: "refused",
          details: { problems: [{ line: 2, path: "pipeline.stages", reason: "a stage is listed twice" }] },
        });
      }
      state.applied = request.body;
      return json(200, { tenant_id: "default", version: 2, position: 20, changed: ["follow_up"] });
    }
    return json(404, { code: "not_found", message: "no", details: {} });
  };
}

/** Replace the editor's text, as pasting a file would (each keystroke is checked the same way). */
async function typeInto(area: HTMLElement, text: string) {
  fireEvent.change(area, { target: { value: text } });
}

describe("the rules editor", () => {
  it("shows a broken file's problem at its line, keeps Apply disabled, and jumps to the line", async () => {
    const sent = renderAdmin(<Route path="/admin/rules" element={<RulesPage checkDelayMs={10} />} />, "/admin/rules", rulesApi());
    const area = await screen.findByLabelText("Rules file (TOML)");
    expect((area as HTMLTextAreaElement).value).toBe(IN_FORCE);
    expect(await screen.findByText("No problems: this is the file in force.")).toBeTruthy();

    await typeInto(area, BROKEN);
    expect(await screen.findByText("1 problem(s): fix them before applying.")).toBeTruthy();
    const list = screen.getByRole("list", { name: "Problems in the rules file" });
    expect(within(list).getByText("follow_up.default")).toBeTruthy();
    expect(list.textContent).toContain("not a duration such as 7d");
    expect(area.getAttribute("aria-invalid")).toBe("true");

    const marked = document.querySelectorAll('[data-problem="true"]');
    expect([...marked].map((line) => line.getAttribute("data-line"))).toEqual(["5"]);
    expect((screen.getByRole("button", { name: "Apply" }) as HTMLButtonElement).disabled).toBe(true);

    await userEvent.click(within(list).getByRole("button", { name: "Line 5" }));
    const textarea = area as HTMLTextAreaElement;
    expect(document.activeElement).toBe(textarea);
    expect(textarea.selectionStart).toBe(BROKEN.indexOf("default"));
    expect(BROKEN.slice(textarea.selectionStart, textarea.selectionEnd)).toBe('default = "a week"');

    const checks = sent.filter((r) => r.url.pathname === "/v1/rules/check");
    expect(checks.at(-1)?.body).toBe(BROKEN);
    expect(checks.at(-1)?.contentType).toBe("application/toml");
    expect(sent.some((r) => r.method === "PUT")).toBe(false);
  });

  it("applies a clean file with PUT and shows it in the history", async () => {
    const sent = renderAdmin(<Route path="/admin/rules" element={<RulesPage checkDelayMs={10} />} />, "/admin/rules", rulesApi());
    const area = await screen.findByLabelText("Rules file (TOML)");
    await typeInto(area, FIXED);
    expect(await screen.findByText("No problems. Applying changes: follow_up.")).toBeTruthy();
    const apply = screen.getByRole("button", { name: "Apply" }) as HTMLButtonElement;
    await waitFor(() => expect(apply.disabled).toBe(false));
    await userEvent.click(apply);

    expect(await screen.findByText("Applied: the rules are now version 2.")).toBeTruthy();
    const put = sent.find((r) => r.method === "PUT");
    expect(put?.body).toBe(FIXED);
    expect(put?.contentType).toBe("application/toml");
    const history = await screen.findByRole("table", { name: "History" });
    await waitFor(() => expect(within(history).getAllByRole("row")).toHaveLength(3));
    expect(within(history).getAllByRole("row")[1]?.textContent).toContain("demo-admin");
    expect(apply.disabled).toBe(true);
  });

  it("shows a refused PUT's problems at their lines the same way", async () => {
    renderAdmin(<Route path="/admin/rules" element={<RulesPage checkDelayMs={10} />} />, "/admin/rules", rulesApi({ refuse: true }));
    const area = await screen.findByLabelText("Rules file (TOML)");
    await typeInto(area, FIXED);
    const apply = screen.getByRole("button", { name: "Apply" }) as HTMLButtonElement;
    await waitFor(() => expect(apply.disabled).toBe(false));
    await userEvent.click(apply);
    expect(await screen.findByText("The server refused the file: 1 problem(s).")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Line 2" })).toBeTruthy();
    expect([...document.querySelectorAll('[data-problem="true"]')].map((l) => l.getAttribute("data-line"))).toEqual(["2"]);
  });

  it("is in Chinese too", async () => {
    renderAdmin(<Route path="/admin/rules" element={<RulesPage checkDelayMs={10} />} />, "/admin/rules", rulesApi(), { locale: "zh-CN" });
    const area = await screen.findByLabelText("规则文件（TOML）");
    await typeInto(area, BROKEN);
    expect(await screen.findByRole("button", { name: "第 5 行" })).toBeTruthy();
  });
});

describe("the line editor", () => {
  it("numbers every line and knows where each starts", () => {
    expect(lineStarts("a\nbb\n\nc")).toEqual([0, 2, 5, 6]);
    render(
      <I18nProvider locale="en">
        <LineEditor label="Text" value={"a\nb\nc"} onChange={() => undefined} problems={[{ line: 2, path: "", reason: "x" }, { line: null, path: "", reason: "y" }]} />
      </I18nProvider>,
    );
    const numbers = [...document.querySelectorAll("[data-line]")].map((n) => n.getAttribute("data-line"));
    expect(numbers).toEqual(["1", "2", "3"]);
    expect(document.querySelector('[data-line="2"]')?.getAttribute("data-problem")).toBe("true");
  });
});
