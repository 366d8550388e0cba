import { describe, expect, it } from "vitest";

import { csvDocument, csvField, csvLine } from "./csv";

describe("CSV", () => {
  it("quotes fields with commas, quotes and line breaks, doubling quotes", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("Engines, Ltd")).toBe('"Engines, Ltd"');
    expect(csvField('the "analytical" one')).toBe('"the ""analytical"" one"');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField("cr\r")).toBe('"cr\r"');
    expect(csvField(null)).toBe("");
    expect(csvField(undefined)).toBe("");
    expect(csvField(42)).toBe("42");
    expect(csvField(false)).toBe("false");
    expect(csvField("艾达·洛夫莱斯")).toBe("艾达·洛夫莱斯");
  });

  it("keeps a spreadsheet from running a field as a formula", () => {
    expect(csvField("=HYPERLINK(\"x\")")).toBe("\"'=HYPERLINK(\"\"x\"\")\"");
    expect(csvField("+1 555")).toBe("'+1 555");
    expect(csvField("@cmd")).toBe("'@cmd");
    expect(csvField("-2")).toBe("'-2");
  });

  it("ends every record with CRLF, the header first", () => {
    expect(csvLine(["a", "b,c", null])).toBe('a,"b,c",');
    expect(csvDocument(["id", "name"], [["1", "Ada"], ["2", 'Bob "B"']])).toBe(
      'id,name\r\n1,Ada\r\n2,"Bob ""B"""\r\n',
    );
  });
});
