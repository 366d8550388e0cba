import { describe, expect, it } from "vitest";

import { formatters, initialLocale, localeFor, translate } from "./i18n";
import { LOCALES, MESSAGES, en } from "./messages";

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("messages", () => {
  const keys = Object.keys(en) as (keyof typeof en)[];

  it.each(LOCALES)("in %s has every key, none empty or left in English by mistake", (locale) => {
    const messages = MESSAGES[locale];
    expect(Object.keys(messages).sort()).toEqual([...keys].sort());
    for (const key of keys) expect(messages[key].trim(), key).not.toBe("");
  });

  it("use the same placeholders in both languages", () => {
    for (const key of keys) {
      expect(placeholders(MESSAGES["zh-CN"][key]), key).toEqual(placeholders(en[key]));
    }
  });

  it("are really translated (only names stay the same)", () => {
    const same = keys.filter((key) => MESSAGES["zh-CN"][key] === en[key]);
    expect(same).toEqual(["app.name"]);
  });

  it("fill placeholders", () => {
    expect(translate("en", "session.signedInAs", { name: "rep-1", tenant: "acme" })).toBe(
      "Signed in as rep-1 (acme)",
    );
    expect(translate("zh-CN", "task.due", { when: "明天" })).toBe("截止 明天");
  });
});

describe("the language", () => {
  it("follows the browser's first language we have", () => {
    expect(localeFor(["zh-CN", "en"])).toBe("zh-CN");
    expect(localeFor(["zh-TW"])).toBe("zh-CN");
    expect(localeFor(["fr-FR", "en-GB", "zh"])).toBe("en");
    expect(localeFor(["fr-FR", "zh-Hans"])).toBe("zh-CN");
    expect(localeFor([])).toBe("en");
  });

  it("chosen in the app wins over the browser's", () => {
    expect(initialLocale({ getItem: () => "zh-CN" }, ["en-US"])).toBe("zh-CN");
    expect(initialLocale({ getItem: () => "klingon" }, ["en-US"])).toBe("en");
    expect(
      initialLocale(
        {
          getItem: () => {
            throw new Error("storage disabled");
          },
        },
        ["zh-CN"],
      ),
    ).toBe("zh-CN");
  });

  it("formats dates, numbers and money by locale", () => {
    const english = formatters("en");
    const chinese = formatters("zh-CN");
    expect(english.number(1234567.5)).toBe("1,234,567.5");
    expect(english.money("12000.00", "EUR")).toBe("€12,000.00");
    expect(chinese.money("12000.00", "CNY")).toBe("¥12,000.00");
    expect(chinese.dateTime("2026-03-02T09:00:00Z")).toMatch(/2026年3月2日/);
    expect(english.dateTime("not a date")).toBe("not a date");
  });
});
