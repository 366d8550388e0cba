import { act, cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { I18nProvider, useI18n, type I18n } from "./I18nProvider";

afterEach(() => {
  cleanup();
  window.localStorage.clear();
});

function Probe({ expose }: { expose: (i18n: I18n) => void }) {
  const i18n = useI18n();
  expose(i18n);
  return <p data-testid="locale">{i18n.locale}</p>;
}

describe("the language of each user", () => {
  it("keeps each person's choice on a shared browser and applies it when they sign in", () => {
    let i18n!: I18n;
    render(
      <I18nProvider>
        <Probe expose={(found) => (i18n = found)} />
      </I18nProvider>,
    );
    const shown = () => screen.getByTestId("locale").textContent;
    act(() => i18n.setUser("default", "rep-1"));
    act(() => i18n.setLocale("zh-CN"));
    expect(shown()).toBe("zh-CN");
    act(() => i18n.setUser(null));
    act(() => i18n.setUser("default", "manager-1"));
    act(() => i18n.setLocale("en"));
    expect(shown()).toBe("en");
    act(() => i18n.setUser(null));
    act(() => i18n.setUser("default", "rep-1"));
    expect(shown()).toBe("zh-CN");
    act(() => i18n.setUser("default", "agent-1")); // no choice of their own: as the browser was left
    expect(shown()).toBe("zh-CN");
  });
});
